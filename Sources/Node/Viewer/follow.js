// Following someone: the stage shows what they see (their item, zoom and pan) until this person
// moves on their own or stops. Whom this page follows is `following` in the store.

import { DEFAULT_VIEW, clampedView } from './camera.js';
import { el, toast } from './dom.js';
import { nameOf } from './model.js';

export class Follow {
  /** `open(id)` puts an item on the stage (and tells the node); `ownView` is the stage's OwnView. */
  constructor(store, camera, { open, ownView }) {
    this.store = store;
    this.camera = camera;
    this.open = open;
    this.ownView = ownView;
    this.box = document.getElementById('follow-state');
  }

  follow(participant) {
    const me = this.store.get().me;
    if (!participant || participant === (me && me.id)) return;
    this.store.update({ following: participant });
    this.apply();
    this.render();
  }

  /** Stops following; `byUser` says it was an own move, which is then explained in a toast. */
  unfollow(byUser) {
    const { following, doc } = this.store.get();
    if (!following) return;
    const name = nameOf(doc, following);
    this.store.update({ following: null });
    if (byUser) toast(`You stopped following ${name}.`, 'info');
    this.render();
  }

  /** Shows the followed person's item and view, as the document has them now. */
  apply() {
    const { following: participant, doc, item: current } = this.store.get();
    if (!participant || !doc) return;
    if (!doc.participants || !doc.participants[participant]) {
      this.unfollow(false);
      return;
    }
    const focus = doc.focus && doc.focus[participant];
    const item = focus && typeof focus.item === 'string' ? focus.item : null;
    if (!item || !doc.items || !doc.items[item]) return;
    if (item !== current) this.open(item);
    const view = clampedView(this.ownView.docView(item, participant) || { ...DEFAULT_VIEW });
    const shown = this.camera.view;
    if (view.zoom !== shown.zoom || view.cx !== shown.cx || view.cy !== shown.cy) {
      this.camera.view = view;
      this.ownView.changed(false);
    }
  }

  /** The "Following NAME — Stop" note in the toolbar. */
  render() {
    const box = this.box;
    const { following, doc } = this.store.get();
    if (!following) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    box.replaceChildren(
      el('span', { text: `Following ${nameOf(doc, following)}` }),
      el('button', { type: 'button', class: 'stop-follow', onclick: () => this.unfollow(false) }, 'Stop'),
    );
  }
}
