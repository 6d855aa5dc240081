// The node's local API (docs/LOCAL-API.md): JSON over fetch, uploads over XHR (for upload
// progress), and the blob tracker that knows which photos and videos are here yet.

import { isHex, toast } from './dom.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let onAccessDenied = () => {};
/** Called once a request is refused (403): the token in the cookie is not this node's any more. */
export function setAccessDeniedHandler(handler) {
  onAccessDenied = handler;
}

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'The node does not answer. Is it still running?');
  }
  const text = await response.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 403) onAccessDenied();
    const message = data && typeof data.error === 'string' ? data.error : `The node answered ${response.status}.`;
    throw new ApiError(response.status, message, data);
  }
  return data ?? {};
}

export const getJSON = (path) => request('GET', path);
export const postJSON = (path, body) => request('POST', path, body);

/** Posts and shows any failure as a toast; resolves to the answer or null. */
export async function act(path, body) {
  try {
    return await postJSON(path, body);
  } catch (error) {
    toast(error.message || String(error));
    return null;
  }
}

/**
 * Uploads one file to `/api/share` with XMLHttpRequest, for `upload.onprogress`.
 * Resolves to the node's answer, rejects with an ApiError.
 */
export function upload(file, { keepMetadata = false, onProgress = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const query = new URLSearchParams({ name: file.name || 'upload' });
    if (keepMetadata) query.set('keepMetadata', '1');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/share?${query}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.upload.onload = () => onProgress(file.size, file.size, true);
    xhr.onerror = () => reject(new ApiError(0, 'The upload broke off: the node does not answer.'));
    xhr.onabort = () => reject(new ApiError(0, 'The upload was cancelled.'));
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else {
        if (xhr.status === 403) onAccessDenied();
        reject(new ApiError(xhr.status, data && typeof data.error === 'string' ? data.error : `The node answered ${xhr.status}.`, data));
      }
    };
    xhr.send(file);
  });
}

// ---- blobs ---------------------------------------------------------------------------------

/**
 * Which blobs can be shown. A blob is probed with a GET that is cut off as soon as the answer's
 * head arrives: 200 means it is here, 409 that its chunks are still arriving. Arriving blobs are
 * probed again when the status no longer lists them as a transfer in progress (and, as a fallback,
 * every few seconds).
 */
class BlobTracker {
  constructor() {
    this.blobs = new Map(); // hex -> {state, have, total, percent, error, listeners, timer, delay}
    this.transfers = new Map(); // hex -> transfer from STATUS
  }

  url(hex) {
    return `/api/blobs/${hex}`;
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
    const controller = new AbortController();
    fetch(this.url(hex), { signal: controller.signal, cache: 'no-store', credentials: 'same-origin' })
      .then(async (response) => {
        if (response.ok) {
          controller.abort(); // only the head was wanted; the element loads the body itself
          info.state = 'ready';
          info.delay = 2000;
        } else {
          let data = null;
          try {
            data = await response.json();
          } catch {
            data = null;
          }
          if (response.status === 409) {
            info.state = 'arriving';
            // `have` and `total` are chunk counts (numbers, or numbers in strings).
            const have = Number(data && data.have);
            const total = Number(data && data.total);
            if (Number.isFinite(have) && Number.isFinite(total)) {
              info.have = have;
              info.total = total;
              if (info.percent === null && total > 0) info.percent = (100 * have) / total;
            }
          } else {
            info.state = 'failed';
            info.error = data && typeof data.error === 'string' ? data.error : `The node answered ${response.status}.`;
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
