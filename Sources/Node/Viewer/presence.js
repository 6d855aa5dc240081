// Presence on the stage: the other people's viewports (outlines) and live pointers, and this
// person's own pointer sent on the live feed.

import { round, viewFromDocument } from './camera.js';
import { el, participantColour } from './dom.js';
import { nameOf } from './model.js';

const POINTER_INTERVAL = 50; // ms between own pointer messages (20 a second)
const POINTER_TTL = 3000; // ms after which another person's silent pointer is hidden

/** Others' outlines and pointers over the item on the stage. */
export class Presence {
  /** `schedule(all)` asks the stage for a redraw; `all` false redraws only this layer. */
  constructor(store, camera, { schedule }) {
    this.store = store;
    this.camera = camera;
    this.schedule = schedule;
    this.layer = document.getElementById('presence');
    this.others = new Map(); // participant -> {item, x, y, name, at}
    this.outlineNodes = new Map();
    this.pointerNodes = new Map();
  }

  /** Another participant's pointer from the live feed. */
  onPointer(message) {
    const participant = message.participant;
    const me = this.store.get().me;
    if (typeof participant !== 'string' || (me && participant === me.id)) return;
    const x = Number(message.x);
    const y = Number(message.y);
    if (typeof message.item !== 'string' || !Number.isFinite(x) || !Number.isFinite(y)) this.others.delete(participant);
    else this.others.set(participant, { item: message.item, x, y, name: typeof message.name === 'string' ? message.name : '', at: Date.now() });
    this.schedule(false);
  }

  /** Forgets pointers silent for too long; true if one went. */
  prune(now) {
    let changed = false;
    for (const [participant, pointer] of this.others) {
      if (now - pointer.at > POINTER_TTL) {
        this.others.delete(participant);
        changed = true;
      }
    }
    return changed;
  }

  draw() {
    const { doc, me: meObject, item, following } = this.store.get();
    const me = meObject && meObject.id;
    const ready = this.camera.ready;
    const wanted = new Map();
    if (item && ready && doc) {
      for (const viewport of doc.viewports || []) {
        if (!viewport || viewport.item !== item || viewport.participant === me) continue;
        const participant = viewport.participant;
        if (!doc.participants || !doc.participants[participant]) continue;
        const focus = doc.focus && doc.focus[participant];
        if (focus && focus.item !== item) continue; // they are looking at something else now
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
        this.layer.append(node);
        this.outlineNodes.set(participant, node);
      }
      const half = 0.5 / view.zoom;
      const [x1, y1] = this.camera.toStage(view.cx - half, view.cy - half);
      const [x2, y2] = this.camera.toStage(view.cx + half, view.cy + half);
      node.style.left = `${x1}px`;
      node.style.top = `${y1}px`;
      node.style.width = `${Math.max(0, x2 - x1)}px`;
      node.style.height = `${Math.max(0, y2 - y1)}px`;
      node.classList.toggle('followed', participant === following);
      const label = node.firstChild;
      label.textContent = `${nameOf(doc, participant)} ${(view.zoom).toFixed(1)}×${participant === following ? ' (following)' : ''}`;
      // Keep the name visible when the outline is larger than the stage.
      label.style.left = `${Math.max(0, -x1)}px`;
      label.style.top = `${Math.max(0, -y1)}px`;
    }

    const now = Date.now();
    for (const [participant, node] of this.pointerNodes) {
      const pointer = this.others.get(participant);
      if (!pointer || pointer.item !== item || !ready || now - pointer.at > POINTER_TTL) {
        node.remove();
        this.pointerNodes.delete(participant);
      }
    }
    if (!item || !ready) return;
    for (const [participant, pointer] of this.others) {
      if (pointer.item !== item || now - pointer.at > POINTER_TTL) continue;
      let node = this.pointerNodes.get(participant);
      if (!node) {
        node = el('div', { class: 'pointer', dataset: { participant } }, el('span', { class: 'pointer-arrow' }), el('span', { class: 'pointer-name' }));
        node.firstChild.style.backgroundColor = participantColour(participant);
        node.lastChild.style.backgroundColor = participantColour(participant);
        this.layer.append(node);
        this.pointerNodes.set(participant, node);
      }
      const [x, y] = this.camera.toStage(pointer.x, pointer.y);
      node.style.transform = `translate(${x}px, ${y}px)`;
      node.lastChild.textContent = nameOf(doc, participant, pointer.name);
    }
  }
}

/** This person's pointer over the item, sent at most every POINTER_INTERVAL; never stored. */
export class OwnPointer {
  /** `send(message)` puts one message on the live feed; false when it is not open. */
  constructor(store, camera, { send }) {
    this.store = store;
    this.camera = camera;
    this.send = send;
    this.out = null;
    this.timer = null;
    this.sentAt = 0;
    this.lastSent = null;
  }

  /** The pointer is at stage position `pos`: on the item, or off it. */
  track(pos) {
    const item = this.store.get().item;
    if (!item || !this.camera.ready) return;
    const [x, y] = this.camera.toItem(pos.x, pos.y);
    if (x >= 0 && x <= 1 && y >= 0 && y <= 1) this.move({ item, x, y });
    else this.move(null);
  }

  /** `{item, x, y}`, or null when the pointer left the item. */
  move(position) {
    const message = position
      ? { type: 'pointer', item: position.item, x: round(position.x, 5), y: round(position.y, 5) }
      : { type: 'pointer', item: null };
    if (!position && !this.out && (!this.lastSent || this.lastSent.item === null)) return;
    this.out = message;
    if (this.timer) return;
    const wait = POINTER_INTERVAL - (Date.now() - this.sentAt);
    if (wait <= 0) this.flush();
    else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, wait);
    }
  }

  flush() {
    const message = this.out;
    this.out = null;
    if (!message) return;
    if (message.item === null && (!this.lastSent || this.lastSent.item === null)) return;
    if (this.send(message)) {
      this.lastSent = message;
      this.sentAt = Date.now();
    }
  }
}
