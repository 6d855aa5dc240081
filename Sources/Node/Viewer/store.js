// The page's shared state in one small store: what the node sent (me, document, prices, status),
// the live connection, and the two choices other parts show (the item on the stage, whom this
// person follows). Modules are handed the store and read it; none of them is a global.
//
// Keys: me, doc, stateHash, prices, status, connection, item, following.

/**
 * A store holding one frozen object. `update(patch)` replaces the keys whose values changed and
 * then calls, in subscription order, every listener watching one of them, with the store's state
 * at that moment and the set of changed keys. An update made by a listener notifies at once (so
 * later listeners of the first update see the newer state).
 */
export function createStore(initial) {
  let state = Object.freeze({ ...initial });
  const listeners = [];
  return {
    get: () => state,
    update(patch) {
      const changed = new Set(Object.keys(patch).filter((key) => !Object.is(state[key], patch[key])));
      if (changed.size === 0) return;
      state = Object.freeze({ ...state, ...patch });
      for (const entry of [...listeners]) {
        if (entry.keys.some((key) => changed.has(key))) entry.listener(state, changed);
      }
    },
    /** Calls `listener(state, changed)` after each update of one of `keys`; returns the unsubscribe function. */
    subscribe(keys, listener) {
      const entry = { keys, listener };
      listeners.push(entry);
      return () => {
        const index = listeners.indexOf(entry);
        if (index >= 0) listeners.splice(index, 1);
      };
    },
  };
}
