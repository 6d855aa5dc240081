// The chat column: messages and commerce events (recommend, cart, purchase) in time order, and
// the line to say something.

import * as api from './api.js';
import { el, formatTime, orToast, participantColour } from './dom.js';
import { itemTitle, limit, nameOf } from './model.js';

export class Chat {
  constructor(store) {
    this.store = store;
    this.log = document.getElementById('chat-log');
    this.input = document.getElementById('chat-input');
    this.signature = null;
    document.getElementById('chat-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.say();
    });
  }

  async say() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.disabled = true;
    const answer = await orToast(api.say(text));
    this.input.disabled = false;
    if (answer) this.input.value = '';
    this.input.focus();
  }

  /** The input's bound: the node's for a message (`textBytes`), once the status says it. */
  applyLimits() {
    const most = limit(this.store.get(), 'textBytes');
    if (most && this.input.maxLength !== most) this.input.maxLength = most;
  }

  render() {
    const { doc, me } = this.store.get();
    if (!doc || !me) return;
    const chat = Array.isArray(doc.chat) ? doc.chat.filter((m) => m && typeof m.id === 'string') : [];
    const commerce = Array.isArray(doc.commerce) ? doc.commerce.filter((e) => e && typeof e.id === 'string') : [];
    const names = Object.entries(doc.participants || {}).map(([id, p]) => [id, p && p.name]);
    const signature = JSON.stringify([chat.map((m) => m.id), commerce.map((e) => e.id), names, me.id,
      commerce.map((e) => (doc.items && doc.items[e.item] ? itemTitle(doc.items[e.item]) : null))]);
    if (signature === this.signature) return;
    this.signature = signature;
    const entries = [
      ...chat.map((m) => ({ kind: 'chat', time: m.time, value: m })),
      ...commerce.map((e) => ({ kind: 'commerce', time: e.time, value: e })),
    ];
    entries.sort((a, b) => timeKey(a.time) - timeKey(b.time) || (a.time && b.time ? (a.time.logical || 0) - (b.time.logical || 0) : 0));
    const log = this.log;
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.replaceChildren(...entries.map((entry) => (entry.kind === 'chat' ? this.chatLine(doc, me, entry.value) : this.commerceLine(doc, me, entry.value))));
    if (nearBottom) log.scrollTop = log.scrollHeight;
  }

  chatLine(doc, me, message) {
    const mine = message.author === me.id;
    const who = el('span', { class: 'who', text: mine ? 'you' : nameOf(doc, message.author) });
    who.style.color = participantColour(message.author);
    return el('li', { class: `chat-line${mine ? ' mine' : ''}`, dataset: { id: message.id, author: String(message.author || '') } },
      who, el('time', { text: formatTime(message.time) }), el('span', { class: 'text', text: String(message.text ?? '') }));
  }

  commerceLine(doc, me, event) {
    const by = event.by === me.id ? 'You' : nameOf(doc, event.by);
    const item = doc.items && doc.items[event.item];
    const title = item ? `“${itemTitle(item)}”` : 'an item';
    let text;
    if (event.kind === 'recommend') text = `${by} recommended ${title}${event.note ? `: ${event.note}` : ''}`;
    else if (event.kind === 'addToCart') text = `${by} added ${event.quantity > 1 ? `${event.quantity} × ` : ''}${title} to the cart`;
    else if (event.kind === 'purchase') text = `${by} bought ${event.quantity > 1 ? `${event.quantity} × ` : ''}${title}`;
    else text = `${by}: ${String(event.kind)} ${title}`;
    const icon = { recommend: '★', addToCart: '+', purchase: '✔' }[event.kind] || '•';
    return el('li', { class: `commerce-line kind-${String(event.kind)}`, dataset: { id: event.id } },
      el('span', { class: 'icon', text: icon }), el('time', { text: formatTime(event.time) }), el('span', { class: 'text', text }));
  }
}

function timeKey(time) {
  const millis = Number(time && time.millis);
  return Number.isFinite(millis) ? millis : 0;
}
