// The cvpeer viewer: the page a running node serves on 127.0.0.1 (docs/LOCAL-API.md).
// No framework, no build step, no request to any other host.

import * as api from './api.js';
import { blobs } from './blobs.js';
import { el, setupAskDialog, toast } from './dom.js';
import { Panel } from './panel.js';
import { shortId, Side } from './side.js';
import { Stage } from './stage.js';

const app = {
  me: null,
  doc: null,
  stateHash: null,
  status: null,
  connection: 'connecting',
  denied: false,
  stage: null,
  panel: null,
  side: null,
  socket: null,

  /** A participant's display name: from the document, else `fallback`, else a short key. */
  nameOf(hex, fallback) {
    const profile = this.doc && this.doc.participants && this.doc.participants[hex];
    const name = profile && typeof profile.name === 'string' && profile.name.trim() ? profile.name : fallback;
    return typeof name === 'string' && name.trim() ? name : shortId(hex);
  },

  /** Sends one message on the live socket; false when it is not open. */
  send(message) {
    return Boolean(this.socket && this.socket.send(message));
  },

  /** Opens an item on the stage; `user` for a person's own choice (which ends following). */
  openItem(id, { user = false } = {}) {
    if (user) this.stage.unfollow(true);
    this.stage.open(id, { post: true });
  },

  renderSide() {
    this.side.render();
  },
};

// ---- state and status -------------------------------------------------------------------

let pendingOpen = null; // an item this page shared and wants to open once the document has it

function onState(message) {
  if (!message || typeof message.document !== 'object' || !message.document || !message.me || typeof message.me.id !== 'string') return;
  app.me = message.me;
  app.doc = message.document;
  app.stateHash = typeof message.stateHash === 'string' ? message.stateHash : null;
  app.panel.render();
  app.stage.onDocument();
  app.side.render();
  app.side.renderStatus();
  if (pendingOpen && app.doc.items && app.doc.items[pendingOpen]) {
    const id = pendingOpen;
    pendingOpen = null;
    app.openItem(id, { user: true });
  }
}

function onStatus(message) {
  if (!message || typeof message !== 'object') return;
  app.status = message;
  blobs.onStatus(message);
  app.side.renderStatus();
}

// ---- live socket ------------------------------------------------------------------------

let attempt = 0;
let lastMessageAt = 0;
let reconnectTimer = null;

function setConnection(state, detail) {
  app.connection = state;
  const badge = document.getElementById('conn');
  badge.dataset.state = state;
  badge.textContent = {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: `reconnecting${detail ? ` in ${Math.ceil(detail / 1000)} s` : ''}…`,
    denied: 'access refused',
  }[state] || state;
  badge.title = state === 'denied'
    ? 'The node refused this page: it was probably restarted with a new access token. Open the viewer URL it printed.'
    : state === 'live' ? 'Connected to the node' : 'Waiting for the node';
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (app.denied) return;
  setConnection(attempt === 0 && !app.doc ? 'connecting' : 'reconnecting');
  let socket;
  try {
    socket = api.live({
      onOpen: () => {
        lastMessageAt = Date.now();
      },
      onMessage: (message) => {
        lastMessageAt = Date.now();
        if (attempt !== 0 || app.connection !== 'live') {
          attempt = 0;
          setConnection('live');
        }
        if (!message) return;
        try {
          if (message.type === 'state') onState(message);
          else if (message.type === 'status') onStatus(message);
          else if (message.type === 'pointer') app.stage.onPointer(message);
        } catch (error) {
          console.error('cvpeer viewer: could not apply a live message', error);
        }
      },
      onClose: () => {
        if (app.socket !== socket) return;
        app.socket = null;
        scheduleReconnect();
      },
    });
  } catch {
    scheduleReconnect();
    return;
  }
  app.socket = socket;
}

function scheduleReconnect() {
  if (reconnectTimer || app.denied) return;
  attempt += 1;
  const delay = Math.min(10000, 500 * 2 ** Math.min(attempt - 1, 5)) * (0.8 + Math.random() * 0.4);
  setConnection('reconnecting', delay);
  reconnectTimer = setTimeout(connect, delay);
  // After a few failures, ask over HTTP why: a 403 means the token is stale (node restarted).
  if (attempt >= 3) api.status().catch(() => {});
}

// A live socket that stays silent (the node sends a status every second) is treated as dead.
setInterval(() => {
  const socket = app.socket;
  if (socket && socket.isOpen() && Date.now() - lastMessageAt > 6000) {
    app.socket = null;
    socket.close();
    scheduleReconnect();
  }
}, 2000);

api.setAccessDeniedHandler(() => {
  if (app.denied) return;
  app.denied = true;
  setConnection('denied');
  toast('The node refused this page (it was probably restarted with a new access token). Open the viewer URL it printed.');
});

