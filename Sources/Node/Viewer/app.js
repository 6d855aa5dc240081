// The cvpeer viewer: the page a running node serves on 127.0.0.1 (docs/LOCAL-API.md).
// No framework, no build step, no request to any other host.
//
// This file makes the store, builds the parts with what each needs, and says which part redraws
// after which change. What the node sends goes into the store; the parts read it from there.

import * as api from './api.js';
import { blobs } from './blobs.js';
import { Chat } from './chat.js';
import { keepLive } from './connection.js';
import { setupAskDialog, toast } from './dom.js';
import { Panel } from './panel.js';
import { Side } from './side.js';
import { Stage } from './stage.js';
import { createStore } from './store.js';
import { setupUploads } from './uploads.js';

/** Takes a state message (or GET /api/state's answer) into the store. */
function takeState(store, message) {
  if (!message || typeof message.document !== 'object' || !message.document || !message.me || typeof message.me.id !== 'string') return;
  store.update({
    me: message.me,
    doc: message.document,
    stateHash: typeof message.stateHash === 'string' ? message.stateHash : null,
    prices: message.prices && typeof message.prices === 'object' ? message.prices : {},
  });
}

/** Takes a status message (or GET /api/status's answer) into the store. */
function takeStatus(store, message) {
  if (!message || typeof message !== 'object') return;
  store.update({ status: message });
}

function collapseOnSmallScreens() {
  if (!window.matchMedia('(max-width: 820px)').matches) return;
  for (const id of ['people-box', 'links-box', 'transfers-box']) document.getElementById(id).open = false;
}

function start() {
  setupAskDialog();
  const store = createStore({
    me: null, doc: null, stateHash: null, prices: {}, status: null, connection: 'connecting', item: null, following: null,
  });
  let live = null;
  const stage = new Stage(store, { send: (message) => Boolean(live && live.send(message)) });
  const open = (id) => stage.openByUser(id);
  const panel = new Panel(store, { open });
  const side = new Side(store, { follow: stage.follow });
  const chat = new Chat(store);

  // Who redraws after which change, in this order.
  store.subscribe(['status'], ({ status }) => blobs.onStatus(status));
  store.subscribe(['me', 'doc', 'prices', 'item'], () => panel.render());
  store.subscribe(['me', 'doc'], () => stage.onDocument());
  store.subscribe(['me', 'doc', 'following'], () => side.renderPeople());
  store.subscribe(['me', 'doc'], () => chat.render());
  store.subscribe(['me', 'doc', 'status'], () => side.renderStatus());
  store.subscribe(['status'], () => chat.applyLimits());
  setupUploads(store, { open });
  collapseOnSmallScreens();

  // Read-only helpers for automated browser tests.
  const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
  window.cvpeerViewer = Object.freeze({
    state: () => {
      const { me, doc, stateHash, status, connection } = store.get();
      return clone({ me, document: doc, stateHash, status, connection, ...stage.snapshot() });
    },
    zoom: () => stage.camera.view.zoom,
    focus: () => stage.item,
    view: () => {
      const { item, ready, view } = stage.snapshot();
      return { item, zoom: view.zoom, centre: view.centre, ready };
    },
  });

  live = keepLive(store, {
    onMessage: (message) => {
      if (message.type === 'state') takeState(store, message);
      else if (message.type === 'status') takeStatus(store, message);
      else if (message.type === 'pointer') stage.presence.onPointer(message);
    },
  });
  // The socket sends both at once too; these make the first paint independent of it.
  api.state().then((state) => {
    if (!store.get().doc) takeState(store, state);
  }).catch((error) => toast(error.message));
  api.status().then((status) => {
    if (!store.get().status) takeStatus(store, status);
  }).catch(() => {});
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
