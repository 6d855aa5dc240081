// Watching together: the video on the stage follows the item's shared playback (the document's
// `playback`: playing, positionMillis, rateThousandths, set at `updated`), and this person's own
// play, pause, seek and rate go to the node as edits. Nudging playbackRate closes a small drift,
// a seek a large one. "Watch on my own" stops both following and sending; rejoining jumps back
// to the shared state. Changes this module makes to the player are told apart from the person's
// by comparing each event with what it asked for, so nothing it does is echoed back.

import * as api from './api.js';
import { el, toast } from './dom.js';

const TICK_MS = 100;
const SEEK_DRIFT_S = 0.4; // beyond this a seek, below it a gentle change of rate
const STILL_DRIFT_S = 0.02; // below this the rate stays the shared one
const MAX_NUDGE = 0.1; // at most ±10 % of the rate while catching up
const PENDING_MS = 1500; // how long an own edit may take to come back in the document

/** The shared playback of a document item, or null: `{id, playing, positionMillis, rate, at}`. */
export function sharedPlayback(item) {
  const p = item && item.playback;
  if (!p || typeof p !== 'object') return null;
  const position = Number(p.positionMillis);
  const rate = Number(p.rateThousandths) / 1000;
  const at = p.updated && Number(p.updated.millis);
  if (!Number.isFinite(position) || !Number.isFinite(rate) || rate <= 0 || !Number.isFinite(at)) return null;
  return { id: typeof p.id === 'string' ? p.id : '', playing: p.playing === true, positionMillis: position, rate, at };
}

/**
 * Where the shared playback is at wall time `now` (ms), in seconds, never before 0. A stamp
 * ahead of this clock extrapolates backwards: its author moved the position on by as much.
 */
export function sharedPosition(shared, now) {
  const elapsed = shared.playing ? (now - shared.at) * shared.rate : 0;
  return Math.max(0, shared.positionMillis + elapsed) / 1000;
}

export class Watch {
  /** `video` is the stage's <video> for item `id`; `schedule()` redraws the stage (marks in time). */
  constructor(store, id, video, { schedule }) {
    this.store = store;
    this.id = id;
    this.video = video;
    this.schedule = schedule;
    this.detached = false;
    this.want = { paused: null, seekTo: null, rate: null }; // what this module last asked of the player
    this.pending = null; // {until, id} while an own edit has not come back
    this.sending = false; // an edit is on its way
    this.again = false; // the person acted again meanwhile: send once more
    this.lastSharedId = null;
    this.seekLead = 0.05; // seconds a seek takes, learnt, so a seek while playing lands on time
    this.seekStarted = 0;
    this.mutedForAutoplay = false;
    this.button = el('button', { type: 'button', class: 'watch-toggle', dataset: { state: 'together' }, onclick: () => this.toggle() });
    this.note = el('span', { class: 'watch-note muted' });
    this.bar = document.getElementById('watch');
    this.bar.replaceChildren(this.button, this.note);
    this.bar.hidden = false;
    this.renderBar();
    this.listeners = [
      ['play', () => this.onPlayPause(false)],
      ['pause', () => this.onPlayPause(true)],
      ['seeking', () => this.onSeeking()],
      ['seeked', () => this.onSeeked()],
      ['ratechange', () => this.onRate()],
      ['timeupdate', () => this.schedule()],
      ['loadedmetadata', () => this.follow()],
    ];
    for (const [name, handler] of this.listeners) video.addEventListener(name, handler);
    this.timer = setInterval(() => this.follow(), TICK_MS);
  }

  destroy() {
    clearInterval(this.timer);
    for (const [name, handler] of this.listeners) this.video.removeEventListener(name, handler);
    this.bar.replaceChildren();
    this.bar.hidden = true;
  }

  /** The item's shared playback in the current document. */
  shared() {
    const doc = this.store.get().doc;
    return sharedPlayback(doc && doc.items && doc.items[this.id]);
  }

  /** What the test hooks read. */
  snapshot() {
    const v = this.video;
    return {
      item: this.id, detached: this.detached, shared: this.shared(), currentTime: v.currentTime, paused: v.paused,
      playbackRate: v.playbackRate, wall: Date.now(), muted: v.muted,
    };
  }

  toggle() {
    this.detached = !this.detached;
    if (this.detached) {
      this.setRate(this.shared() ? this.shared().rate : this.video.playbackRate);
    } else {
      this.pending = null;
      this.follow(true);
    }
    this.renderBar();
  }

  renderBar() {
    this.button.dataset.state = this.detached ? 'alone' : 'together';
    this.button.textContent = this.detached ? 'Watch together again' : 'Watch on my own';
    this.button.title = this.detached
      ? 'Jump back to where everyone is, and share your play, pause and seeks again'
      : 'Stop following the others: play, pause and seek only for yourself';
    this.note.textContent = this.detached ? 'watching on your own' : this.mutedForAutoplay ? 'muted by the browser: unmute to hear' : '';
  }

