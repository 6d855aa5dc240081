// The stage: the focused item, this person's own zoom and pan, marks, the other people's
// viewports (outlines) and pointers, and the drawing tools.
//
// Coordinates: "item" coordinates are fractions of the item's width and height (0…1); "stage"
// coordinates are CSS pixels from the stage's top left. Zoom 1 fits the whole item in the stage;
// the view's centre (cx, cy) is the item point shown at the middle of the stage.

import * as api from './api.js';
import { ask, el, formatPrice, orToast, participantColour, safeColour, safeHttpURL, svg, toast } from './dom.js';
import { mediaOf, mediaView } from './media.js';
import { itemTitle, permits, productActions } from './panel.js';

export const ZOOM_MIN = 0.25;
export const ZOOM_MAX = 40;
const ZOOM_STEP = 1.5;
const VIEW_INTERVAL = 150; // ms between view updates sent to the node
const POINTER_INTERVAL = 50; // ms between own pointer messages (20 a second)
const POINTER_TTL = 3000; // ms after which another person's silent pointer is hidden
const MAX_STROKE_POINTS = 512;
const CARD = { w: 800, h: 600 }; // the item space of notes and product cards without a picture
const DEFAULT_VIEW = { zoom: 1, cx: 0.5, cy: 0.5 };

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;
const clampPoint = ([x, y]) => [clamp(x, 0, 1), clamp(y, 0, 1)];

/** A document point `{x, y}` in millionths as fractions, or null. */
function fromMillionths(point) {
  if (!point || typeof point !== 'object') return null;
  const x = Number(point.x) / 1e6;
  const y = Number(point.y) / 1e6;
  return Number.isFinite(x) && Number.isFinite(y) ? [x, y] : null;
}

