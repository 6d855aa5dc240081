// The shared panel (the document's `panel` order) and the product actions.

import * as api from './api.js';
import { ask, el, orToast, participantColour, safeHttpURL, toast } from './dom.js';
import { mediaOf, mediaView } from './media.js';
import { itemTitle, limit, nameOf, permits, priceText } from './model.js';

const KIND_LABEL = { image: 'photo', video: 'video', productCard: 'product', note: 'note' };

/**
 * Recommend (agents only) / add to cart / buy buttons for a product card, as the room's rules
 * allow; the price and the largest quantity are read from the store when clicked.
 */
export function productActions(store, id, item) {
  const title = itemTitle(item);
  const me = store.get().me;
  const buttons = [];
  if (item.kind === 'productCard' && permits(me, 'recommend')) {
    buttons.push(
      el('button', {
        type: 'button', class: 'act-recommend', dataset: { action: 'recommend', item: id }, title: 'Recommend this product, with a note',
        onclick: async (event) => {
          event.stopPropagation();
          const note = await ask({ label: `Recommend “${title}” — a note (optional)`, placeholder: 'Why this one?', maxLength: limit(store.get(), 'textBytes') });
          if (note === null) return;
          if (await orToast(api.recommend(id, note))) toast(`Recommended ${title}.`, 'ok');
        },
      }, '★ Recommend'),
    );
  }
  if (item.kind === 'productCard' && permits(me, 'buy')) {
    buttons.push(
      el('button', {
        type: 'button', class: 'act-cart', dataset: { action: 'cart', item: id },
        onclick: async (event) => {
          event.stopPropagation();
          if (await orToast(api.cart(id, 1))) toast(`Added ${title} to the cart.`, 'ok');
        },
      }, 'Add to cart'),
      el('button', {
        type: 'button', class: 'act-buy', dataset: { action: 'buy', item: id },
        onclick: async (event) => {
          event.stopPropagation();
          const price = priceText(store.get(), id);
          const most = limit(store.get(), 'quantity');
          const answer = await ask({
            label: `Buy “${title}”${price ? ` (${price} each)` : ''} — quantity`, value: '1', required: true,
            maxLength: most && String(most).length,
          });
          if (answer === null) return;
          const quantity = Number(answer);
          if (!Number.isInteger(quantity) || quantity < 1 || (most && quantity > most)) {
            toast(most ? `The quantity must be a whole number from 1 to ${most}.` : 'The quantity must be a whole number from 1 up.');
            return;
          }
          if (await orToast(api.buy(id, quantity))) toast(`Bought ${quantity} × ${title}.`, 'ok');
        },
      }, 'Buy'),
    );
  }
  return buttons;
}

/** The panel list; `open(id)` is a person's own choice of an item for the stage. */
export class Panel {
  constructor(store, { open }) {
    this.store = store;
    this.open = open;
    this.list = document.getElementById('panel-list');
    this.empty = document.getElementById('panel-empty');
    this.entries = new Map(); // id -> {node, signature, media, badges, marks}
  }

