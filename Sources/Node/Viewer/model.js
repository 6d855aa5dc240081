// What the node's answers mean, read from the store's state: names, titles, prices, what the
// room's rules allow, and the bounds the node checks requests against. Pure functions.

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

/**
 * An item's price as the node writes it (`129.90 EUR`), or '' for none. The node sends these with
 * the document (`prices`, docs/LOCAL-API.md), so the page never interprets minor units itself.
 */
export function priceText(state, id) {
  const text = state.prices && state.prices[id];
  return typeof text === 'string' ? text : '';
}

/**
 * The bounds the node checks requests against (`limits` in STATUS): `strokePoints`, `quantity`,
 * `textBytes`, `titleBytes`; null until the first status arrives.
 */
function limits(state) {
  const given = state.status && state.status.limits;
  return given && typeof given === 'object' ? given : null;
}

/** `limits(state)[key]` when it is a positive integer, else `otherwise`. */
export function limit(state, key, otherwise) {
  const value = Number(limits(state)?.[key]);
  return Number.isInteger(value) && value > 0 ? value : otherwise;
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
