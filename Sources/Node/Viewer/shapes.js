// Marks as data: the document's shapes (points in millionths) as the drawing code uses them
// (fractions), shapes for requests, and the stroke simplifier. Pure functions.

import { clampPoint, fromMillionths, round } from './camera.js';

/** A document mark shape as the drawing code uses it (fractions), or null if malformed. */
export function shapeFromDocument(shape) {
  if (!shape || typeof shape !== 'object') return null;
  switch (shape.type) {
    case 'pin': {
      const at = fromMillionths(shape.at);
      return at && { type: 'pin', at, label: typeof shape.label === 'string' ? shape.label : '' };
    }
    case 'text': {
      const at = fromMillionths(shape.at);
      return at && { type: 'text', at, text: typeof shape.text === 'string' ? shape.text : '' };
    }
    case 'arrow': {
      const from = fromMillionths(shape.from);
      const to = fromMillionths(shape.to);
      return from && to && { type: 'arrow', from, to };
    }
    case 'rectangle': {
      const corner1 = fromMillionths(shape.corner1);
      const corner2 = fromMillionths(shape.corner2);
      return corner1 && corner2 && { type: 'rectangle', corner1, corner2 };
    }
    case 'stroke': {
      const points = (Array.isArray(shape.points) ? shape.points : []).map(fromMillionths).filter(Boolean);
      return points.length >= 1 ? { type: 'stroke', points } : null;
    }
    default:
      return null;
  }
}

/** A shape for a request: fractions clamped to 0…1 and rounded to millionths. */
export function shapeForRequest(shape) {
  const p = (point) => clampPoint(point).map((v) => round(v, 6));
  switch (shape.type) {
    case 'pin': return shape.label ? { type: 'pin', at: p(shape.at), label: shape.label } : { type: 'pin', at: p(shape.at) };
    case 'text': return { type: 'text', at: p(shape.at), text: shape.text };
    case 'arrow': return { type: 'arrow', from: p(shape.from), to: p(shape.to) };
    case 'rectangle': return { type: 'rectangle', corner1: p(shape.corner1), corner2: p(shape.corner2) };
    case 'stroke': return { type: 'stroke', points: shape.points.map(p) };
    default: return shape;
  }
}

/**
 * Ramer–Douglas–Peucker on points in pixels, loosened until at most `max` points remain (the
 * node's `strokePoints`; Infinity when not known yet).
 * Iterative, so a long scribble cannot overflow the stack.
 */
export function simplify(points, max, epsilon = 0.75) {
  const unique = points.filter((p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1]);
  if (unique.length <= 2) return unique;
  const run = (tolerance) => {
    const keep = new Uint8Array(unique.length);
    keep[0] = 1;
    keep[unique.length - 1] = 1;
    const stack = [[0, unique.length - 1]];
    while (stack.length) {
      const [first, last] = stack.pop();
      const [ax, ay] = unique[first];
      const [bx, by] = unique[last];
      const dx = bx - ax;
      const dy = by - ay;
      const length = Math.hypot(dx, dy);
      let worst = -1;
      let worstDistance = tolerance;
      for (let i = first + 1; i < last; i++) {
        const [px, py] = unique[i];
        const distance = length === 0 ? Math.hypot(px - ax, py - ay) : Math.abs(dy * px - dx * py + bx * ay - by * ax) / length;
        if (distance > worstDistance) {
          worstDistance = distance;
          worst = i;
        }
      }
      if (worst >= 0) {
        keep[worst] = 1;
        stack.push([first, worst], [worst, last]);
      }
    }
    return unique.filter((_, i) => keep[i]);
  };
  let result = run(epsilon);
  if (result.length <= max) return result;
  // Find the smallest tolerance that fits: double it, then bisect.
  let low = epsilon;
  let lowResult = result;
  let high = epsilon * 2;
  let highResult = run(high);
  for (let round = 0; highResult.length > max && round < 60; round++) {
    low = high;
    lowResult = highResult;
    high *= 2;
    highResult = run(high);
  }
  for (let round = 0; round < 16; round++) {
    const middle = (low + high) / 2;
    const middleResult = run(middle);
    if (middleResult.length > max) {
      low = middle;
      lowResult = middleResult;
    } else {
      high = middle;
      highResult = middleResult;
    }
  }
  result = highResult;
  if (result.length > max || result.length < max / 2) {
    // A scribble where every point matters (a zigzag): keep evenly spaced points instead.
    const source = lowResult;
    const step = (source.length - 1) / (max - 1);
    result = Array.from({ length: max }, (_, i) => source[Math.round(i * step)]);
  }
  return result;
}
