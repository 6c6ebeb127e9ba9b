// A sale's waiting room as the page sees it: which sale a trip belongs to, the pass kept per
// sale in sessionStorage, what a user still has to verify, and the Waiting model that turns
// the public status (polled every ~2 s) and the user's Place (polled every ~15 s) into what
// the waiting page shows: the phase, the countdown to the opening, the position and the
// people ahead (moved between place reads by the serving counter), the estimated wait and
// the progress. The rules are the API's (docs/api.md, "The fair rush"). No DOM.
import { sessionStore } from '../storage.js';

/** How often the page reads the sale's public status (the gateway caches it for 1 s). */
export const STATUS_EVERY_MS = 2000;
/** How often it asks for the user's place (asking keeps it; the API needs once a minute). */
export const PLACE_EVERY_MS = 15000;
/** The least time between two announcements of a moved position to a screen reader. */
export const ANNOUNCE_EVERY_MS = 15000;

/** The sale of a trip that opens at `salesOpenAt` (ISO): its opening in UTC, `YYYYMMDDTHHMMSSZ`. */
export function saleIdOf(salesOpenAt) {
  const at = new Date(salesOpenAt);
  if (!salesOpenAt || Number.isNaN(at.getTime())) return null;
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** What `user` still has to verify to join a waiting room, in the API's words. */
export function missingVerification(user) {
  if (!user) return ['phone', 'nid'];
  return [!user.phone_verified && 'phone', !user.nid_verified && 'nid'].filter(Boolean);
}

/** The problem with a national ID as typed (10 or 17 digits, spaces allowed), or null. */
export function nidProblem(raw) {
  const nid = normalNid(raw);
  if (!nid) return 'Enter your national ID number.';
  return /^(\d{10}|\d{17})$/.test(nid) ? null : 'A national ID number has 10 or 17 digits.';
}

export const normalNid = (raw) => String(raw || '').replace(/[\s-]/g, '');

// ---- The pass, per sale ----------------------------------------------------------------------

const passKey = (saleId) => `railrush.pass.${saleId}`;

/** Keeps an admitted Place's pass until its `pass_expires_at`; anything else is ignored. */
export function keepPass(place, { storage = sessionStore() } = {}) {
  if (!place || place.state !== 'admitted' || typeof place.pass !== 'string' || !place.pass_expires_at) return;
  try {
    storage?.setItem(passKey(place.sale_id), JSON.stringify({ pass: place.pass, expires_at: place.pass_expires_at }));
  } catch {
    // Without storage the pass lasts as long as the page.
  }
}

/**
 * Confirm accepts a pass up to a hold's lifetime past its expiry (docs/api.md), so a hold
 * taken with a valid pass can always be confirmed: the pass is kept that much longer for it.
 */
export const CONFIRM_GRACE_MS = 5 * 60 * 1000;

/** The pass kept for `saleId` that has not run out at `now` (less `graceMs`), or null. */
export function keptPass(saleId, { storage = sessionStore(), now = Date.now(), graceMs = 0 } = {}) {
  if (!saleId) return null;
  try {
    const kept = JSON.parse(storage?.getItem(passKey(saleId)) || 'null');
    const ok = kept && typeof kept.pass === 'string' && Date.parse(kept.expires_at) + graceMs > now;
    return ok ? kept.pass : null;
  } catch {
    return null;
  }
}

export function dropPass(saleId, { storage = sessionStore() } = {}) {
  try {
    storage?.removeItem(passKey(saleId));
  } catch {
    // Nothing kept.
  }
}

/** Whether an API error means "go through the waiting room (again)". */
export const needsPass = (err) => Boolean(err && err.status === 403 && (err.code === 'queue_pass_required' || err.code === 'queue_pass_invalid'));

// ---- The waiting page's model ------------------------------------------------------------

const TERMINAL = new Set(['admitted', 'sold_out', 'closed', 'free']);

export class Waiting {
  constructor(status = null) {
    this.status = status;
    this.place = null; // the last Place read (null: not joined, or not read yet)
    this.placeAt = -Infinity; // when it was read (ms)
    this.firstServing = null; // where the line stood when this place got its number
    this.preQueued = false; // the place was seen in the pre-queue (numbered at the opening)
    this.placeRate = null; // admissions a minute implied by the place's own estimate
    this.lastSaid = { text: null, at: -Infinity, phase: null };
  }

  setStatus(status) {
    this.status = status;
  }

  setPlace(place, now = Date.now()) {
    this.place = place;
    this.placeAt = now;
    const numbered = place && place.number !== null && place.number !== undefined;
    if (place && place.state === 'waiting' && !numbered) this.preQueued = true;
    if (numbered && this.firstServing === null) {
      // The progress bar starts where the line stood when this place got its number: at
      // the opening (counter 0) for the pre-queue, else where the place was first read.
      const known = place.position !== null && place.position !== undefined;
      this.firstServing = this.preQueued ? 0 : known ? place.number - place.position : this.serving();
    }
    // The place's estimate is at the configured rate; the status's rate is measured over
    // the last minute, so it lags at the opening: the wait counts with the higher one.
    const waitFor = (place?.estimated_wait_s ?? 0) - this.secondsToOpen(now);
    if (numbered && place.state === 'waiting' && place.position > 0 && waitFor > 0) {
      this.placeRate = (place.position / waitFor) * 60;
    }
  }

  serving() {
    return this.status?.now_serving ?? 0;
  }

  /**
   * `closed`, `sold_out`, `free` (the room ended: no pass needed), `join` (no place yet),
   * `pre_queue`, `waiting`, `admitted` or `expired`.
   */
  phase() {
    const s = this.status;
    if (s && s.state === 'closed') return 'closed';
    if ((s && s.state === 'sold_out') || this.place?.state === 'sold_out') return 'sold_out';
    if (this.place?.state === 'admitted') return 'admitted';
    if (s && !s.waiting_room) return 'free';
    if (!this.place) return 'join';
    if (this.place.state === 'expired') return 'expired';
    return this.number() === null ? 'pre_queue' : 'waiting';
  }

  isOver() {
    return TERMINAL.has(this.phase());
  }

  number() {
    const n = this.place?.number;
    return n === null || n === undefined ? null : n;
  }

  /** Seconds to the opening at `now` (0 once open). */
  secondsToOpen(now = Date.now()) {
    const opens = Date.parse(this.status?.opens_at ?? '');
    return Number.isFinite(opens) ? Math.max(0, Math.ceil((opens - now) / 1000)) : 0;
  }

  /** The place in line: from the serving counter when numbered (it moves between reads). */
  position() {
    const n = this.number();
    if (n === null) return null;
    const fromCounter = n - this.serving();
    return Math.max(1, Math.min(fromCounter, this.place.position ?? fromCounter));
  }

  ahead() {
    const p = this.position();
    return p === null ? null : p - 1;
  }

  /**
   * Seconds left to wait: the position at the admission rate (the measured one or the one
   * the place's estimate implies, whichever is higher), plus the time to the opening.
   */
  estimatedWait(now = Date.now()) {
    const p = this.position();
    const rate = Math.max(this.status?.admitted_per_minute || 0, this.placeRate || 0);
    if (p === null || !rate) {
      const said = this.place?.estimated_wait_s;
      const elapsed = Math.floor((now - this.placeAt) / 1000);
      return said === null || said === undefined ? this.secondsToOpen(now) || null : Math.max(this.secondsToOpen(now), said - elapsed);
    }
    return Math.ceil(p / (rate / 60)) + this.secondsToOpen(now);
  }

  /** 0..1: how far the serving counter moved from where it stood to this place's number. */
  progress() {
    const phase = this.phase();
    if (phase === 'admitted' || phase === 'free') return 1;
    const n = this.number();
    if (n === null || this.firstServing === null) return 0;
    const span = n - this.firstServing;
    return span <= 0 ? 1 : Math.min(1, Math.max(0, (this.serving() - this.firstServing) / span));
  }

  /** Whether the place is due to be read at `now`: every PLACE_EVERY_MS, or at once when it changed. */
  placeDue(now = Date.now()) {
    if (!this.place || this.isOver()) return false;
    if (now - this.placeAt >= PLACE_EVERY_MS) return true;
    const n = this.number();
    if (n !== null) return this.serving() >= n; // our turn came: the pass is there
    // Numbered at the opening: the status shows it open, the place has no number yet.
    return this.status?.state === 'open';
  }

  /**
   * What a screen reader should hear now, or null: a new phase at once, a moved position at
   * most every ANNOUNCE_EVERY_MS.
   */
  announcement(now = Date.now()) {
    const phase = this.phase();
    const text = this.summary();
    if (!text || text === this.lastSaid.text) return null;
    if (phase === this.lastSaid.phase && now - this.lastSaid.at < ANNOUNCE_EVERY_MS) return null;
    this.lastSaid = { text, at: now, phase };
    return text;
  }

  /** One sentence for the current state. */
  summary() {
    switch (this.phase()) {
      case 'pre_queue':
        return 'You are in the waiting room. You will get a random place in line at the opening.';
      case 'waiting': {
        const p = this.position();
        const ahead = p - 1;
        return `You are number ${p} in line; ${ahead === 1 ? '1 person is' : `${ahead} people are`} ahead of you.`;
      }
      case 'admitted':
        return 'It is your turn. You can choose your seats now.';
      case 'sold_out':
        return 'Sold out: every seat of this sale has been sold.';
      case 'expired':
        return 'Your place in line has expired.';
      case 'closed':
        return 'This sale is closed.';
      default:
        return null;
    }
  }
}
