// This person's own focus and view as the node knows them: views sent to the node (throttled),
// focus posted, the view kept per item while the page lives, and a view changed elsewhere (a
// control command, another tab) taken from the document.

import * as api from './api.js';
import { DEFAULT_VIEW, clamp, clampedView, round, viewFromDocument } from './camera.js';
import { orToast, toast } from './dom.js';

const VIEW_INTERVAL = 150; // ms between view updates sent to the node

export class OwnView {
  /** `schedule()` asks the stage for a redraw; `gesturing()` is true while a drag or pinch goes on. */
  constructor(store, camera, { schedule, gesturing }) {
    this.store = store;
    this.camera = camera;
    this.schedule = schedule;
    this.gesturing = gesturing;
    this.views = new Map(); // item -> this person's view, kept while the page lives
    this.docViewSeen = new Map(); // item -> `updated` of own viewport last seen
    this.focusedAt = 0; // when this page last told the node its focus
    this.lastActivity = 0;
    this.timer = null;
    this.sentAt = 0;
    this.sentKey = null;
    this.inflight = false;
    this.dirty = false;
  }

  /** This person's (or `participant`'s) viewport on `item` in the document, as a view, or null. */
  docView(item, participant) {
    const { doc, me } = this.store.get();
    const who = participant ?? (me && me.id);
    const viewports = (doc && doc.viewports) || [];
    const found = viewports.find((v) => v && v.item === item && v.participant === who);
    return found ? viewFromDocument(found) : null;
  }

  /** The view to start `item` with: the one of this page, else the document's, else the whole item. */
  opening(item) {
    const { doc, me } = this.store.get();
    const mine = me && me.id;
    const own = ((doc && doc.viewports) || []).find((v) => v && v.item === item && v.participant === mine);
    this.docViewSeen.set(item, own ? JSON.stringify(own.updated) : null);
    return clampedView({ ...(this.views.get(item) || this.docView(item) || DEFAULT_VIEW) });
  }

  /**
   * Records a change of the own view; sends it at most every VIEW_INTERVAL, and at once when
   * `final`. `always` sends it even if the node has it already.
   */
  changed(final, { always = false } = {}) {
    const item = this.store.get().item;
    if (!item) return;
    if (always) this.sentKey = null;
    this.lastActivity = Date.now();
    this.views.set(item, { ...this.camera.view });
    this.dirty = true;
    this.schedule();
    if (final) {
      clearTimeout(this.timer);
      this.timer = null;
      this.send();
      return;
    }
    if (this.timer) return;
    const wait = VIEW_INTERVAL - (Date.now() - this.sentAt);
    if (wait <= 0) this.send();
    else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.send();
      }, wait);
    }
  }

  async send() {
    const item = this.store.get().item;
    if (!this.dirty || !item || this.inflight) return;
    // The view stays within ZOOM_MIN…ZOOM_MAX, inside the node's zoom range.
    const view = this.camera.view;
    const zoom = round(view.zoom, 3);
    const centre = [round(clamp(view.cx, 0, 1), 6), round(clamp(view.cy, 0, 1), 6)];
    this.dirty = false;
    const key = JSON.stringify([item, zoom, centre]);
    if (key === this.sentKey) return;
    this.inflight = true;
    this.sentAt = Date.now();
    try {
      await api.view(item, zoom, centre);
      this.sentKey = key;
      this.focusedAt = Date.now();
    } catch (error) {
      toast(error.message || String(error));
    } finally {
      this.inflight = false;
      if (this.dirty) this.changed(false);
    }
  }

  /** Tells the node which item this person looks at (null for none). */
  postFocus(item) {
    if (item !== null) this.focusedAt = Date.now();
    orToast(api.focus(item));
  }

  /** Drops what was not sent yet for the item leaving the stage. */
  forget() {
    clearTimeout(this.timer);
    this.timer = null;
    this.dirty = false;
  }

  /**
   * Takes the own viewport from the document when something else (a control command) changed
   * it; returns the view to show, or null to keep the current one.
   */
  external() {
    const { doc, me, item, following } = this.store.get();
    const own = (doc.viewports || []).find((v) => v && v.item === item && v.participant === me.id);
    if (!own) return null;
    const key = JSON.stringify(own.updated);
    if (this.docViewSeen.get(item) === key) return null;
    this.docViewSeen.set(item, key);
    if (this.gesturing() || this.inflight || this.timer || following) return null;
    if (Date.now() - this.lastActivity < 1500) return null;
    const view = viewFromDocument(own);
    if (!view) return null;
    const current = this.camera.view;
    const same = Math.abs(view.zoom - current.zoom) < 0.002 && Math.abs(view.cx - current.cx) < 2e-6 && Math.abs(view.cy - current.cy) < 2e-6;
    if (same) return null;
    const adopted = clampedView(view);
    this.views.set(item, { ...adopted });
    return adopted;
  }
}
