// The marks layer of the stage: the item's marks from the document, marks posted and not yet
// back in it, the mark being drawn (the draft), and the selection of one's own mark to remove.

import * as api from './api.js';
import { clamp } from './camera.js';
import { ask, orToast, safeColour, svg, toast } from './dom.js';
import { limit, nameOf } from './model.js';
import { shapeForRequest, shapeFromDocument, simplify } from './shapes.js';

/** How long around its moment a mark made at one point of a video stays, in ms, at least. */
const MARK_MOMENT_MS = 4000;

/**
 * Whether a mark with time range `during` (`{startMillis, endMillis}`, or absent for always) shows
 * at video time `seconds`: over its range, widened to 4 s around its middle when shorter.
 */
export function shownAt(during, seconds) {
  if (!during || typeof during !== 'object') return true;
  const start = Number(during.startMillis);
  const end = Number(during.endMillis);
  if (!Number.isFinite(start) || !Number.isFinite(end)) return true;
  const pad = Math.max(0, (MARK_MOMENT_MS - (end - start)) / 2);
  const now = seconds * 1000;
  return now >= start - pad && now <= end + pad;
}

export class Marks {
  /** `schedule()` asks the stage for a redraw on the next frame. */
  /** `videoTime()` is the stage video's position in seconds, null when a photo or card is shown. */
  constructor(store, camera, { schedule, videoTime = () => null }) {
    this.store = store;
    this.camera = camera;
    this.schedule = schedule;
    this.videoTime = videoTime;
    const layer = document.getElementById('marks');
    this.docLayer = svg('g', { class: 'doc-marks' });
    this.draftLayer = svg('g', { class: 'draft-marks' });
    layer.append(this.docLayer, this.draftLayer);
    this.deleteButton = document.getElementById('mark-delete');
    this.deleteButton.addEventListener('click', (e) => {
      e.stopPropagation();
      this.removeSelected();
    });
    this.selected = null; // own mark id
    this.removing = new Set(); // own marks being removed
    this.draft = null; // the mark being drawn
    this.pending = []; // marks posted and not yet seen in the document
  }

  /** Forgets the draft and the selection (another item comes on the stage). */
  reset() {
    this.draft = null;
    this.selected = null;
  }

  select(id) {
    this.selected = id;
    this.schedule();
  }

  async removeSelected() {
    const id = this.selected;
    if (!id) return;
    this.selected = null;
    this.removing.add(id);
    this.schedule();
    const answer = await orToast(api.unmark(id));
    if (!answer) this.removing.delete(id);
    this.schedule();
  }

  // ---- the draft ------------------------------------------------------------------------

  /** Starts drawing with `tool` at item point `at` (stage position `pos`). */
  startDraft(tool, colour, at, pos) {
    this.draft = { tool, colour, start: at, end: at, points: [at], lastPx: pos };
    this.drawDraft();
  }

  cancelDraft() {
    this.draft = null;
    this.drawDraft();
  }

  async finishDraft(cancelled) {
    const draft = this.draft;
    this.draft = null;
    this.drawDraft();
    const item = this.store.get().item;
    if (cancelled || !draft || !item) return;
    const natural = this.camera.natural;
    const s = this.camera.scale();
    const pixels = (a, b) => Math.hypot((a[0] - b[0]) * natural.w * s, (a[1] - b[1]) * natural.h * s);
    let shape;
    switch (draft.tool) {
      case 'pin': {
        const label = await ask({ label: 'Pin label (optional)', placeholder: 'Leave empty for a plain pin', maxLength: limit(this.store.get(), 'titleBytes') });
        if (label === null) return;
        shape = label ? { type: 'pin', at: draft.start, label } : { type: 'pin', at: draft.start };
        break;
      }
      case 'text': {
        const text = await ask({ label: 'Text to place on the item', required: true, maxLength: limit(this.store.get(), 'textBytes') });
        if (!text) return;
        shape = { type: 'text', at: draft.start, text };
        break;
      }
      case 'arrow':
        if (pixels(draft.start, draft.end) < 6) {
          toast('Drag from the tail to the tip to draw an arrow.', 'info');
          return;
        }
        shape = { type: 'arrow', from: draft.start, to: draft.end };
        break;
      case 'rectangle': {
        const width = Math.abs(draft.start[0] - draft.end[0]) * natural.w * s;
        const height = Math.abs(draft.start[1] - draft.end[1]) * natural.h * s;
        if (width < 4 || height < 4) {
          toast('Drag from one corner to the other to draw a rectangle.', 'info');
          return;
        }
        shape = { type: 'rectangle', corner1: draft.start, corner2: draft.end };
        break;
      }
      case 'stroke': {
        const w = natural.w * s;
        const h = natural.h * s;
        const points = draft.points.concat([draft.end]).map(([x, y]) => [x * w, y * h]);
        const most = limit(this.store.get(), 'strokePoints', Infinity);
        const simplified = simplify(points, most).map(([x, y]) => [x / w, y / h]);
        if (simplified.length < 2) return;
        shape = { type: 'stroke', points: simplified };
        break;
      }
      default:
        return;
    }
    if (this.store.get().item !== item) return;
    await this.post(item, shape, draft.colour);
  }

