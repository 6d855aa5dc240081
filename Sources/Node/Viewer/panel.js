// The shared panel (the document's `panel` order) and the product actions.

import * as api from './api.js';
import { ask, el, formatPrice, orToast, participantColour, safeHttpURL, toast } from './dom.js';
import { mediaOf, mediaView } from './media.js';

export function itemTitle(item, fallback = 'Untitled') {
  const title = item && item.fields && item.fields.title;
  if (typeof title === 'string' && title.trim()) return title;
  if (!item) return fallback;
  return { image: 'Photo', video: 'Video', productCard: 'Product', note: 'Note' }[item.kind] || fallback;
}

const KIND_LABEL = { image: 'photo', video: 'video', productCard: 'product', note: 'note' };

/**
 * Whether the room's rules let this participant do `action` (on an item by `author`). Every node
 * enforces the rules in the merge and the local API refuses what they forbid; the viewer only
 * hides what would be refused. Mirrors RoomAuthority.permits (docs/PROTOCOL.md).
 */
export function permits(me, action, author) {
  const role = me && me.role;
  const writer = role === 'agent' || role === 'customer' || role === 'guest';
  switch (action) {
    case 'recommend': return role === 'agent';
    case 'edit': case 'remove': return writer && (role === 'agent' || author === me.id);
    default: return writer; // share, mark, chat, cart, buy
  }
}

/** Recommend (agents only) / add to cart / buy buttons for a product card, as the room's rules allow. */
export function productActions(app, id, item) {
  const title = itemTitle(item);
  const buttons = [];
  if (item.kind === 'productCard' && permits(app.me, 'recommend')) {
    buttons.push(
      el('button', {
        type: 'button', class: 'act-recommend', dataset: { action: 'recommend', item: id }, title: 'Recommend this product, with a note',
        onclick: async (event) => {
          event.stopPropagation();
          const note = await ask({ label: `Recommend “${title}” — a note (optional)`, placeholder: 'Why this one?' });
          if (note === null) return;
          if (await orToast(api.recommend(id, note))) toast(`Recommended ${title}.`, 'ok');
        },
      }, '★ Recommend'),
    );
  }
  if (item.kind === 'productCard' && permits(app.me, 'buy')) {
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
          const price = formatPrice(item.fields && item.fields.price);
          const answer = await ask({ label: `Buy “${title}”${price ? ` (${price} each)` : ''} — quantity`, value: '1', required: true, maxLength: 5 });
          if (answer === null) return;
          const quantity = Number(answer);
          if (!Number.isInteger(quantity) || quantity < 1 || quantity > 10000) {
            toast('The quantity must be a whole number from 1 to 10000.');
            return;
          }
          if (await orToast(api.buy(id, quantity))) toast(`Bought ${quantity} × ${title}.`, 'ok');
        },
      }, 'Buy'),
    );
  }
  return buttons;
}

export class Panel {
  constructor(app) {
    this.app = app;
    this.list = document.getElementById('panel-list');
    this.empty = document.getElementById('panel-empty');
    this.entries = new Map(); // id -> {node, signature, media, badges, marks}
  }

  render() {
    const doc = this.app.doc;
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
      const signature = JSON.stringify([item.kind, item.fields, this.app.me && this.app.me.role]);
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
      entry.node.classList.toggle('current', id === this.app.stage.item);
      entry.node.setAttribute('aria-current', id === this.app.stage.item ? 'true' : 'false');
      const markCount = Array.isArray(item.marks) ? item.marks.length : 0;
      entry.marks.textContent = markCount ? `✎ ${markCount}` : '';
      entry.marks.title = markCount ? `${markCount} mark${markCount === 1 ? '' : 's'}` : '';
      const people = (lookers.get(id) || []).filter((p) => doc.participants && doc.participants[p]);
      entry.badges.replaceChildren(...people.map((p) => {
        const dot = el('span', { class: 'looker', title: `${this.app.nameOf(p)} is looking at this` });
        dot.style.backgroundColor = participantColour(p);
        return dot;
      }));
    });
    this.empty.hidden = order.length > 0;
    const current = this.app.stage.item;
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
      const price = formatPrice(item.fields && item.fields.price);
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
    const actions = productActions(this.app, id, item);
    const node = el('li', {
      class: `panel-item kind-${item.kind}`, tabindex: '0', role: 'button',
      dataset: { item: id, kind: item.kind || '' },
      title: `${title} (${KIND_LABEL[item.kind] || 'item'})`,
    }, el('div', { class: 'thumb' }, thumb, el('div', { class: 'thumb-badges' }, badges, marks)), caption,
      actions.length ? el('div', { class: 'actions' }, actions) : null);
    node.addEventListener('click', (event) => {
      if (event.target.closest('button, a')) return;
      this.app.openItem(id, { user: true });
    });
    node.addEventListener('keydown', (event) => {
      if ((event.key === 'Enter' || event.key === ' ') && event.target === node) {
        event.preventDefault();
        this.app.openItem(id, { user: true });
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
