// The side column: who is here, links and safety numbers, join requests, the room's epoch,
// short codes and transfers (the chat is chat.js).

import * as api from './api.js';
import { el, formatBytes, orToast, participantColour, toast } from './dom.js';
import { itemTitle, nameOf, shortId } from './model.js';

const ROLE_LABEL = { agent: 'agent', customer: 'customer', guest: 'guest' };

/** `follow` is the stage's Follow (follow(id), unfollow(byUser)) for the people's Follow buttons. */
export class Side {
  constructor(store, { follow }) {
    this.store = store;
    this.follow = follow;
    this.people = document.getElementById('people');
    this.peers = document.getElementById('peers');
    this.safety = document.getElementById('safety-number');
    this.transfers = document.getElementById('transfers');
    this.room = document.getElementById('room');
  }

  // ---- who is here ----------------------------------------------------------------------

  /** Rows are kept and updated in place, so a click on "Follow" never lands on a replaced node. */
  renderPeople() {
    const { doc, me, status, following } = this.store.get();
    if (!doc || !me) return;
    const linked = new Set((status && Array.isArray(status.peers) ? status.peers : []).map((p) => p && p.id));
    const removed = new Set((status && Array.isArray(status.removals) ? status.removals : []).map((r) => r && r.id));
    const members = new Set((status && Array.isArray(status.members) ? status.members : []).map((m) => m && m.id));
    // Only the room's owner removes members; every replica would refuse anyone else's removal.
    const owner = status && status.me && status.me.owner === true;
    const participants = Object.entries(doc.participants || {}).filter(([id]) => typeof id === 'string');
    participants.sort(([a, pa], [b, pb]) => {
      if (a === me.id) return -1;
      if (b === me.id) return 1;
      return String(pa && pa.name).localeCompare(String(pb && pb.name)) || a.localeCompare(b);
    });
    this.personRows = this.personRows || new Map();
    const seen = new Set(participants.map(([id]) => id));
    for (const [id, row] of this.personRows) {
      if (!seen.has(id)) {
        row.node.remove();
        this.personRows.delete(id);
      }
    }
    participants.forEach(([id, profile], index) => {
      let row = this.personRows.get(id);
      if (!row) {
        row = this.personRow(id);
        this.personRows.set(id, row);
      }
      const isMe = id === me.id;
      const online = isMe || linked.has(id);
      const name = (profile && profile.name) || shortId(id);
      const gone = removed.has(id);
      row.node.className = `person${isMe ? ' me' : ''}${online ? ' online' : ' offline'}${gone ? ' removed' : ''}`;
      setText(row.name, name);
      setText(row.role, ROLE_LABEL[profile && profile.role] || 'guest');
      setText(row.tag, isMe ? 'you' : gone ? 'removed' : online ? 'linked' : 'not linked');
      row.remove.hidden = !owner || isMe || gone || !members.has(id);
      row.remove.onclick = () => this.removeParticipant(id, name);
      row.tag.className = isMe ? 'you' : 'presence';
      row.tag.title = isMe ? '' : online ? 'Linked to this node now' : 'Not linked to this node right now';
      const focus = doc.focus && doc.focus[id];
      const focusItem = focus && typeof focus.item === 'string' && doc.items && doc.items[focus.item];
      setText(row.looking, focusItem ? `looking at ${itemTitle(focusItem)}` : '');
      row.looking.hidden = !focusItem;
      row.follow.hidden = isMe;
      const followed = following === id;
      row.follow.setAttribute('aria-pressed', followed ? 'true' : 'false');
      setText(row.follow, followed ? 'Following' : 'Follow');
      row.follow.title = followed ? 'Stop following' : `Show what ${name} sees: their item, zoom and pan`;
      if (this.people.children[index] !== row.node) this.people.insertBefore(row.node, this.people.children[index] || null);
    });
  }

