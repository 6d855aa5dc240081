// The stage: the focused item with this person's own zoom and pan, marks, the other people's
// viewports (outlines) and pointers, and the drawing tools. This file opens and closes items and
// redraws; each concern is a part of its own:
//
//   camera.js       view transform (zoom, pan, item ↔ stage coordinates)
//   stage-item.js   the item as drawn, and the bar under the stage
//   marks.js        marks, pending marks, the draft, the selection
//   presence.js     others' outlines and pointers; the own pointer
//   own-view.js     own focus and view sent to the node
//   follow.js       following someone
//   stage-input.js  pointer gestures, wheel, keys, toolbar

import { Camera } from './camera.js';
import { toast } from './dom.js';
import { Follow } from './follow.js';
import { Marks } from './marks.js';
import { OwnView } from './own-view.js';
import { OwnPointer, Presence } from './presence.js';
import { StageInput } from './stage-input.js';
import { StageItem, contentSignature } from './stage-item.js';

export class Stage {
  /** `send(message)` puts a message on the live feed (the own pointer). */
  constructor(store, { send }) {
    this.store = store;
    this.root = document.getElementById('stage');
    this.emptyNote = document.getElementById('stage-empty');
    this.zoomLabel = document.getElementById('zoom-level');
    const schedule = (all) => this.schedule(all);
    this.camera = new Camera();
    this.shown = new StageItem(store, this.camera, { schedule });
    this.marks = new Marks(store, this.camera, { schedule, videoTime: () => this.shown.videoTime() });
    this.presence = new Presence(store, this.camera, { schedule });
    this.pointer = new OwnPointer(store, this.camera, { send });
    this.ownView = new OwnView(store, this.camera, { schedule, gesturing: () => Boolean(this.input.gesture) });
    this.follow = new Follow(store, this.camera, { open: (id) => this.open(id, { post: true }), ownView: this.ownView });
    this.input = new StageInput(store, this.camera, { marks: this.marks, ownView: this.ownView, follow: this.follow, pointer: this.pointer });
    this.docFocusSeen = undefined; // own focus in the last document seen
    this.frame = 0;
    this.dirtyAll = true;
    new ResizeObserver(() => this.measure()).observe(this.root);
    this.measure();
    setInterval(() => this.prune(), 500);
  }

  /** The item on the stage. */
  get item() {
    return this.store.get().item;
  }

  /** Opens an item as a person's own choice, which ends following. */
  openByUser(id) {
    this.follow.unfollow(true);
    this.open(id, { post: true });
  }

  /** Opens `id` on the stage; `post` tells the node (focus). */
  open(id, { post = true } = {}) {
    const doc = this.store.get().doc;
    const item = doc && doc.items && doc.items[id];
    if (!item) return;
    if (id === this.item) {
      if (post) this.ownView.postFocus(id);
      return;
    }
    this.pointer.move(null);
    this.teardown();
    this.store.update({ item: id });
    this.camera.view = this.ownView.opening(id);
    this.root.dataset.item = id;
    this.emptyNote.hidden = true;
    this.shown.build(item);
    if (post) this.ownView.postFocus(id);
    this.shown.renderInfo();
    this.schedule();
  }

  close() {
    this.pointer.move(null);
    this.teardown();
    this.store.update({ item: null });
    this.root.dataset.item = '';
    this.shown.clear();
    this.emptyNote.hidden = false;
    this.shown.renderInfo();
    this.schedule();
  }

  teardown() {
    this.shown.destroy();
    this.marks.reset();
    this.input.reset();
    this.ownView.forget();
  }

  /** Called after every new document. */
  onDocument() {
    const { doc, me: meObject } = this.store.get();
    const me = meObject && meObject.id;
    if (!doc || !me) return;
    const items = doc.items || {};
    const focus = doc.focus && doc.focus[me];
    const docFocus = focus && typeof focus.item === 'string' ? focus.item : null;
    const first = () => (doc.panel || []).find((id) => items[id]);

    if (this.docFocusSeen === undefined) {
      // First document: reopen what this person had open, else the first item.
      this.docFocusSeen = docFocus;
      if (docFocus && items[docFocus]) this.open(docFocus, { post: false });
      else if (first()) this.open(first(), { post: true });
    } else if (docFocus !== this.docFocusSeen) {
      // Own focus changed elsewhere (a control command, another tab): follow it, unless this page
      // changed it a moment ago and the document has not caught up yet.
      this.docFocusSeen = docFocus;
      const following = this.store.get().following;
      if (docFocus && docFocus !== this.item && items[docFocus] && !following && Date.now() - this.ownView.focusedAt > 2000) {
        this.open(docFocus, { post: false });
      }
    }

    if (this.item && !items[this.item]) {
      toast('The item on the stage was removed from the panel.', 'info');
      this.close();
      if (first()) this.open(first(), { post: true });
      else this.ownView.postFocus(null);
    } else if (!this.item) {
      if (first()) this.open(first(), { post: true });
    }

    if (this.item) {
      if (contentSignature(items[this.item]) !== this.shown.signature) this.shown.build(items[this.item]);
      const adopted = this.ownView.external();
      if (adopted) {
        this.camera.view = adopted;
        this.schedule();
      }
    }
    if (this.store.get().following) this.follow.apply();
    this.shown.renderInfo();
    this.follow.render();
    this.schedule();
  }

  measure() {
    const w = this.root.clientWidth;
    const h = this.root.clientHeight;
    const size = this.camera.size;
    if (w > 0 && h > 0 && (w !== size.w || h !== size.h)) {
      this.camera.size = { w, h };
      this.schedule();
    }
  }

  prune() {
    const now = Date.now();
    const gone = this.presence.prune(now);
    if (this.marks.hasExpired(now)) this.schedule();
    else if (gone) this.schedule(false);
  }

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
      this.shown.place();
      this.marks.draw();
      this.marks.drawDraft();
      const zoom = this.camera.view.zoom;
      this.zoomLabel.textContent = `${zoom.toFixed(2)}×`;
      this.root.dataset.zoom = zoom.toFixed(3);
    }
    this.presence.draw();
  }

  /** What the test hooks read: `{item, ready, tool, following, view: {zoom, centre}}`. */
  snapshot() {
    const view = this.camera.view;
    return {
      item: this.item, ready: this.camera.ready, tool: this.input.tool, following: this.store.get().following,
      view: { zoom: view.zoom, centre: [view.cx, view.cy] },
      watch: this.shown.watch ? this.shown.watch.snapshot() : null,
    };
  }
}
