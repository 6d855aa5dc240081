// Which photos and videos can be shown yet. A blob is probed (api.probeBlob): here, or its chunks
// are still arriving. Arriving blobs are probed again when the status no longer lists them as a
// transfer in progress (and, as a fallback, every few seconds).

import * as api from './api.js';
import { isHex } from './dom.js';

class BlobTracker {
  constructor() {
    this.blobs = new Map(); // hex -> {state, have, total, percent, error, listeners, timer, delay}
    this.transfers = new Map(); // hex -> transfer from STATUS
  }

  url(hex) {
    return api.blobURL(hex);
  }

  info(hex) {
    let info = this.blobs.get(hex);
    if (!info) {
      info = { state: 'unknown', have: 0, total: 0, percent: null, error: null, listeners: new Set(), timer: null, delay: 2000 };
      this.blobs.set(hex, info);
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
    if (info.state === 'unknown') this.probe(hex);
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

  probe(hex) {
    const info = this.info(hex);
    if (info.state === 'probing' || info.state === 'ready') return;
    clearTimeout(info.timer);
    info.timer = null;
    const wasArriving = info.state === 'arriving';
    info.state = 'probing';
    info.lastProbe = Date.now();
    api.probeBlob(hex)
      .then(({ ok, status, body }) => {
        if (ok) {
          info.state = 'ready';
          info.delay = 2000;
        } else {
          if (status === 409) {
            info.state = 'arriving';
            // `have` and `total` are chunk counts (numbers, or numbers in strings).
            const have = Number(body && body.have);
            const total = Number(body && body.total);
            if (Number.isFinite(have) && Number.isFinite(total)) {
              info.have = have;
              info.total = total;
              if (info.percent === null && total > 0) info.percent = (100 * have) / total;
            }
          } else {
            info.state = 'failed';
            info.error = body && typeof body.error === 'string' ? body.error : `The node answered ${status}.`;
          }
          this.retryLater(hex, info.state === 'failed' ? 10000 : undefined);
        }
        this.notify(info);
      })
      .catch(() => {
        if (info.state === 'ready') return; // the abort after a good head
        info.state = wasArriving ? 'arriving' : 'failed';
        info.error = 'The node does not answer.';
        this.retryLater(hex, 5000);
        this.notify(info);
      });
  }

  retryLater(hex, delay) {
    const info = this.info(hex);
    clearTimeout(info.timer);
    const wait = delay ?? info.delay;
    info.delay = Math.min(info.delay * 1.5, 15000);
    info.timer = setTimeout(() => {
      info.timer = null;
      if (info.listeners.size > 0) this.probe(hex);
      else info.state = 'unknown';
    }, wait);
  }

  /** Takes the transfers of a STATUS: updates percentages and re-probes finished ones. */
  onStatus(status) {
    const transfers = new Map();
    for (const transfer of Array.isArray(status && status.transfers) ? status.transfers : []) {
      if (transfer && typeof transfer.blob === 'string') transfers.set(transfer.blob.toLowerCase(), transfer);
    }
    this.transfers = transfers;
    for (const [hex, info] of this.blobs) {
      if (info.state !== 'arriving') continue;
      const transfer = transfers.get(hex.toLowerCase());
      if (transfer) {
        const percent = Number(transfer.percent);
        if (Number.isFinite(percent)) info.percent = percent;
        const have = Number(transfer.have);
        const total = Number(transfer.total);
        if (Number.isFinite(have)) info.have = have;
        if (Number.isFinite(total)) info.total = total;
        const complete = Number.isFinite(total) && total > 0 && have >= total;
        if (complete) this.probe(hex);
        else this.notify(info);
      } else if (info.inTransfer || Date.now() - (info.lastProbe || 0) > 5000) {
        // No longer in transfer: complete (or stalled without a peer); look again.
        this.probe(hex);
      }
      info.inTransfer = Boolean(transfer);
    }
  }
}

export const blobs = new BlobTracker();
