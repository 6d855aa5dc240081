// Input on the stage: pointer gestures (pan, pinch, drawing a mark), the wheel, the keyboard,
// and the toolbar (tools, zoom buttons, colour).

import { DEFAULT_VIEW, clamp } from './camera.js';

const ZOOM_STEP = 1.5;
const TOOLS = ['pan', 'pin', 'arrow', 'rectangle', 'stroke', 'text'];

export class StageInput {
  /**
   * Parts of the stage it drives: `marks` (Marks), `ownView` (OwnView), `follow` (Follow),
   * `pointer` (OwnPointer).
   */
  constructor(store, camera, { marks, ownView, follow, pointer }) {
    this.store = store;
    this.camera = camera;
    this.marks = marks;
    this.ownView = ownView;
    this.follow = follow;
    this.pointer = pointer;
    this.root = document.getElementById('stage');
    this.colourInput = document.getElementById('colour');
    this.tool = 'pan';
    this.pointers = new Map(); // active pointerId -> stage position
    this.gesture = null; // {type: 'pan' | 'pinch' | 'draw', …}
    this.bind();
  }

  /** Ends any gesture (another item comes on the stage). */
  reset() {
    this.gesture = null;
    this.pointers.clear();
  }

  get item() {
    return this.store.get().item;
  }

  bind() {
    const root = this.root;
    root.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    root.addEventListener('pointermove', (e) => this.onPointerMove(e));
    root.addEventListener('pointerup', (e) => this.onPointerUp(e, false));
    root.addEventListener('pointercancel', (e) => this.onPointerUp(e, true));
    root.addEventListener('pointerleave', () => {
      if (this.pointers.size === 0) this.pointer.move(null);
    });
    root.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    root.addEventListener('dragstart', (e) => e.preventDefault());
    root.addEventListener('contextmenu', (e) => {
      if (this.tool !== 'pan') e.preventDefault();
    });
    for (const button of document.querySelectorAll('#toolbar [data-tool]')) {
      button.addEventListener('click', () => this.setTool(button.dataset.tool));
    }
    document.getElementById('zoom-in').addEventListener('click', () => this.zoomBy(ZOOM_STEP));
    document.getElementById('zoom-out').addEventListener('click', () => this.zoomBy(1 / ZOOM_STEP));
    document.getElementById('zoom-reset').addEventListener('click', () => this.resetView());
    document.addEventListener('keydown', (e) => this.onKey(e));
  }