// ---- uploads ----------------------------------------------------------------------------

const uploadQueue = [];
let uploading = false;

function shareFiles(fileList) {
  const files = [...fileList];
  for (const file of files) {
    const type = file.type || '';
    if (type && !type.startsWith('image/') && !type.startsWith('video/')) {
      toast(`“${file.name}” is not a photo or a video.`);
      continue;
    }
    uploadQueue.push({ file, row: uploadRow(file) });
  }
  pumpUploads();
}

function uploadRow(file) {
  const bar = el('progress', { max: '100', value: '0' });
  const state = el('span', { class: 'upload-state', text: 'waiting' });
  const row = el('div', { class: 'upload', dataset: { state: 'waiting', name: file.name } },
    el('span', { class: 'upload-name', text: file.name }), bar, state);
  const box = document.getElementById('upload-progress');
  box.append(row);
  while (box.childElementCount > 6) box.firstElementChild.remove();
  document.getElementById('transfers-box').open = true;
  return { row, bar, state };
}

async function pumpUploads() {
  if (uploading) return;
  uploading = true;
  try {
    while (uploadQueue.length) {
      const { file, row } = uploadQueue.shift();
      const keepMetadata = document.getElementById('keep-metadata').checked;
      row.row.dataset.state = 'sending';
      try {
        const answer = await api.share(file, {
          keepMetadata,
          onProgress: (loaded, total, done) => {
            const percent = total > 0 ? (100 * loaded) / total : 100;
            row.bar.value = percent;
            row.state.textContent = done ? 'stored, sealing…' : `${percent.toFixed(0)}%`;
          },
        });
        row.bar.value = 100;
        row.row.dataset.state = 'done';
        row.row.dataset.item = String(answer.item || '');
        row.row.dataset.metadataRemoved = answer.metadataRemoved ? 'true' : 'false';
        const removed = Array.isArray(answer.removed) ? answer.removed.filter((r) => typeof r === 'string') : [];
        let note;
        if (answer.metadataRemoved) note = removed.length ? `shared; metadata removed (${removed.join(', ')})` : 'shared; photo metadata removed';
        else if (keepMetadata) note = 'shared; metadata kept, as asked';
        else note = 'shared; no metadata to remove';
        row.state.textContent = note;
        if (typeof answer.item === 'string') {
          pendingOpen = answer.item;
          if (app.doc && app.doc.items && app.doc.items[answer.item]) {
            pendingOpen = null;
            app.openItem(answer.item, { user: true });
          }
        }
      } catch (error) {
        row.row.dataset.state = 'failed';
        row.state.textContent = 'failed';
        toast(`Sharing “${file.name}” failed: ${error.message || error}`);
      }
    }
  } finally {
    uploading = false;
  }
}

function setupUploads() {
  const input = document.getElementById('file-input');
  input.addEventListener('change', () => {
    if (input.files && input.files.length) shareFiles(input.files);
    input.value = '';
  });
  const overlay = document.getElementById('drop-overlay');
  let depth = 0;
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes('Files');
  document.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (event.dataTransfer.files && event.dataTransfer.files.length) shareFiles(event.dataTransfer.files);
  });
}

// ---- start ------------------------------------------------------------------------------

function collapseOnSmallScreens() {
  if (!window.matchMedia('(max-width: 820px)').matches) return;
  for (const id of ['people-box', 'links-box', 'transfers-box']) document.getElementById(id).open = false;
}

function start() {
  setupAskDialog();
  app.panel = new Panel(app);
  app.stage = new Stage(app);
  app.side = new Side(app);
  setupUploads();
  collapseOnSmallScreens();

  // Read-only helpers for automated browser tests.
  const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
  window.cvpeerViewer = Object.freeze({
    state: () => clone({
      me: app.me, document: app.doc, stateHash: app.stateHash, status: app.status, connection: app.connection,
      item: app.stage.item, ready: app.stage.ready, tool: app.stage.tool, following: app.stage.following,
      view: { zoom: app.stage.view.zoom, centre: [app.stage.view.cx, app.stage.view.cy] },
    }),
    zoom: () => app.stage.view.zoom,
    focus: () => app.stage.item,
    view: () => ({ item: app.stage.item, zoom: app.stage.view.zoom, centre: [app.stage.view.cx, app.stage.view.cy], ready: app.stage.ready }),
  });

  connect();
  // The socket sends both at once too; these make the first paint independent of it.
  api.state().then((state) => {
    if (!app.doc) onState(state);
  }).catch((error) => toast(error.message));
  api.status().then((status) => {
    if (!app.status) onStatus(status);
  }).catch(() => {});
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
