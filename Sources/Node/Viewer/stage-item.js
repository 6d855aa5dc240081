// The item on the stage as drawn: its photo or video (or a card for notes and products), placed
// by the camera, and the bar under the stage (title, price, link, text, actions).

import * as api from './api.js';
import { CARD } from './camera.js';
import { el, orToast, safeHttpURL } from './dom.js';
import { mediaOf, mediaView } from './media.js';
import { itemTitle, nameOf, permits, priceText } from './model.js';
import { productActions } from './panel.js';
import { Watch } from './watch.js';

/** What decides the drawn content: a new signature means the content is built again. */
export function contentSignature(item) {
  const media = mediaOf(item);
  return JSON.stringify([item.kind, media ? media.id : item.fields]);
}

export class StageItem {
  /** `schedule()` asks the stage for a redraw (once the media's size is known). */
  constructor(store, camera, { schedule }) {
    this.store = store;
    this.camera = camera;
    this.schedule = schedule;
    this.root = document.getElementById('stage');
    this.content = document.getElementById('stage-content');
    this.info = document.getElementById('item-info');
    this.signature = null;
    this.infoSignature = null;
    this.kind = null; // 'media' | 'card'
    this.media = null; // mediaView of the item
    this.watch = null; // watching together, for a video
  }

  /** The stage video's position in seconds, or null when no video is on the stage. */
  videoTime() {
    return this.watch ? this.watch.video.currentTime : null;
  }

  /** Lets go of the drawn item (its video stops). */
  destroy() {
    if (this.watch) this.watch.destroy();
    this.watch = null;
    if (this.media) this.media.destroy();
    this.media = null;
    this.signature = null;
    this.infoSignature = null;
    this.camera.ready = false;
  }

  /** Removes the drawn item from the stage. */
  clear() {
    this.root.dataset.ready = '0';
    this.content.replaceChildren();
  }

  /** Draws the store's current item `item` afresh. */
  build(item) {
    const state = this.store.get();
    const id = state.item;
    const media = mediaOf(item);
    this.signature = contentSignature(item);
    this.camera.natural = { ...CARD };
    this.root.dataset.ready = '0';
    if (this.watch) this.watch.destroy();
    this.watch = null;
    if (this.media) this.media.destroy();
    this.media = null;
    if (media) {
      this.kind = 'media';
      this.camera.ready = false;
      this.media = mediaView(item, {
        mode: 'stage',
        onSize: (w, h) => {
          if (this.store.get().item !== id) return;
          this.camera.natural = { w, h };
          this.camera.ready = true;
          this.root.dataset.ready = '1';
          this.schedule();
        },
      });
      this.content.replaceChildren(this.media.node);
      if (this.media.media instanceof HTMLVideoElement) this.watch = new Watch(this.store, id, this.media.media, { schedule: this.schedule });
    } else {
      this.kind = 'card';
      this.camera.ready = true;
      this.root.dataset.ready = '1';
      const price = item.kind === 'productCard' ? priceText(state, id) : '';
      const text = item.fields && typeof item.fields.text === 'string' ? item.fields.text : '';
      this.content.replaceChildren(el('div', { class: `stage-card kind-${item.kind}` },
        el('h2', { text: itemTitle(item) }), price ? el('p', { class: 'price', text: price }) : null, el('p', { class: 'card-text', text })));
    }
  }

  /** Places the drawn item where the camera says. */
  place() {
    const node = this.content.firstElementChild;
    if (!node || !this.store.get().item) return;
    const camera = this.camera;
    const s = camera.scale();
    const [left, top] = camera.toStage(0, 0);
    if (this.kind === 'card') {
      node.style.width = `${CARD.w}px`;
      node.style.height = `${CARD.h}px`;
      node.style.transform = `translate(${left}px, ${top}px) scale(${s})`;
    } else {
      // Media are sized, not scaled, so that a video's controls keep their normal size.
      node.style.width = `${camera.natural.w * s}px`;
      node.style.height = `${camera.natural.h * s}px`;
      node.style.transform = `translate(${left}px, ${top}px)`;
    }
  }

  /** The bar under the stage: title, price, link, text, actions. */
  renderInfo() {
    const state = this.store.get();
    const { doc, me: meObject, item: id } = state;
    const item = id && doc && doc.items && doc.items[id];
    if (!item) {
      this.info.hidden = true;
      this.info.replaceChildren();
      this.infoSignature = null;
      return;
    }
    const me = meObject && meObject.id;
    const role = meObject && meObject.role;
    const price = item.kind === 'productCard' ? priceText(state, id) : '';
    const signature = JSON.stringify([id, item.kind, item.fields, item.author, me, role, nameOf(doc, item.author), price]);
    if (signature === this.infoSignature) return;
    this.infoSignature = signature;
    const parts = [el('strong', { class: 'info-title', text: itemTitle(item) })];
    if (price) parts.push(el('span', { class: 'price', text: price }));
    const href = safeHttpURL(item.fields && item.fields.url);
    if (href) parts.push(el('a', { class: 'link', href, target: '_blank', rel: 'noopener noreferrer nofollow', title: href }, 'product page ↗'));
    parts.push(el('span', { class: 'muted', text: `shared by ${item.author === me ? 'you' : nameOf(doc, item.author)}` }));
    const text = item.fields && typeof item.fields.text === 'string' ? item.fields.text : '';
    const actions = productActions(this.store, id, item);
    if (permits(meObject, 'remove', item.author)) {
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
}