  local(event) {
    const rect = this.root.getBoundingClientRect();
    return { x: event.clientX - rect.left - this.root.clientLeft, y: event.clientY - rect.top - this.root.clientTop };
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
        if (!this.item || !this.camera.ready || target !== this.root) return;
        const view = this.camera.view;
        const step = 0.1 / view.zoom;
        const dx = event.key === 'ArrowLeft' ? -step : event.key === 'ArrowRight' ? step : 0;
        const dy = event.key === 'ArrowUp' ? -step : event.key === 'ArrowDown' ? step : 0;
        this.follow.unfollow(true);
        view.cx = clamp(view.cx + dx, 0, 1);
        view.cy = clamp(view.cy + dy, 0, 1);
        this.ownView.changed(false);
        clearTimeout(this.keyEnd);
        this.keyEnd = setTimeout(() => this.ownView.changed(true), 200);
        break;
      }
      case 'Delete':
      case 'Backspace':
        if (!this.marks.selected) return;
        this.marks.removeSelected();
        break;
      case 'Escape':
        if (this.marks.draft) this.marks.cancelDraft();
        else if (this.marks.selected) this.marks.select(null);
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
        this.marks.select(markNode.dataset.markId);
        return;
      }
      if (onVideoControls(event)) return;
    }
    if (!this.camera.ready) return;
    event.preventDefault();
    this.root.focus({ preventScroll: true });
    try {
      this.root.setPointerCapture(event.pointerId);
    } catch {
      /* a synthetic or vanished pointer */
    }
    this.pointers.set(event.pointerId, pos);
    if (this.pointers.size === 2) {
      if (this.marks.draft) this.marks.cancelDraft();
      this.startPinch();
    } else if (this.pointers.size === 1) {
      if (this.tool === 'pan') {
        if (this.marks.selected) this.marks.select(null);
        this.gesture = { type: 'pan', id: event.pointerId, x0: pos.x, y0: pos.y, view: { ...this.camera.view }, moved: false };
      } else {
        this.marks.startDraft(this.tool, this.colour(), this.camera.clampedItem(pos), pos);
        this.gesture = { type: 'draw', id: event.pointerId };
      }
    }
  }

  onPointerMove(event) {
    const pos = this.local(event);
    this.pointer.track(pos);
    if (!this.pointers.has(event.pointerId)) return;
    this.pointers.set(event.pointerId, pos);
    const gesture = this.gesture;
    if (!gesture) return;
    if (gesture.type === 'pinch') {
      this.updatePinch();
      return;
    }
    if (gesture.id !== event.pointerId) return;
    const draft = this.marks.draft;
    if (gesture.type === 'pan') {
      const dx = pos.x - gesture.x0;
      const dy = pos.y - gesture.y0;
      if (!gesture.moved) {
        if (Math.hypot(dx, dy) < 3) return;
        gesture.moved = true;
        this.follow.unfollow(true);
      }
      this.camera.panFrom(gesture.view, dx, dy);
      this.ownView.changed(false);
    } else if (gesture.type === 'draw' && draft) {
      if (draft.tool === 'stroke') {
        const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
        for (const e of events.length ? events : [event]) {
          const p = this.local(e);
          if (Math.hypot(p.x - draft.lastPx.x, p.y - draft.lastPx.y) >= 1) {
            draft.points.push(this.camera.clampedItem(p));
            draft.lastPx = p;
          }
        }
      }
      draft.end = this.camera.clampedItem(pos);
      this.marks.drawDraft();
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
        this.gesture = { type: 'pan', id, x0: rest.x, y0: rest.y, view: { ...this.camera.view }, moved: true };
      } else if (this.pointers.size === 0) this.gesture = null;
      this.ownView.changed(true);
      return;
    }
    if (gesture && gesture.id === event.pointerId) {
      this.gesture = null;
      if (gesture.type === 'pan' && gesture.moved) this.ownView.changed(true);
      if (gesture.type === 'draw' && this.marks.draft) {
        if (!cancelled) this.marks.draft.end = this.camera.clampedItem(pos);
        this.marks.finishDraft(cancelled);
      }
    }
    if (this.pointers.size === 0) this.gesture = null;
  }

  startPinch() {
    const [a, b] = [...this.pointers.values()];
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    this.follow.unfollow(true);
    this.gesture = {
      type: 'pinch',
      d0: Math.max(10, Math.hypot(a.x - b.x, a.y - b.y)),
      z0: this.camera.view.zoom,
      anchor: this.camera.toItem(mid.x, mid.y),
    };
  }

  updatePinch() {
    const gesture = this.gesture;
    const [a, b] = [...this.pointers.values()];
    if (!a || !b) return;
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    const distance = Math.max(10, Math.hypot(a.x - b.x, a.y - b.y));
    this.camera.placeAt(gesture.anchor, mid, gesture.z0 * (distance / gesture.d0));
    this.ownView.changed(false);
  }

  onWheel(event) {
    if (!this.item || !this.camera.ready) return;
    event.preventDefault();
    let dy = event.deltaY;
    if (event.deltaMode === 1) dy *= 16;
    else if (event.deltaMode === 2) dy *= this.camera.size.h;
    dy = clamp(dy, -300, 300);
    const pos = this.local(event);
    this.follow.unfollow(true);
    this.camera.placeAt(this.camera.toItem(pos.x, pos.y), pos, this.camera.view.zoom * Math.exp(-dy * 0.002));
    this.ownView.changed(false);
    this.pointer.track(pos);
    clearTimeout(this.wheelEnd);
    this.wheelEnd = setTimeout(() => this.ownView.changed(true), 200);
  }

  zoomBy(factor) {
    if (!this.item) return;
    this.follow.unfollow(true);
    this.camera.zoomBy(factor);
    this.ownView.changed(true);
  }

  resetView() {
    if (!this.item) return;
    this.follow.unfollow(true);
    this.camera.view = { ...DEFAULT_VIEW };
    this.ownView.changed(true, { always: true }); // always say it, even if unchanged
  }

  setTool(tool) {
    if (!TOOLS.includes(tool)) return;
    this.tool = tool;
    this.root.dataset.activeTool = tool;
    this.root.classList.toggle('drawing', tool !== 'pan');
    for (const button of document.querySelectorAll('#toolbar [data-tool]')) {
      button.setAttribute('aria-pressed', button.dataset.tool === tool ? 'true' : 'false');
    }
    this.marks.cancelDraft();
    this.marks.select(null);
  }

  colour() {
    const value = this.colourInput.value;
    return /^#[0-9a-fA-F]{6}$/.test(value) ? value.toLowerCase() : '#e53935';
  }
}

/** True for a press on a video's own controls (the bottom strip), which the video handles. */
function onVideoControls(event) {
  const target = event.target;
  if (!(target instanceof HTMLVideoElement) || !target.controls) return false;
  const rect = target.getBoundingClientRect();
  return event.clientY > rect.bottom - 56;
}