/** A document mark shape as the drawing code uses it (fractions), or null if malformed. */
function shapeFromDocument(shape) {
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
function shapeForRequest(shape) {
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
 * Ramer–Douglas–Peucker on points in pixels, loosened until at most `max` points remain.
 * Iterative, so a long scribble cannot overflow the stack.
 */
export function simplify(points, max = MAX_STROKE_POINTS, epsilon = 0.75) {
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

export class Stage {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById('stage');
    this.content = document.getElementById('stage-content');
    this.svg = document.getElementById('marks');
    this.docLayer = svg('g', { class: 'doc-marks' });
    this.draftLayer = svg('g', { class: 'draft-marks' });
    this.svg.append(this.docLayer, this.draftLayer);
    this.presence = document.getElementById('presence');
    this.deleteButton = document.getElementById('mark-delete');
    this.emptyNote = document.getElementById('stage-empty');
    this.info = document.getElementById('item-info');
    this.zoomLabel = document.getElementById('zoom-level');
    this.followState = document.getElementById('follow-state');
    this.colourInput = document.getElementById('colour');

    this.item = null; // the id shown on the stage
    this.contentSignature = null;
    this.infoSignature = null;
    this.contentKind = null; // 'media' | 'card'
    this.media = null; // mediaView of the item
    this.ready = false; // the item's natural size is known
    this.natural = { ...CARD };
    this.view = { ...DEFAULT_VIEW };
    this.views = new Map(); // item -> this person's view, kept while the page lives
    this.size = { w: 1, h: 1 };
    this.tool = 'pan';
    this.selected = null; // own mark id
    this.removing = new Set(); // own marks being removed
    this.pointers = new Map(); // active pointerId -> stage position
    this.gesture = null;
    this.draft = null; // the mark being drawn
    this.pending = []; // marks posted and not yet seen in the document
    this.others = new Map(); // participant -> {item, x, y, name, at}
    this.outlineNodes = new Map();
    this.pointerNodes = new Map();
    this.following = null;

    // Own focus and view as the document knows them.
    this.docFocusSeen = undefined;
    this.localFocusAt = 0;
    this.docViewSeen = new Map(); // item -> `updated` of own viewport last seen
    this.lastViewActivity = 0;
    this.viewTimer = null;
    this.viewSentAt = 0;
    this.viewSentKey = null;
    this.viewInflight = false;
    this.viewDirty = false;

    // Own pointer.
    this.pointerOut = null;
    this.pointerTimer = null;
    this.pointerSentAt = 0;
    this.pointerLastSent = null;

    this.frame = 0;
    this.dirtyAll = true;
    this.bind();
  }

  // ---- geometry -------------------------------------------------------------------------

  fit() {
    const s = Math.min(this.size.w / this.natural.w, this.size.h / this.natural.h);
    return Number.isFinite(s) && s > 0 ? s : 1;
  }

  scale(view = this.view) {
    return this.fit() * view.zoom;
  }

  toStage(fx, fy, view = this.view) {
    const s = this.scale(view);
    return [this.size.w / 2 + (fx - view.cx) * this.natural.w * s, this.size.h / 2 + (fy - view.cy) * this.natural.h * s];
  }

  toItem(px, py, view = this.view) {
    const s = this.scale(view);
    return [view.cx + (px - this.size.w / 2) / (this.natural.w * s), view.cy + (py - this.size.h / 2) / (this.natural.h * s)];
  }

  local(event) {
    const rect = this.root.getBoundingClientRect();
    return { x: event.clientX - rect.left - this.root.clientLeft, y: event.clientY - rect.top - this.root.clientTop };
  }

  clampedItem(pos) {
    return clampPoint(this.toItem(pos.x, pos.y));
  }

  // ---- events ---------------------------------------------------------------------------

  bind() {
    const root = this.root;
    root.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    root.addEventListener('pointermove', (e) => this.onPointerMove(e));
    root.addEventListener('pointerup', (e) => this.onPointerUp(e, false));
    root.addEventListener('pointercancel', (e) => this.onPointerUp(e, true));
    root.addEventListener('pointerleave', () => {
      if (this.pointers.size === 0) this.sendPointer(null);
    });
    root.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    root.addEventListener('dragstart', (e) => e.preventDefault());
    root.addEventListener('contextmenu', (e) => {
      if (this.tool !== 'pan') e.preventDefault();
    });
    new ResizeObserver(() => this.measure()).observe(root);
    this.measure();

    for (const button of document.querySelectorAll('#toolbar [data-tool]')) {
      button.addEventListener('click', () => this.setTool(button.dataset.tool));
    }
    document.getElementById('zoom-in').addEventListener('click', () => this.zoomBy(ZOOM_STEP));
    document.getElementById('zoom-out').addEventListener('click', () => this.zoomBy(1 / ZOOM_STEP));
    document.getElementById('zoom-reset').addEventListener('click', () => this.resetView());
    this.deleteButton.addEventListener('click', (e) => {
      e.stopPropagation();
      this.removeSelected();
    });
    document.addEventListener('keydown', (e) => this.onKey(e));
    setInterval(() => this.prune(), 500);
  }

  measure() {
    const w = this.root.clientWidth;
    const h = this.root.clientHeight;
    if (w > 0 && h > 0 && (w !== this.size.w || h !== this.size.h)) {
      this.size = { w, h };
      this.schedule();
    }
  }

  onKey(event) {
    const target = event.target;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.closest('input, textarea, select, [contenteditable], dialog') || target.isContentEditable)) return;
    if (document.querySelector('dialog[open]')) return;
    switch (event.key) {
      case '+':
      case '=':
        this.zoomBy(ZOOM_STEP);
        break;
      case '-':
      case '_':
        this.zoomBy(1 / ZOOM_STEP);
        break;
      case '0':
        this.resetView();
        break;
      case 'ArrowLeft':
      case 'ArrowRight':
      case 'ArrowUp':
      case 'ArrowDown': {
        if (!this.item || !this.ready || target !== this.root) return;
        const step = 0.1 / this.view.zoom;
        const dx = event.key === 'ArrowLeft' ? -step : event.key === 'ArrowRight' ? step : 0;
        const dy = event.key === 'ArrowUp' ? -step : event.key === 'ArrowDown' ? step : 0;
        this.unfollow(true);
        this.view.cx = clamp(this.view.cx + dx, 0, 1);
        this.view.cy = clamp(this.view.cy + dy, 0, 1);
        this.viewChanged(false);
        clearTimeout(this.keyEnd);
        this.keyEnd = setTimeout(() => this.viewChanged(true), 200);
        break;
      }
      case 'Delete':
      case 'Backspace':
        if (!this.selected) return;
        this.removeSelected();
        break;
      case 'Escape':
        if (this.draft) {
          this.draft = null;
          this.drawDraft();
        } else if (this.selected) this.select(null);
        else this.setTool('pan');
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  onPointerDown(event) {
    if (!this.item) return;
    if (event.pointerType === 'mouse' && event.button !== 0) return;
    if (event.target.closest && event.target.closest('#mark-delete')) return;
    const pos = this.local(event);
    if (this.tool === 'pan' && this.pointers.size === 0) {
      const markNode = event.target.closest && event.target.closest('.mark.own');
      if (markNode && markNode.dataset.markId) {
        event.preventDefault();
        this.select(markNode.dataset.markId);
        return;
      }
      if (this.onVideoControls(event)) return;
    }
    if (!this.ready) return;
    event.preventDefault();
    this.root.focus({ preventScroll: true });
    try {
      this.root.setPointerCapture(event.pointerId);
    } catch {
      /* a synthetic or vanished pointer */
    }
    this.pointers.set(event.pointerId, pos);
    if (this.pointers.size === 2) {
      if (this.draft) {
        this.draft = null;
        this.drawDraft();
      }
      this.startPinch();
    } else if (this.pointers.size === 1) {
      if (this.tool === 'pan') {
        if (this.selected) this.select(null);
        this.gesture = { type: 'pan', id: event.pointerId, x0: pos.x, y0: pos.y, view: { ...this.view }, moved: false };
      } else {
        const at = this.clampedItem(pos);
        this.draft = { tool: this.tool, colour: this.colour(), start: at, end: at, points: [at], lastPx: pos };
        this.gesture = { type: 'draw', id: event.pointerId };
        this.drawDraft();
      }
    }
  }

  onPointerMove(event) {
    const pos = this.local(event);
    this.trackOwnPointer(pos);
    if (!this.pointers.has(event.pointerId)) return;
    this.pointers.set(event.pointerId, pos);
    const gesture = this.gesture;
    if (!gesture) return;
    if (gesture.type === 'pinch') {
      this.updatePinch();
      return;
    }
    if (gesture.id !== event.pointerId) return;
    if (gesture.type === 'pan') {
      const dx = pos.x - gesture.x0;
      const dy = pos.y - gesture.y0;
      if (!gesture.moved) {
        if (Math.hypot(dx, dy) < 3) return;
        gesture.moved = true;
        this.unfollow(true);
      }
      const s = this.fit() * gesture.view.zoom;
      this.view.cx = clamp(gesture.view.cx - dx / (this.natural.w * s), 0, 1);
      this.view.cy = clamp(gesture.view.cy - dy / (this.natural.h * s), 0, 1);
      this.viewChanged(false);
    } else if (gesture.type === 'draw' && this.draft) {
      const draft = this.draft;
      if (draft.tool === 'stroke') {
        const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
        for (const e of events.length ? events : [event]) {
          const p = this.local(e);
          if (Math.hypot(p.x - draft.lastPx.x, p.y - draft.lastPx.y) >= 1) {
            draft.points.push(this.clampedItem(p));
            draft.lastPx = p;
          }
        }
      }
      draft.end = this.clampedItem(pos);
      this.drawDraft();
    }
  }

  onPointerUp(event, cancelled) {
    if (!this.pointers.has(event.pointerId)) return;
    const pos = this.local(event);
    this.pointers.delete(event.pointerId);
    const gesture = this.gesture;
    if (gesture && gesture.type === 'pinch') {
      if (this.pointers.size === 1) {
        const [id, rest] = [...this.pointers][0];
        this.gesture = { type: 'pan', id, x0: rest.x, y0: rest.y, view: { ...this.view }, moved: true };
      } else if (this.pointers.size === 0) this.gesture = null;
      this.viewChanged(true);
      return;
    }
    if (gesture && gesture.id === event.pointerId) {
      this.gesture = null;
      if (gesture.type === 'pan' && gesture.moved) this.viewChanged(true);
      if (gesture.type === 'draw' && this.draft) {
        if (!cancelled) this.draft.end = this.clampedItem(pos);
        this.finishDraft(cancelled);
      }
    }
    if (this.pointers.size === 0) this.gesture = null;
  }

  startPinch() {
    const [a, b] = [...this.pointers.values()];
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    this.unfollow(true);
    this.gesture = {
      type: 'pinch',
      d0: Math.max(10, Math.hypot(a.x - b.x, a.y - b.y)),
      z0: this.view.zoom,
      anchor: this.toItem(mid.x, mid.y),
    };
  }

  updatePinch() {
    const gesture = this.gesture;
    const [a, b] = [...this.pointers.values()];
    if (!a || !b) return;
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    const distance = Math.max(10, Math.hypot(a.x - b.x, a.y - b.y));
    this.placeAt(gesture.anchor, mid, gesture.z0 * (distance / gesture.d0));
    this.viewChanged(false);
  }

  /** Sets the zoom and puts item point `anchor` under stage position `pos`. */
  placeAt(anchor, pos, zoom) {
    this.view.zoom = clamp(zoom, ZOOM_MIN, ZOOM_MAX);
    const s = this.scale();
    this.view.cx = clamp(anchor[0] - (pos.x - this.size.w / 2) / (this.natural.w * s), 0, 1);
    this.view.cy = clamp(anchor[1] - (pos.y - this.size.h / 2) / (this.natural.h * s), 0, 1);
  }

  onWheel(event) {
    if (!this.item || !this.ready) return;
    event.preventDefault();
    let dy = event.deltaY;
    if (event.deltaMode === 1) dy *= 16;
    else if (event.deltaMode === 2) dy *= this.size.h;
    dy = clamp(dy, -300, 300);
    const pos = this.local(event);
    this.unfollow(true);
    this.placeAt(this.toItem(pos.x, pos.y), pos, this.view.zoom * Math.exp(-dy * 0.002));
    this.viewChanged(false);
    this.trackOwnPointer(pos);
    clearTimeout(this.wheelEnd);
    this.wheelEnd = setTimeout(() => this.viewChanged(true), 200);
  }

  onVideoControls(event) {
    const target = event.target;
    if (!(target instanceof HTMLVideoElement) || !target.controls) return false;
    const rect = target.getBoundingClientRect();
    return event.clientY > rect.bottom - 56;
  }

  zoomBy(factor) {
    if (!this.item) return;
    this.unfollow(true);
    const middle = { x: this.size.w / 2, y: this.size.h / 2 };
    this.placeAt(this.toItem(middle.x, middle.y), middle, this.view.zoom * factor);
    this.viewChanged(true);
  }

  resetView() {
    if (!this.item) return;
    this.unfollow(true);
    this.view = { ...DEFAULT_VIEW };
    this.viewSentKey = null; // always say it, even if unchanged
    this.viewChanged(true);
  }

  setTool(tool) {
    if (!['pan', 'pin', 'arrow', 'rectangle', 'stroke', 'text'].includes(tool)) return;
    this.tool = tool;
    this.root.dataset.activeTool = tool;
    this.root.classList.toggle('drawing', tool !== 'pan');
    for (const button of document.querySelectorAll('#toolbar [data-tool]')) {
      button.setAttribute('aria-pressed', button.dataset.tool === tool ? 'true' : 'false');
    }
    this.draft = null;
    this.select(null);
    this.drawDraft();
  }

  colour() {
    const value = this.colourInput.value;
    return /^#[0-9a-fA-F]{6}$/.test(value) ? value.toLowerCase() : '#e53935';
  }

  // ---- own view -------------------------------------------------------------------------

  /** Records a change of the own view; sends it at most every VIEW_INTERVAL, and at once when final. */
  viewChanged(final) {
    if (!this.item) return;
    this.lastViewActivity = Date.now();
    this.views.set(this.item, { ...this.view });
    this.viewDirty = true;
    this.schedule();
    if (final) {
      clearTimeout(this.viewTimer);
      this.viewTimer = null;
      this.sendView();
      return;
    }
    if (this.viewTimer) return;
    const wait = VIEW_INTERVAL - (Date.now() - this.viewSentAt);
    if (wait <= 0) this.sendView();
    else {
      this.viewTimer = setTimeout(() => {
        this.viewTimer = null;
        this.sendView();
      }, wait);
    }
  }

  async sendView() {
    if (!this.viewDirty || !this.item || this.viewInflight) return;
    const body = {
      item: this.item,
      zoom: round(clamp(this.view.zoom, 0.01, 100), 3),
      centre: [round(clamp(this.view.cx, 0, 1), 6), round(clamp(this.view.cy, 0, 1), 6)],
    };
    this.viewDirty = false;
    const key = JSON.stringify(body);
    if (key === this.viewSentKey) return;
    this.viewInflight = true;
    this.viewSentAt = Date.now();
    try {
      await api.view(body.item, body.zoom, body.centre);
      this.viewSentKey = key;
      this.localFocusAt = Date.now();
    } catch (error) {
      toast(error.message || String(error));
    } finally {
      this.viewInflight = false;
      if (this.viewDirty) this.viewChanged(false);
    }
  }

  /** This person's viewport on `item` in the document, as a view, or null. */
  docView(item, participant = this.app.me && this.app.me.id) {
    const viewports = (this.app.doc && this.app.doc.viewports) || [];
    const found = viewports.find((v) => v && v.item === item && v.participant === participant);
    return found ? viewFromDocument(found) : null;
  }

  // ---- own pointer ----------------------------------------------------------------------

  trackOwnPointer(pos) {
    if (!this.item || !this.ready) return;
    const [x, y] = this.toItem(pos.x, pos.y);
    if (x >= 0 && x <= 1 && y >= 0 && y <= 1) this.sendPointer({ item: this.item, x, y });
    else this.sendPointer(null);
  }

  sendPointer(position) {
    const message = position
      ? { type: 'pointer', item: position.item, x: round(position.x, 5), y: round(position.y, 5) }
      : { type: 'pointer', item: null };
    if (!position && !this.pointerOut && (!this.pointerLastSent || this.pointerLastSent.item === null)) return;
    this.pointerOut = message;
    if (this.pointerTimer) return;
    const wait = POINTER_INTERVAL - (Date.now() - this.pointerSentAt);
    if (wait <= 0) this.flushPointer();
    else {
      this.pointerTimer = setTimeout(() => {
        this.pointerTimer = null;
        this.flushPointer();
      }, wait);
    }
  }

  flushPointer() {
    const message = this.pointerOut;
    this.pointerOut = null;
    if (!message) return;
    if (message.item === null && (!this.pointerLastSent || this.pointerLastSent.item === null)) return;
    if (this.app.send(message)) {
      this.pointerLastSent = message;
      this.pointerSentAt = Date.now();
    }
  }

  /** Another participant's pointer from the live feed. */
  onPointer(message) {
    const participant = message.participant;
    if (typeof participant !== 'string' || (this.app.me && participant === this.app.me.id)) return;
    const x = Number(message.x);
    const y = Number(message.y);
    if (typeof message.item !== 'string' || !Number.isFinite(x) || !Number.isFinite(y)) this.others.delete(participant);
    else this.others.set(participant, { item: message.item, x, y, name: typeof message.name === 'string' ? message.name : '', at: Date.now() });
    this.schedule(false);
  }

  prune() {
    const now = Date.now();
    let changed = false;
    for (const [participant, pointer] of this.others) {
      if (now - pointer.at > POINTER_TTL) {
        this.others.delete(participant);
        changed = true;
      }
    }
    if (this.pending.some((p) => p.expires < now)) this.schedule();
    else if (changed) this.schedule(false);
  }

  // ---- following ------------------------------------------------------------------------

  follow(participant) {
    if (!participant || participant === (this.app.me && this.app.me.id)) return;
    this.following = participant;
    this.applyFollow();
    this.renderFollowState();
    this.app.renderSide();
  }

  /** Stops following; `byUser` says it was an own move, which is then explained in a toast. */
  unfollow(byUser) {
    if (!this.following) return;
    const name = this.app.nameOf(this.following);
    this.following = null;
    if (byUser) toast(`You stopped following ${name}.`, 'info');
    this.renderFollowState();
    this.app.renderSide();
  }

  applyFollow() {
    const participant = this.following;
    const doc = this.app.doc;
    if (!participant || !doc) return;
    if (!doc.participants || !doc.participants[participant]) {
      this.unfollow(false);
      return;
    }
    const focus = doc.focus && doc.focus[participant];
    const item = focus && typeof focus.item === 'string' ? focus.item : null;
    if (!item || !doc.items || !doc.items[item]) return;
    if (item !== this.item) this.open(item, { post: true });
    const view = this.docView(item, participant) || { ...DEFAULT_VIEW };
    view.zoom = clamp(view.zoom, ZOOM_MIN, ZOOM_MAX);
    if (view.zoom !== this.view.zoom || view.cx !== this.view.cx || view.cy !== this.view.cy) {
      this.view = view;
      this.viewChanged(false);
    }
  }

  renderFollowState() {
    const box = this.followState;
    if (!this.following) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    box.replaceChildren(
      el('span', { text: `Following ${this.app.nameOf(this.following)}` }),
      el('button', { type: 'button', class: 'stop-follow', onclick: () => this.unfollow(false) }, 'Stop'),
    );
  }

  // ---- the item on the stage ------------------------------------------------------------

  /** Opens `id` on the stage; `post` tells the node (focus). */
  open(id, { post = true } = {}) {
    const doc = this.app.doc;
    const item = doc && doc.items && doc.items[id];
    if (!item) return;
    if (id === this.item) {
      if (post) this.postFocus(id);
      return;
    }
    this.sendPointer(null);
    this.teardown();
    this.item = id;
    this.view = { ...(this.views.get(id) || this.docView(id) || DEFAULT_VIEW) };
    this.view.zoom = clamp(this.view.zoom, ZOOM_MIN, ZOOM_MAX);
    const mine = this.app.me && this.app.me.id;
    const own = (doc.viewports || []).find((v) => v && v.item === id && v.participant === mine);
    this.docViewSeen.set(id, own ? JSON.stringify(own.updated) : null);
    this.root.dataset.item = id;
    this.emptyNote.hidden = true;
    this.buildContent(item);
    if (post) this.postFocus(id);
    this.renderInfo();
    this.app.panel.render();
    this.schedule();
  }

  close() {
    this.sendPointer(null);
    this.teardown();
    this.item = null;
    this.root.dataset.item = '';
    this.root.dataset.ready = '0';
    this.content.replaceChildren();
    this.emptyNote.hidden = false;
    this.renderInfo();
    this.schedule();
  }

  teardown() {
    if (this.media) this.media.destroy();
    this.media = null;
    this.contentSignature = null;
    this.infoSignature = null;
    this.ready = false;
    this.draft = null;
    this.selected = null;
    this.gesture = null;
    this.pointers.clear();
    clearTimeout(this.viewTimer);
    this.viewTimer = null;
    if (this.viewDirty) {
      this.viewDirty = false;
    }
  }

  postFocus(id) {
    this.localFocusAt = Date.now();
    orToast(api.focus(id));
  }

  buildContent(item) {
    const id = this.item;
    const media = mediaOf(item);
    this.contentSignature = JSON.stringify([item.kind, media ? media.id : item.fields]);
    this.natural = { ...CARD };
    this.root.dataset.ready = '0';
    if (this.media) this.media.destroy();
    this.media = null;
    if (media) {
      this.contentKind = 'media';
      this.ready = false;
      this.media = mediaView(item, {
        mode: 'stage',
        onSize: (w, h) => {
          if (this.item !== id) return;
          this.natural = { w, h };
          this.ready = true;
          this.root.dataset.ready = '1';
          this.schedule();
        },
      });
      this.content.replaceChildren(this.media.node);
    } else {
      this.contentKind = 'card';
      this.ready = true;
      this.root.dataset.ready = '1';
      const price = item.kind === 'productCard' ? formatPrice(item.fields && item.fields.price) : '';
      const text = item.fields && typeof item.fields.text === 'string' ? item.fields.text : '';
      this.content.replaceChildren(el('div', { class: `stage-card kind-${item.kind}` },
        el('h2', { text: itemTitle(item) }), price ? el('p', { class: 'price', text: price }) : null, el('p', { class: 'card-text', text })));
    }
  }

  /** The bar under the stage: title, price, link, text, actions. */
  renderInfo() {
    const doc = this.app.doc;
    const item = this.item && doc && doc.items && doc.items[this.item];
    if (!item) {
      this.info.hidden = true;
      this.info.replaceChildren();
      this.infoSignature = null;
      return;
    }
    const me = this.app.me && this.app.me.id;
    const role = this.app.me && this.app.me.role;
    const signature = JSON.stringify([this.item, item.kind, item.fields, item.author, me, role, this.app.nameOf(item.author)]);
    if (signature === this.infoSignature) return;
    this.infoSignature = signature;
    const id = this.item;
    const parts = [el('strong', { class: 'info-title', text: itemTitle(item) })];
    const price = item.kind === 'productCard' ? formatPrice(item.fields && item.fields.price) : '';
    if (price) parts.push(el('span', { class: 'price', text: price }));
    const href = safeHttpURL(item.fields && item.fields.url);
    if (href) parts.push(el('a', { class: 'link', href, target: '_blank', rel: 'noopener noreferrer nofollow', title: href }, 'product page ↗'));
    parts.push(el('span', { class: 'muted', text: `shared by ${item.author === me ? 'you' : this.app.nameOf(item.author)}` }));
    const text = item.fields && typeof item.fields.text === 'string' ? item.fields.text : '';
    const actions = productActions(this.app, id, item);
    if (permits(this.app.me, 'remove', item.author)) {
      actions.push(el('button', {
        type: 'button', class: 'act-remove', title: 'Remove this item from the panel for everyone',
        onclick: async () => {
          if (!window.confirm(`Remove “${itemTitle(item)}” from the panel for everyone?`)) return;
          await orToast(api.remove(id));
        },
      }, 'Remove'));
    }
    const rows = [el('div', { class: 'info-line' }, parts)];
    if (text && item.kind !== 'note') rows.push(el('p', { class: 'info-text', text }));
    if (actions.length) rows.push(el('div', { class: 'actions' }, actions));
    this.info.replaceChildren(...rows);
    this.info.hidden = false;
  }

  /** Called after every new document. */
  onDocument() {
    const doc = this.app.doc;
    const me = this.app.me && this.app.me.id;
    if (!doc || !me) return;
    const items = doc.items || {};
    const focus = doc.focus && doc.focus[me];
    const docFocus = focus && typeof focus.item === 'string' ? focus.item : null;

    if (this.docFocusSeen === undefined) {
      // First document: reopen what this person had open, else the first item.
      this.docFocusSeen = docFocus;
      if (docFocus && items[docFocus]) this.open(docFocus, { post: false });
      else {
        const first = (doc.panel || []).find((id) => items[id]);
        if (first) this.open(first, { post: true });
      }
    } else if (docFocus !== this.docFocusSeen) {
      // Own focus changed elsewhere (a control command, another tab): follow it, unless this page
      // changed it a moment ago and the document has not caught up yet.
      this.docFocusSeen = docFocus;
      if (docFocus && docFocus !== this.item && items[docFocus] && !this.following && Date.now() - this.localFocusAt > 2000) {
        this.open(docFocus, { post: false });
      }
    }

    if (this.item && !items[this.item]) {
      toast('The item on the stage was removed from the panel.', 'info');
      this.close();
      const first = (doc.panel || []).find((id) => items[id]);
      if (first) this.open(first, { post: true });
      else orToast(api.focus(null));
    } else if (!this.item) {
      const first = (doc.panel || []).find((id) => items[id]);
      if (first) this.open(first, { post: true });
    }

    if (this.item) {
      const item = items[this.item];
      const media = mediaOf(item);
      const signature = JSON.stringify([item.kind, media ? media.id : item.fields]);
      if (signature !== this.contentSignature) this.buildContent(item);
      this.adoptExternalView();
    }
    if (this.following) this.applyFollow();
    this.renderInfo();
    this.renderFollowState();
    this.schedule();
  }

  /** Takes the own viewport from the document when something else (a control command) changed it. */
  adoptExternalView() {
    const me = this.app.me.id;
    const own = (this.app.doc.viewports || []).find((v) => v && v.item === this.item && v.participant === me);
    if (!own) return;
    const key = JSON.stringify(own.updated);
    if (this.docViewSeen.get(this.item) === key) return;
    this.docViewSeen.set(this.item, key);
    if (this.gesture || this.viewInflight || this.viewTimer || this.following) return;
    if (Date.now() - this.lastViewActivity < 1500) return;
    const view = viewFromDocument(own);
    if (!view) return;
    const same = Math.abs(view.zoom - this.view.zoom) < 0.002 && Math.abs(view.cx - this.view.cx) < 2e-6 && Math.abs(view.cy - this.view.cy) < 2e-6;
    if (same) return;
    view.zoom = clamp(view.zoom, ZOOM_MIN, ZOOM_MAX);
    this.view = view;
    this.views.set(this.item, { ...view });
    this.schedule();
  }

  // ---- marks ----------------------------------------------------------------------------

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

  async finishDraft(cancelled) {
    const draft = this.draft;
    this.draft = null;
    this.drawDraft();
    if (cancelled || !draft || !this.item) return;
    const item = this.item;
    const s = this.scale();
    const pixels = (a, b) => Math.hypot((a[0] - b[0]) * this.natural.w * s, (a[1] - b[1]) * this.natural.h * s);
    let shape;
    switch (draft.tool) {
      case 'pin': {
        const label = await ask({ label: 'Pin label (optional)', placeholder: 'Leave empty for a plain pin', maxLength: 200 });
        if (label === null) return;
        shape = label ? { type: 'pin', at: draft.start, label } : { type: 'pin', at: draft.start };
        break;
      }
      case 'text': {
        const text = await ask({ label: 'Text to place on the item', required: true });
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
        const width = Math.abs(draft.start[0] - draft.end[0]) * this.natural.w * s;
        const height = Math.abs(draft.start[1] - draft.end[1]) * this.natural.h * s;
        if (width < 4 || height < 4) {
          toast('Drag from one corner to the other to draw a rectangle.', 'info');
          return;
        }
        shape = { type: 'rectangle', corner1: draft.start, corner2: draft.end };
        break;
      }
      case 'stroke': {
        const w = this.natural.w * s;
        const h = this.natural.h * s;
        const points = draft.points.concat([draft.end]).map(([x, y]) => [x * w, y * h]);
        const simplified = simplify(points).map(([x, y]) => [x / w, y / h]);
        if (simplified.length < 2) return;
        shape = { type: 'stroke', points: simplified };
        break;
      }
      default:
        return;
    }
    if (this.item !== item) return;
    await this.postMark(item, shape, draft.colour);
  }

  async postMark(item, shape, colour) {
    const pending = { item, shape, colour, markId: null, expires: Date.now() + 30000 };
    this.pending.push(pending);
    this.schedule();
    const answer = await orToast(api.mark(item, shapeForRequest(shape), colour));
    if (!answer || typeof answer.mark !== 'string') this.pending = this.pending.filter((p) => p !== pending);
    else {
      pending.markId = answer.mark;
      pending.expires = Date.now() + 5000;
    }
    this.schedule();
  }

  /** One mark as SVG, in stage coordinates. */
  markNode(shape, colour, { id, author, kind = 'doc' } = {}) {
    const me = this.app.me && this.app.me.id;
    const own = kind === 'doc' && author && author === me;
    const classes = ['mark', `mark-${shape.type}`, kind];
    if (own) classes.push('own');
    if (own && id === this.selected) classes.push('selected');
    const g = svg('g', { class: classes.join(' ') });
    if (id) g.setAttribute('data-mark-id', id);
    if (author) g.setAttribute('data-author', author);
    if (author) {
      const who = own ? 'your mark — click to select, then Delete or ×' : `mark by ${this.app.nameOf(author)}`;
      g.append(svg('title', { text: who }));
    }
    const P = (point) => this.toStage(point[0], point[1]);
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

  drawMarks() {
    const doc = this.app.doc;
    const item = this.item && doc && doc.items && doc.items[this.item];
    const marks = item && Array.isArray(item.marks) ? item.marks : [];
    const ids = new Set(marks.map((m) => m && m.id));
    const now = Date.now();
    this.pending = this.pending.filter((p) => !(p.markId && ids.has(p.markId)) && p.expires > now);
    if (this.selected && (!ids.has(this.selected) || this.removing.has(this.selected))) this.selected = null;
    const nodes = [];
    if (this.item && this.ready) {
      for (const mark of marks) {
        if (!mark || typeof mark.id !== 'string' || this.removing.has(mark.id)) continue;
        const shape = shapeFromDocument(mark.shape);
        if (!shape) continue;
        const node = this.markNode(shape, safeColour(mark.colour), { id: mark.id, author: typeof mark.author === 'string' ? mark.author : '' });
        if (node) nodes.push(node);
      }
      for (const pending of this.pending) {
        if (pending.item !== this.item) continue;
        const node = this.markNode(pending.shape, pending.colour, { kind: 'pending' });
        if (node) nodes.push(node);
      }
    }
    this.docLayer.replaceChildren(...nodes);
    this.placeDeleteButton();
  }

  drawDraft() {
    const draft = this.draft;
    if (!draft || !this.item) {
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
    const node = shape && this.markNode(shape, draft.colour, { kind: 'draft' });
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
    button.hidden = false;
    button.style.left = `${clamp(box.x + box.width + 4, 0, this.size.w - 28)}px`;
    button.style.top = `${clamp(box.y - 28, 0, this.size.h - 28)}px`;
  }

  // ---- presence: outlines and pointers ---------------------------------------------------

  drawPresence() {
    const doc = this.app.doc;
    const me = this.app.me && this.app.me.id;
    const wanted = new Map();
    if (this.item && this.ready && doc) {
      for (const viewport of doc.viewports || []) {
        if (!viewport || viewport.item !== this.item || viewport.participant === me) continue;
        const participant = viewport.participant;
        if (!doc.participants || !doc.participants[participant]) continue;
        const focus = doc.focus && doc.focus[participant];
        if (focus && focus.item !== this.item) continue; // they are looking at something else now
        const view = viewFromDocument(viewport);
        if (view) wanted.set(participant, view);
      }
    }
    for (const [participant, node] of this.outlineNodes) {
      if (!wanted.has(participant)) {
        node.remove();
        this.outlineNodes.delete(participant);
      }
    }
    for (const [participant, view] of wanted) {
      let node = this.outlineNodes.get(participant);
      if (!node) {
        node = el('div', { class: 'outline', dataset: { participant } }, el('span', { class: 'outline-label' }));
        node.style.borderColor = participantColour(participant);
        node.firstChild.style.backgroundColor = participantColour(participant);
        this.presence.append(node);
        this.outlineNodes.set(participant, node);
      }
      const half = 0.5 / view.zoom;
      const [x1, y1] = this.toStage(view.cx - half, view.cy - half);
      const [x2, y2] = this.toStage(view.cx + half, view.cy + half);
      node.style.left = `${x1}px`;
      node.style.top = `${y1}px`;
      node.style.width = `${Math.max(0, x2 - x1)}px`;
      node.style.height = `${Math.max(0, y2 - y1)}px`;
      node.classList.toggle('followed', participant === this.following);
      const label = node.firstChild;
      label.textContent = `${this.app.nameOf(participant)} ${(view.zoom).toFixed(1)}×${participant === this.following ? ' (following)' : ''}`;
      // Keep the name visible when the outline is larger than the stage.
      label.style.left = `${Math.max(0, -x1)}px`;
      label.style.top = `${Math.max(0, -y1)}px`;
    }

    const now = Date.now();
    for (const [participant, node] of this.pointerNodes) {
      const pointer = this.others.get(participant);
      if (!pointer || pointer.item !== this.item || !this.ready || now - pointer.at > POINTER_TTL) {
        node.remove();
        this.pointerNodes.delete(participant);
      }
    }
    if (!this.item || !this.ready) return;
    for (const [participant, pointer] of this.others) {
      if (pointer.item !== this.item || now - pointer.at > POINTER_TTL) continue;
      let node = this.pointerNodes.get(participant);
      if (!node) {
        node = el('div', { class: 'pointer', dataset: { participant } }, el('span', { class: 'pointer-arrow' }), el('span', { class: 'pointer-name' }));
        node.firstChild.style.backgroundColor = participantColour(participant);
        node.lastChild.style.backgroundColor = participantColour(participant);
        this.presence.append(node);
        this.pointerNodes.set(participant, node);
      }
      const [x, y] = this.toStage(pointer.x, pointer.y);
      node.style.transform = `translate(${x}px, ${y}px)`;
      node.lastChild.textContent = this.app.nameOf(participant, pointer.name);
    }
  }

  // ---- drawing --------------------------------------------------------------------------

  /** Redraws on the next frame; `all` false redraws only the presence layer. */
  schedule(all = true) {
    if (all) this.dirtyAll = true;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    if (this.dirtyAll) {
      this.dirtyAll = false;
      this.applyTransform();
      this.drawMarks();
      this.drawDraft();
      this.zoomLabel.textContent = `${this.view.zoom.toFixed(2)}×`;
      this.root.dataset.zoom = this.view.zoom.toFixed(3);
    }
    this.drawPresence();
  }

  applyTransform() {
    const node = this.content.firstElementChild;
    if (!node || !this.item) return;
    const s = this.scale();
    const [left, top] = this.toStage(0, 0);
    if (this.contentKind === 'card') {
      node.style.width = `${CARD.w}px`;
      node.style.height = `${CARD.h}px`;
      node.style.transform = `translate(${left}px, ${top}px) scale(${s})`;
    } else {
      // Media are sized, not scaled, so that a video's controls keep their normal size.
      node.style.width = `${this.natural.w * s}px`;
      node.style.height = `${this.natural.h * s}px`;
      node.style.transform = `translate(${left}px, ${top}px)`;
    }
  }
}

/** A document viewport `{zoomThousandths, centre}` as a view, or null. */
export function viewFromDocument(viewport) {
  const zoom = Number(viewport && viewport.zoomThousandths) / 1000;
  const centre = fromMillionths(viewport && viewport.centre);
  if (!Number.isFinite(zoom) || zoom <= 0 || !centre) return null;
  return { zoom, cx: centre[0], cy: centre[1] };
}