  personRow(id) {
    const swatch = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.backgroundColor = participantColour(id);
    const name = el('span', { class: 'name' });
    const role = el('span', { class: 'role' });
    const tag = el('span', { class: 'presence' });
    const looking = el('span', { class: 'looking' });
    const follow = el('button', {
      type: 'button', class: 'follow', dataset: { participant: id },
      onclick: () => (this.store.get().following === id ? this.follow.unfollow(false) : this.follow.follow(id)),
    });
    const remove = el('button', { type: 'button', class: 'act-remove-member', hidden: true, title: 'Remove from the room and change its keys' }, 'Remove');
    const node = el('li', { class: 'person', dataset: { participant: id } }, swatch, name, role, tag, looking, follow, remove);
    return { node, name, role, tag, looking, follow, remove };
  }

  /** The owner removes a member: a new epoch, whose key the removed one never gets. */
  async removeParticipant(id, name) {
    if (!window.confirm(`Remove ${name} from the room? Their links close, nothing they write counts any more, and they receive nothing new. They keep what they have already seen.`)) return;
    const answer = await orToast(api.epoch([id]));
    if (answer) toast(`${name} was removed; the room's keys changed (epoch ${Number(answer.epoch)}). New members need the new invite (cvpeer status).`, 'ok');
  }

  /** An agent gives a one-time short code to read out on the phone (through the rendezvous). */
  renderCodes(status) {
    if (!this.codeBox) {
      this.codeOut = el('span', { class: 'code-out', 'aria-live': 'polite' });
      this.codeButton = el('button', { type: 'button', class: 'act-give-code', onclick: () => this.giveCode() }, 'Give a code');
      this.codeBox = el('div', { class: 'give-code', id: 'give-code' }, this.codeButton, this.codeOut);
      this.peers.after(this.codeBox);
    }
    const agent = status.me && status.me.role === 'agent';
    this.codeBox.hidden = !(agent && typeof status.rendezvous === 'string' && status.rendezvous);
    const codes = Array.isArray(status.codes) ? status.codes : [];
    const last = codes.length ? codes[codes.length - 1] : null;
    if (this.shownCode && last && last.nameplate === this.shownCode.nameplate && last.state !== 'waiting') {
      const said = { used: 'was used: they are in', burnt: 'was typed wrong and is used up; give a new one', expired: 'expired', failed: 'failed', cancelled: 'was closed because the room’s keys changed; give a new one' }[last.state] || String(last.state);
      setText(this.codeOut, `Code ${Number(last.nameplate)} ${said}.`);
      this.shownCode = null;
    }
  }

  async giveCode() {
    this.codeButton.disabled = true;
    const answer = await orToast(api.code());
    this.codeButton.disabled = false;
    if (!answer || typeof answer.code !== 'string') return;
    this.shownCode = answer;
    const until = new Date(Number(answer.expires)).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    setText(this.codeOut, `Read out: ${answer.code} (works once, until ${until}). They run cvpeer join --rendezvous ${this.store.get().status.rendezvous} and type it.`);
  }

  /** The room's epoch, and who was removed, when and by whom. */
  renderEpoch(status) {
    if (!this.epochBox) {
      this.epochBox = el('p', { class: 'muted epoch', id: 'epoch' });
      this.peers.after(this.epochBox);
    }
    const epoch = status.epoch && Number.isInteger(status.epoch.room) ? status.epoch.room : 0;
    const removals = Array.isArray(status.removals) ? status.removals.filter((r) => r && typeof r.id === 'string') : [];
    const { doc } = this.store.get();
    const lines = removals.map((r) => `${nameOf(doc, r.id, r.name)} was removed by ${nameOf(doc, r.by, r.byName)} on ${new Date(Number(r.at)).toLocaleString()}`);
    if (status.epoch && status.epoch.removedFromRoom === true) lines.unshift('The room’s owner removed you: nothing you write counts any more, and nothing new reaches you.');
    setText(this.epochBox, epoch > 0 || lines.length ? [`Keys: epoch ${epoch}.`, ...lines].join(' ') : '');
    this.epochBox.hidden = epoch === 0 && lines.length === 0;
  }

