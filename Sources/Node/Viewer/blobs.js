// Which photos and videos can be shown yet, from the status the live feed pushes: each visible
// item's blob is `complete`, `arriving` (have/total chunks) or `failed`. The viewer never asks the
// blob itself to learn this.

import * as api from './api.js';
import { isHex } from './dom.js';

const FAILED = 'Its chunks do not make up the file a member named (a damaged or forged file).';

class BlobTracker {
  constructor() {
    this.blobs = new Map(); // hex -> {state, have, total, percent, error, listeners}
  }

  url(hex) {
    return api.blobURL(hex);
  }

  info(hex) {
    const key = hex.toLowerCase();
    let info = this.blobs.get(key);
    if (!info) {
      info = { state: 'unknown', have: 0, total: 0, percent: null, error: null, listeners: new Set() };
      this.blobs.set(key, info);
    }
    return info;
  }

  /** Calls `listener(info)` now and on every change; returns the function that stops it. */
  watch(hex, listener) {
    if (!isHex(hex)) {
      listener({ state: 'failed', error: 'bad blob id' });
      return () => {};
    }
    const info = this.info(hex);
    info.listeners.add(listener);
    listener(info);
    return () => info.listeners.delete(listener);
  }

  notify(info) {
    for (const listener of [...info.listeners]) {
      try {
        listener(info);
      } catch (error) {
        console.error(error);
      }
    }
  }

  /** Takes the blobs of a STATUS: each one's state and progress. */
  onStatus(status) {
    for (const line of Array.isArray(status && status.blobs) ? status.blobs : []) {
      if (!line || !isHex(line.blob)) continue;
      const info = this.info(line.blob);
      const have = Number(line.have);
      const total = Number(line.total);
      const state = line.state === 'complete' ? 'ready' : line.state === 'failed' ? 'failed' : 'arriving';
      const changed = state !== info.state || have !== info.have || total !== info.total;
      info.state = state;
      info.have = Number.isFinite(have) ? have : 0;
      info.total = Number.isFinite(total) ? total : 0;
      info.percent = info.total > 0 ? (100 * info.have) / info.total : null;
      info.error = state === 'failed' ? FAILED : null;
      if (changed) this.notify(info);
    }
  }
}

export const blobs = new BlobTracker();
