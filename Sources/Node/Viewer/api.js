// The node's local API (docs/LOCAL-API.md): one function per route, named after it, and every
// fetch, XMLHttpRequest and WebSocket detail of the page. Each function resolves to the node's
// answer and rejects with an ApiError carrying the node's one-line message.

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

const post = (path, body) => request('POST', path, body);

// ---- reading ------------------------------------------------------------------------------

/** GET /api/state: `{me, document, stateHash, prices}`. */
export const state = () => request('GET', '/api/state');
/** GET /api/status: STATUS. */
export const status = () => request('GET', '/api/status');

// ---- edits --------------------------------------------------------------------------------

/** POST /api/mark: `shape` as the API takes it (fractions); resolves to `{mark}`. */
export const mark = (item, shape, colour, during) => post('/api/mark', during ? { item, shape, colour, during } : { item, shape, colour });
/** POST /api/items/ITEM/playback: the shared playback `{playing, positionMillis, rate}`; resolves to `{event}`. */
export const playback = (item, body) => post(`/api/items/${encodeURIComponent(item)}/playback`, body);
/** POST /api/unmark: removes one's own mark. */
export const unmark = (markId) => post('/api/unmark', { mark: markId });
/** POST /api/view: one's viewport on `item` (and focus on it). */
export const view = (item, zoom, centre) => post('/api/view', { item, zoom, centre });
/** POST /api/focus: the item one looks at, or null. */
export const focus = (item) => post('/api/focus', { item });
/** POST /api/recommend: resolves to `{event}`. */
export const recommend = (item, note) => post('/api/recommend', { item, note });
/** POST /api/cart: resolves to `{event}`. */
export const cart = (item, quantity) => post('/api/cart', { item, quantity });
/** POST /api/buy: resolves to `{event}`. */
export const buy = (item, quantity) => post('/api/buy', { item, quantity });
/** POST /api/say: resolves to `{message}`. */
export const say = (text) => post('/api/say', { text });
/** POST /api/remove: takes an item off the panel. */
export const remove = (item) => post('/api/remove', { item });
/** POST /api/admit: the owner admits (true) or refuses (false) a join request. */
export const admit = (participant, yes) => post('/api/admit', { participant, admit: yes });
/** POST /api/epoch: the owner removes members; resolves to `{epoch, invite}`. */
export const epoch = (removeParticipants) => post('/api/epoch', { remove: removeParticipants });
/** POST /api/code: an agent's one-time short code; resolves to `{code, nameplate, expires}`. */
export const code = () => post('/api/code', {});

/**
 * POST /api/share: uploads one file with XMLHttpRequest, for `upload.onprogress`
 * (`onProgress(loaded, total, done)`). Resolves to the node's answer.
 */
export function share(file, { keepMetadata = false, onProgress = () => {} } = {}) {
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

// ---- blobs --------------------------------------------------------------------------------

/** GET /api/blobs/HEX, as an element's `src`. */
export const blobURL = (hex) => `/api/blobs/${hex}`;

// ---- live feed ----------------------------------------------------------------------------

/**
 * Opens WebSocket /api/live. `onOpen()`; `onMessage(object)` for each frame (null for one that is
 * not JSON); `onClose()`. Returns `{send(message) → bool, close(), isOpen()}`; throws when the
 * browser cannot even start the socket.
 */
export function live({ onOpen = () => {}, onMessage = () => {}, onClose = () => {} }) {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/live`);
  socket.addEventListener('open', () => onOpen());
  socket.addEventListener('message', (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      message = null;
    }
    onMessage(message);
  });
  socket.addEventListener('close', () => onClose());
  return {
    isOpen: () => socket.readyState === WebSocket.OPEN,
    send(message) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      try {
        socket.send(JSON.stringify(message));
        return true;
      } catch {
        return false;
      }
    },
    close() {
      try {
        socket.close();
      } catch {
        /* already closed */
      }
    },
  };
}