  // ---- following ------------------------------------------------------------------------

  /** Makes the player match the shared playback; `jump` seeks even for a small drift. */
  follow(jump = false) {
    if (this.detached) return;
    const shared = this.shared();
    if (!shared) return;
    if (this.pending) {
      if (shared.id === this.pending.id || Date.now() > this.pending.until) this.pending = null;
      else return;
    }
    const v = this.video;
    if (v.readyState < 1 || v.seeking) return;
    const duration = Number.isFinite(v.duration) ? v.duration : Infinity;
    const target = Math.min(sharedPosition(shared, Date.now()), duration);
    if (!shared.playing) {
      if (!v.paused) this.pause();
      if (Math.abs(v.currentTime - target) > 0.05) this.seek(target);
      this.setRate(shared.rate);
      return;
    }
    if (target >= duration) {
      // The shared playback ran past the end: stay on the last frame (play() would restart it).
      if (!v.ended && duration - v.currentTime > 0.05) this.seek(duration);
      return;
    }
    const drift = v.currentTime - target;
    if (v.paused) {
      this.seek(target + this.seekLead);
      this.play();
      this.setRate(shared.rate);
      return;
    }
    if (jump || Math.abs(drift) > SEEK_DRIFT_S) {
      this.seek(target + this.seekLead);
      this.setRate(shared.rate);
    } else if (Math.abs(drift) > STILL_DRIFT_S) {
      const nudge = Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, -drift));
      this.setRate(shared.rate * (1 + nudge));
    } else {
      this.setRate(shared.rate);
    }
  }

  pause() {
    this.want.paused = true;
    this.video.pause();
  }

  play() {
    this.want.paused = false;
    const started = this.video.play();
    if (started && typeof started.catch === 'function') {
      started.catch((error) => {
        // Browsers refuse sound without a click on this page: follow muted, and say so.
        if (error && error.name === 'NotAllowedError' && !this.video.muted) {
          this.video.muted = true;
          this.mutedForAutoplay = true;
          this.renderBar();
          this.video.play().catch(() => {});
        }
      });
    }
  }

  seek(seconds) {
    const v = this.video;
    const duration = Number.isFinite(v.duration) ? v.duration : Infinity;
    const to = Math.max(0, Math.min(seconds, duration));
    this.want.seekTo = to;
    this.seekStarted = performance.now();
    v.currentTime = to;
  }

  setRate(rate) {
    if (Math.abs(this.video.playbackRate - rate) < 1e-6) return;
    this.want.rate = rate;
    this.video.playbackRate = rate;
  }

  // ---- the person's own actions -----------------------------------------------------------

  onPlayPause(paused) {
    if (this.want.paused === paused) return; // ours
    this.want.paused = null;
    if (this.video.ended) return;
    this.send();
  }

  onSeeking() {
    const target = this.want.seekTo;
    if (target !== null && Math.abs(this.video.currentTime - target) < 0.01) return; // ours
    this.want.seekTo = null;
    this.send();
  }

  onSeeked() {
    if (this.want.seekTo === null) return;
    this.want.seekTo = null;
    if (!this.video.paused) {
      // Learn how long a seek takes, so the next one while playing aims that far ahead.
      const took = (performance.now() - this.seekStarted) / 1000;
      this.seekLead = Math.max(0, Math.min(0.5, 0.7 * this.seekLead + 0.3 * took));
    }
  }

  onRate() {
    if (this.want.rate !== null && Math.abs(this.video.playbackRate - this.want.rate) < 1e-6) return; // ours
    this.send();
  }

  /**
   * Sends the player's state as the shared playback (not while watching alone). One edit at a
   * time: events while one is on its way (a scrubber dragged) become one more, with the latest state.
   */
  async send() {
    if (this.detached) return;
    this.pending = { until: Date.now() + PENDING_MS, id: null };
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    try {
      do {
        this.again = false;
        await this.sendNow();
      } while (this.again && !this.detached);
    } finally {
      this.sending = false;
    }
  }

  async sendNow() {
    const v = this.video;
    const shared = this.shared();
    // A nudged rate is not the person's: keep the shared rate unless they picked another.
    const own = this.want.rate !== null && Math.abs(v.playbackRate - this.want.rate) < 1e-6;
    const rate = Math.max(0.25, Math.min(4, own && shared ? shared.rate : v.playbackRate));
    const body = { playing: !v.paused, positionMillis: Math.max(0, Math.round(v.currentTime * 1000)), rate };
    const pending = { until: Date.now() + PENDING_MS, id: null };
    this.pending = pending;
    try {
      const answer = await api.playback(this.id, body);
      if (this.pending === pending && answer && typeof answer.event === 'string') pending.id = answer.event;
    } catch (error) {
      if (this.pending === pending) this.pending = null;
      toast(error.message || 'The node did not take the change.', 'error');
    }
  }
}