  render() {
    const state = this.store.get();
    const { doc, item: current } = state;
    if (!doc) return;
    const items = doc.items || {};
    const order = (Array.isArray(doc.panel) ? doc.panel : []).filter((id) => typeof id === 'string' && items[id]);
    const seen = new Set(order);
    for (const [id, entry] of this.entries) {
      if (!seen.has(id)) {
        entry.media && entry.media.destroy();
        entry.node.remove();
        this.entries.delete(id);
      }
    }
    const lookers = new Map(); // item -> [participant]
    for (const [participant, focus] of Object.entries(doc.focus || {})) {
      if (!focus || typeof focus.item !== 'string') continue;
      if (!lookers.has(focus.item)) lookers.set(focus.item, []);
      lookers.get(focus.item).push(participant);
    }
    order.forEach((id, index) => {
      const item = items[id];
      const signature = JSON.stringify([item.kind, item.fields, state.me && state.me.role, priceText(state, id)]);
      let entry = this.entries.get(id);
      if (!entry || entry.signature !== signature) {
        const fresh = this.build(id, item, signature);
        if (entry) {
          entry.media && entry.media.destroy();
          entry.node.replaceWith(fresh.node);
        }
        entry = fresh;
        this.entries.set(id, entry);
      }
      if (this.list.children[index] !== entry.node) this.list.insertBefore(entry.node, this.list.children[index] || null);
      entry.node.classList.toggle('current', id === current);
      entry.node.setAttribute('aria-current', id === current ? 'true' : 'false');
      const markCount = Array.isArray(item.marks) ? item.marks.length : 0;
      entry.marks.textContent = markCount ? `✎ ${markCount}` : '';
      entry.marks.title = markCount ? `${markCount} mark${markCount === 1 ? '' : 's'}` : '';
      const people = (lookers.get(id) || []).filter((p) => doc.participants && doc.participants[p]);
      entry.badges.replaceChildren(...people.map((p) => {
        const dot = el('span', { class: 'looker', title: `${nameOf(doc, p)} is looking at this` });
        dot.style.backgroundColor = participantColour(p);
        return dot;
      }));
    });
    this.empty.hidden = order.length > 0;
    if (current !== this.shownCurrent) {
      this.shownCurrent = current;
      const entry = current && this.entries.get(current);
      if (entry) revealInside(document.getElementById('panel'), entry.node);
    }
  }

  build(id, item, signature) {
    const title = itemTitle(item);
    let media = null;
    let thumb;
    if (mediaOf(item)) {
      media = mediaView(item, { mode: 'thumb' });
      thumb = media.node;
    } else {
      const text = item.fields && typeof item.fields.text === 'string' ? item.fields.text : '';
      thumb = el('div', { class: `thumb-text kind-${item.kind}` }, el('span', { class: 'thumb-kind', text: KIND_LABEL[item.kind] || 'item' }), el('span', { text: text.slice(0, 160) }));
    }
    const caption = el('div', { class: 'caption' }, el('span', { class: 'title', text: title }));
    if (item.kind === 'productCard') {
      const price = priceText(this.store.get(), id);
      if (price) caption.append(el('span', { class: 'price', text: price }));
      const href = safeHttpURL(item.fields && item.fields.url);
      if (href) {
        caption.append(el('a', {
          class: 'link', href, target: '_blank', rel: 'noopener noreferrer nofollow', title: href,
          onclick: (event) => event.stopPropagation(),
        }, 'link ↗'));
      }
    }
    const marks = el('span', { class: 'mark-count' });
    const badges = el('span', { class: 'lookers' });
    const actions = productActions(this.store, id, item);
    const node = el('li', {
      class: `panel-item kind-${item.kind}`, tabindex: '0', role: 'button',
      dataset: { item: id, kind: item.kind || '' },
      title: `${title} (${KIND_LABEL[item.kind] || 'item'})`,
    }, el('div', { class: 'thumb' }, thumb, el('div', { class: 'thumb-badges' }, badges, marks)), caption,
      actions.length ? el('div', { class: 'actions' }, actions) : null);
    node.addEventListener('click', (event) => {
      if (event.target.closest('button, a')) return;
      this.open(id);
    });
    node.addEventListener('keydown', (event) => {
      if ((event.key === 'Enter' || event.key === ' ') && event.target === node) {
        event.preventDefault();
        this.open(id);
      }
    });
    return { node, signature, media, marks, badges };
  }
}

/** Scrolls `container` (not the page) just enough to show `node`. */
function revealInside(container, node) {
  const box = container.getBoundingClientRect();
  const rect = node.getBoundingClientRect();
  if (rect.top < box.top) container.scrollTop -= box.top - rect.top + 8;
  else if (rect.bottom > box.bottom) container.scrollTop += rect.bottom - box.bottom + 8;
  if (rect.left < box.left) container.scrollLeft -= box.left - rect.left + 8;
  else if (rect.right > box.right) container.scrollLeft += rect.right - box.right + 8;
}