  // ---- status: room, links, safety numbers, transfers -------------------------------------

  renderStatus() {
    const { status, doc } = this.store.get();
    if (!status) return;
    setText(this.room, typeof status.room === 'string' && status.room ? `room ${status.room}` : '');
    this.renderPeople();
    const peers = Array.isArray(status.peers) ? status.peers.filter((p) => p && typeof p.id === 'string') : [];
    const transfers = Array.isArray(status.transfers) ? status.transfers.filter(Boolean) : [];
    this.renderPeers(peers, status);
    this.renderSafety(peers);
    this.renderTransfers(transfers, doc);
  }

  /** Peer rows are updated in place: the round-trip time changes every second, and a person may be selecting the safety number to copy it. */
  renderPeers(peers, status) {
    this.peerRows = this.peerRows || new Map();
    const seen = new Set(peers.map((p) => p.id));
    for (const [id, row] of this.peerRows) {
      if (!seen.has(id)) {
        row.node.remove();
        this.peerRows.delete(id);
      }
    }
    if (!this.noPeer) this.noPeer = el('li', { class: 'muted no-peer' });
    setText(this.noPeer, status.rendezvous ? `No peer linked yet (rendezvous ${status.rendezvous}).` : 'No peer linked yet.');
    if (peers.length === 0) {
      if (this.noPeer.parentNode !== this.peers) this.peers.append(this.noPeer);
    } else this.noPeer.remove();
    // A participant who signed two versions of one change (the node detects it; see docs/LOCAL-API.md).
    if (!this.cheats) {
      this.cheats = el('p', { class: 'warning equivocation' });
      this.peers.after(this.cheats);
    }
    const { doc } = this.store.get();
    const cheats = Array.isArray(status.equivocators) ? status.equivocators : [];
    setText(this.cheats, cheats.length
      ? `Warning: ${cheats.map((c) => nameOf(doc, c.id, c.name)).join(', ')} signed two different versions of the same change; every node leaves their edits from then on out.`
      : '');
    this.cheats.hidden = cheats.length === 0;
    this.renderJoinRequests(Array.isArray(status.joinRequests) ? status.joinRequests : []);
    this.renderEpoch(status);
    this.renderCodes(status);
    peers.forEach((peer, index) => {
      let row = this.peerRows.get(peer.id);
      if (!row) {
        const name = el('strong');
        const path = el('span');
        const rtt = el('span', { class: 'rtt', title: 'Round-trip time' });
        const sync = el('span', { class: 'sync' });
        const address = el('div', { class: 'address muted' });
        const safety = el('span', { class: 'safety-digits' });
        const node = el('li', { class: 'peer', dataset: { peer: peer.id } },
          el('div', { class: 'peer-line' }, name, path, rtt, sync), address,
          el('div', { class: 'peer-safety' }, el('span', { class: 'muted', text: 'safety number ' }), safety));
        row = { node, name, path, rtt, sync, address, safety };
        this.peerRows.set(peer.id, row);
      }
      const path = peer.path === 'relayed' ? 'relayed' : 'direct';
      const rtt = Number(peer.rttMillis);
      row.node.dataset.path = path;
      setText(row.name, nameOf(doc, peer.id, peer.name));
      setText(row.path, path);
      row.path.className = `path ${path}`;
      row.path.title = path === 'relayed' ? 'Packets go through the rendezvous relay, still end-to-end encrypted' : 'Packets go straight between the two computers';
      setText(row.rtt, peer.rttMillis !== undefined && peer.rttMillis !== null && Number.isFinite(rtt) ? `${rtt < 10 ? rtt.toFixed(1) : rtt.toFixed(0)} ms` : '– ms');
      setText(row.sync, typeof peer.sync === 'string' ? peer.sync : '');
      setText(row.address, typeof peer.address === 'string' ? peer.address : '');
      row.address.hidden = !(typeof peer.address === 'string' && peer.address);
      setText(row.safety, String(peer.safetyNumber || ''));
      if (this.peers.children[index] !== row.node) this.peers.insertBefore(row.node, this.peers.children[index] || null);
    });
  }

