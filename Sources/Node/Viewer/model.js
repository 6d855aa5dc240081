// What the node's answers mean, read from the store's state: names, titles, prices, what the
// room's rules allow, and the bounds of what the viewer sends. Pure functions.

import { formatPrice } from './dom.js';

/** A participant's key, shortened for display. */
export function shortId(hex) {
  return typeof hex === 'string' ? `${hex.slice(0, 8)}…` : '?';
}

/** A participant's display name: from the document, else `fallback`, else a short key. */
export function nameOf(doc, hex, fallback) {
  const profile = doc && doc.participants && doc.participants[hex];
  const name = profile && typeof profile.name === 'string' && profile.name.trim() ? profile.name : fallback;
  return typeof name === 'string' && name.trim() ? name : shortId(hex);
}

export function itemTitle(item, fallback = 'Untitled') {
  const title = item && item.fields && item.fields.title;
  if (typeof title === 'string' && title.trim()) return title;
  if (!item) return fallback;
  return { image: 'Photo', video: 'Video', productCard: 'Product', note: 'Note' }[item.kind] || fallback;
}

/** An item's price, with the currency's own number of decimals, or '' for none. */
export function priceText(state, id) {
  const item = state.doc && state.doc.items && state.doc.items[id];
  return formatPrice(item && item.fields && item.fields.price);
}

/** The viewer's bounds for what it sends: points of a stroke, a quantity, text and label lengths. */
const BOUNDS = { strokePoints: 512, quantity: 10000, textBytes: 4000, titleBytes: 200 };

/** The bound `key`, else `otherwise`. */
export function limit(state, key, otherwise) {
  return BOUNDS[key] ?? otherwise;
}

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