  async post(item, shape, colour) {
    const pending = { item, shape, colour, markId: null, expires: Date.now() + 30000 };
    this.pending.push(pending);
    this.schedule();
    // A mark on a video is about the moment it was drawn at (PROTOCOL.md: a mark's time range).
    const time = this.videoTime();
    const at = Number.isFinite(time) ? Math.max(0, Math.round(time * 1000)) : null;
    const during = at === null ? undefined : { startMillis: at, endMillis: at };
    const answer = await orToast(api.mark(item, shapeForRequest(shape), colour, during));
    if (!answer || typeof answer.mark !== 'string') this.pending = this.pending.filter((p) => p !== pending);
    else {
      pending.markId = answer.mark;
      pending.expires = Date.now() + 5000;
    }
    this.schedule();
  }

  /** True when a posted mark waited too long for the document (the next draw drops it). */
  hasExpired(now) {
    return this.pending.some((p) => p.expires < now);
  }

  // ---- drawing --------------------------------------------------------------------------

  /** One mark as SVG, in stage coordinates. */
  node(shape, colour, { id, author, kind = 'doc' } = {}) {
    const { me, doc } = this.store.get();
    const own = kind === 'doc' && author && author === (me && me.id);
    const classes = ['mark', `mark-${shape.type}`, kind];
    if (own) classes.push('own');
    if (own && id === this.selected) classes.push('selected');
    const g = svg('g', { class: classes.join(' ') });
    if (id) g.setAttribute('data-mark-id', id);
    if (author) g.setAttribute('data-author', author);
    if (author) {
      const who = own ? 'your mark — click to select, then Delete or ×' : `mark by ${nameOf(doc, author)}`;
      g.append(svg('title', { text: who }));
    }
    const P = (point) => this.camera.toStage(point[0], point[1]);
    const trio = (tag, attrs) => [
      svg(tag, { ...attrs, class: 'hit' }),
      svg(tag, { ...attrs, class: 'halo' }),
      svg(tag, { ...attrs, class: 'ink', stroke: colour }),
    ];
    switch (shape.type) {
      case 'rectangle': {
        const [x1, y1] = P(shape.corner1);
        const [x2, y2] = P(shape.corner2);
        g.append(...trio('rect', { x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1) }));
        break;
      }
      case 'arrow': {
        const [x1, y1] = P(shape.from);
        const [x2, y2] = P(shape.to);
        const angle = Math.atan2(y2 - y1, x2 - x1);
        const head = 14;
        const a1 = angle + Math.PI - 0.45;
        const a2 = angle + Math.PI + 0.45;
        const headPoints = `${x2},${y2} ${x2 + head * Math.cos(a1)},${y2 + head * Math.sin(a1)} ${x2 + head * Math.cos(a2)},${y2 + head * Math.sin(a2)}`;
        g.append(...trio('line', { x1, y1, x2, y2 }));
        g.append(svg('polygon', { class: 'head', points: headPoints, fill: colour, stroke: colour }));
        break;
      }
      case 'stroke': {
        const points = shape.points.map((p) => P(p).join(',')).join(' ');
        g.append(...trio('polyline', { points }));
        break;
      }
      case 'pin': {
        const [x, y] = P(shape.at);
        const d = `M${x} ${y} L${x - 7} ${y - 13} A8 8 0 1 1 ${x + 7} ${y - 13} Z`;
        g.append(svg('circle', { class: 'hit', cx: x, cy: y - 16, r: 14 }));
        g.append(svg('path', { class: 'pin-body', d, fill: colour }));
        g.append(svg('circle', { class: 'pin-dot', cx: x, cy: y - 17, r: 3 }));
        if (shape.label) g.append(svg('text', { class: 'label', x: x + 11, y: y - 14, fill: colour, text: shape.label }));
        break;
      }
      case 'text': {
        const [x, y] = P(shape.at);
        const text = svg('text', { class: 'label text-mark', x, y, fill: colour });
        String(shape.text).split('\n').slice(0, 40).forEach((line, index) => {
          text.append(svg('tspan', { x, dy: index === 0 ? '0' : '1.25em', text: line || ' ' }));
        });
        g.append(text);
        break;
      }
      default:
        return null;
    }
    return g;
  }

  /** The item's marks and the pending ones; drops pending marks the document now has. */
  draw() {
    const { doc, item: id } = this.store.get();
    const item = id && doc && doc.items && doc.items[id];
    const marks = item && Array.isArray(item.marks) ? item.marks : [];
    const ids = new Set(marks.map((m) => m && m.id));
    const now = Date.now();
    this.pending = this.pending.filter((p) => !(p.markId && ids.has(p.markId)) && p.expires > now);
    if (this.selected && (!ids.has(this.selected) || this.removing.has(this.selected))) this.selected = null;
    const nodes = [];
    const time = this.videoTime();
    if (id && this.camera.ready) {
      for (const mark of marks) {
        if (!mark || typeof mark.id !== 'string' || this.removing.has(mark.id)) continue;
        if (Number.isFinite(time) && !shownAt(mark.during, time)) continue;
        const shape = shapeFromDocument(mark.shape);
        if (!shape) continue;
        const node = this.node(shape, safeColour(mark.colour), { id: mark.id, author: typeof mark.author === 'string' ? mark.author : '' });
        if (node) nodes.push(node);
      }
      for (const pending of this.pending) {
        if (pending.item !== id) continue;
        const node = this.node(pending.shape, pending.colour, { kind: 'pending' });
        if (node) nodes.push(node);
      }
    }
    this.docLayer.replaceChildren(...nodes);
    this.placeDeleteButton();
  }

  drawDraft() {
    const draft = this.draft;
    if (!draft || !this.store.get().item) {
      this.draftLayer.replaceChildren();
      return;
    }
    let shape = null;
    switch (draft.tool) {
      case 'pin': shape = { type: 'pin', at: draft.start }; break;
      case 'text': shape = { type: 'pin', at: draft.start }; break;
      case 'arrow': shape = { type: 'arrow', from: draft.start, to: draft.end }; break;
      case 'rectangle': shape = { type: 'rectangle', corner1: draft.start, corner2: draft.end }; break;
      case 'stroke': shape = { type: 'stroke', points: draft.points.length > 1 ? draft.points : [draft.start, draft.end] }; break;
      default: break;
    }
    const node = shape && this.node(shape, draft.colour, { kind: 'draft' });
    this.draftLayer.replaceChildren(...(node ? [node] : []));
  }

  placeDeleteButton() {
    const button = this.deleteButton;
    const node = this.selected && this.docLayer.querySelector(`[data-mark-id="${CSS.escape(this.selected)}"]`);
    if (!node) {
      button.hidden = true;
      return;
    }
    const box = node.getBBox();
    const size = this.camera.size;
    button.hidden = false;
    button.style.left = `${clamp(box.x + box.width + 4, 0, size.w - 28)}px`;
    button.style.top = `${clamp(box.y - 28, 0, size.h - 28)}px`;
  }
}
