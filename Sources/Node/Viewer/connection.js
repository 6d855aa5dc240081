// The live feed kept open: reconnects with backoff, treats a silent socket as dead, shows the
// connection's state in the top bar (`connection` in the store), and stops for good once the node
// refuses the page (a stale token).

import * as api from './api.js';
import { toast } from './dom.js';

const SILENCE_LIMIT = 6000; // ms without a frame (the node sends a status every second)

/**
 * Opens the live feed and keeps it open. `onMessage(message)` gets every JSON frame. Returns
 * `{send(message) → bool}` for the page's own messages (the pointer).
 */
export function keepLive(store, { onMessage }) {
  const badge = document.getElementById('conn');
  let socket = null;
  let denied = false;
  let attempt = 0;
  let lastMessageAt = 0;
  let reconnectTimer = null;

  function show(state, detail) {
    store.update({ connection: state });
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
    if (denied) return;
    show(attempt === 0 && !store.get().doc ? 'connecting' : 'reconnecting');
    let opened;
    try {
      opened = api.live({
        onOpen: () => {
          lastMessageAt = Date.now();
        },
        onMessage: (message) => {
          lastMessageAt = Date.now();
          if (attempt !== 0 || store.get().connection !== 'live') {
            attempt = 0;
            show('live');
          }
          if (!message) return;
          try {
            onMessage(message);
          } catch (error) {
            console.error('cvpeer viewer: could not apply a live message', error);
          }
        },
        onClose: () => {
          if (socket !== opened) return;
          socket = null;
          scheduleReconnect();
        },
      });
    } catch {
      scheduleReconnect();
      return;
    }
    socket = opened;
  }

  function scheduleReconnect() {
    if (reconnectTimer || denied) return;
    attempt += 1;
    const delay = Math.min(10000, 500 * 2 ** Math.min(attempt - 1, 5)) * (0.8 + Math.random() * 0.4);
    show('reconnecting', delay);
    reconnectTimer = setTimeout(connect, delay);
    // After a few failures, ask over HTTP why: a 403 means the token is stale (node restarted).
    if (attempt >= 3) api.status().catch(() => {});
  }

  // A live socket that stays silent is treated as dead.
  setInterval(() => {
    const current = socket;
    if (current && current.isOpen() && Date.now() - lastMessageAt > SILENCE_LIMIT) {
      socket = null;
      current.close();
      scheduleReconnect();
    }
  }, 2000);

  api.setAccessDeniedHandler(() => {
    if (denied) return;
    denied = true;
    show('denied');
    toast('The node refused this page (it was probably restarted with a new access token). Open the viewer URL it printed.');
  });

  connect();
  return { send: (message) => Boolean(socket && socket.send(message)) };
}