  /** The safety numbers, large, to compare aloud. */
  renderSafety(peers) {
    const { doc } = this.store.get();
    const safety = peers.filter((p) => typeof p.safetyNumber === 'string' && p.safetyNumber);
    const signature = JSON.stringify(safety.map((p) => [p.id, p.safetyNumber, nameOf(doc, p.id, p.name)]));
    if (signature === this.safetySignature) return;
    this.safetySignature = signature;
    this.safety.replaceChildren(
      el('p', { class: 'muted', text: safety.length ? 'Compare the safety number with the other person (by phone or face to face). The same digits on both sides mean nobody is in between.' : 'The safety number appears once a peer is linked.' }),
      ...safety.map((peer) => el('div', { class: 'safety-entry', dataset: { peer: peer.id } },
        el('span', { class: 'safety-name', text: nameOf(doc, peer.id, peer.name) }),
        el('span', { class: 'safety-digits', text: peer.safetyNumber }))),
    );
  }

  renderTransfers(transfers, doc) {
    const signature = JSON.stringify([transfers, transfers.map((t) => (doc && doc.items && doc.items[t.item] ? itemTitle(doc.items[t.item]) : null))]);
    if (signature === this.transfersSignature) return;
    this.transfersSignature = signature;
    this.transfers.replaceChildren(...(transfers.length
      ? transfers.map((transfer) => {
        const percent = Math.max(0, Math.min(100, Number(transfer.percent) || 0));
        const item = doc && doc.items && typeof transfer.item === 'string' ? doc.items[transfer.item] : null;
        return el('li', { class: 'transfer', dataset: { blob: String(transfer.blob || ''), item: String(transfer.item || '') } },
          el('span', { class: 'transfer-name', text: item ? itemTitle(item) : 'file' }),
          el('progress', { max: '100', value: String(percent) }),
          el('span', { class: 'percent', text: `${percent.toFixed(0)}%` }),
          el('span', { class: 'muted', text: `${formatBytes(transfer.bytes)} of ${formatBytes(transfer.size)}` }));
      })
      : [el('li', { class: 'muted', text: 'No transfer in progress.' })]));
  }

  /** `host --approve`: who waits for the owner's decision, with Admit and Refuse (owner's viewer only). */
  renderJoinRequests(requests) {
    if (!this.joinBox) {
      this.joinBox = el('div', { class: 'join-requests', id: 'join-requests' });
      this.peers.after(this.joinBox);
    }
    const valid = requests.filter((r) => r && typeof r.id === 'string' && /^[0-9a-f]{64}$/.test(r.id));
    const signature = JSON.stringify(valid.map((r) => [r.id, r.name, r.fingerprint]));
    if (signature === this.joinSignature) return;
    this.joinSignature = signature;
    this.joinBox.replaceChildren(...valid.map((request) => {
      const who = typeof request.name === 'string' && request.name ? request.name : 'Someone';
      const decide = (admit) => async () => {
        if (await orToast(api.admit(request.id, admit))) toast(admit ? `${who} is in.` : `${who} was refused.`, 'ok');
      };
      return el('div', { class: 'join-request', dataset: { participant: request.id } },
        el('span', { text: `${who} asks to join — fingerprint ${String(request.fingerprint || '')}` }),
        el('button', { type: 'button', class: 'act-admit', onclick: decide(true) }, 'Admit'),
        el('button', { type: 'button', class: 'act-refuse', onclick: decide(false) }, 'Refuse'));
    }));
    this.joinBox.hidden = valid.length === 0;
  }
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
