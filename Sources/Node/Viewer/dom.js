// Small DOM helpers. Every string from the document (names, titles, chat, labels) is untrusted:
// it only ever becomes a text node or an attribute value, never markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Sets props on a node: `class`, `text`, `dataset`, `on<event>`, else an attribute. */
function assign(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.setAttribute('class', value);
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'dataset') for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  return node;
}

/** Creates an HTML element; string children become text nodes. */
export function el(tag, props, ...children) {
  const node = assign(document.createElement(tag), props);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** Creates an SVG element. */
export function svg(tag, props, ...children) {
  const node = assign(document.createElementNS(SVG_NS, tag), props);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// ---- toasts -------------------------------------------------------------------------------

/** Shows a short message in the corner; `kind` is error, info or ok. */
export function toast(message, kind = 'error') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const text = String(message ?? '').slice(0, 400);
  // The same message twice in a row (a failing retry loop) is shown once.
  const last = box.lastElementChild;
  if (last && last.dataset.text === text) {
    last.dataset.count = String(Number(last.dataset.count || '1') + 1);
    last.querySelector('.count').textContent = ` ×${last.dataset.count}`;
    return;
  }
  const node = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { text } },
    el('span', { text }), el('span', { class: 'count' }));
  node.addEventListener('click', () => node.remove());
  box.append(node);
  while (box.childElementCount > 4) box.firstElementChild.remove();
  setTimeout(() => node.remove(), kind === 'error' ? 7000 : 4000);
}

/** Resolves to what `promise` resolves to, or to null after showing its failure as a toast. */
export async function orToast(promise) {
  try {
    return await promise;
  } catch (error) {
    toast(error.message || String(error));
    return null;
  }
}

// ---- asking for a line of text ----------------------------------------------------------

let askPending = null;

/**
 * Asks for one line of text in a small modal dialog; `maxLength` (characters) is the node's bound
 * for the field (`limits` in STATUS), none when not known yet.
 * Resolves to the text (possibly empty when `required` is false) or null when cancelled.
 */
export function ask({ label, placeholder = '', value = '', required = false, maxLength }) {
  const dialog = document.getElementById('ask-dialog');
  const input = document.getElementById('ask-input');
  if (askPending) askPending(null);
  document.getElementById('ask-label').textContent = label;
  input.value = value;
  input.placeholder = placeholder;
  input.required = required;
  if (maxLength > 0) input.maxLength = maxLength;
  else input.removeAttribute('maxlength');
  dialog.returnValue = '';
  return new Promise((resolve) => {
    const finish = (result) => {
      dialog.removeEventListener('close', onClose);
      askPending = null;
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onClose = () => finish(dialog.returnValue === 'ok' ? input.value.trim() : null);
    askPending = finish;
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    input.focus();
  });
}

export function setupAskDialog() {
  const dialog = document.getElementById('ask-dialog');
  document.getElementById('ask-cancel').addEventListener('click', () => dialog.close('cancel'));
  // Closed by hand rather than by `method="dialog"`, so that no form submission happens at all
  // (the page's CSP has `form-action 'none'`).
  document.getElementById('ask-form').addEventListener('submit', (event) => {
    event.preventDefault();
    dialog.close('ok');
  });
}

// ---- formatting ----------------------------------------------------------------------------

/** An http(s) URL as a string, or null for anything else (javascript:, data:, relative…). */
export function safeHttpURL(text) {
  if (typeof text !== 'string') return null;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

export function formatTime(time) {
  const millis = Number(time && time.millis);
  if (!Number.isFinite(millis)) return '';
  const date = new Date(millis);
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function formatBytes(n) {
  n = Number(n);
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A stable colour for a participant, from its key. */
export function participantColour(hex) {
  let h = 0;
  for (let i = 0; i < Math.min(16, (hex || '').length); i++) h = (h * 31 + hex.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 75% 42%)`;
}

/** `#RRGGBB` or `#RRGGBBAA` from the document, or a neutral grey for anything else. */
export function safeColour(text) {
  return typeof text === 'string' && /^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(text) ? text : '#808080';
}

export const isHex = (text) => typeof text === 'string' && /^[0-9a-fA-F]{2,256}$/.test(text);
