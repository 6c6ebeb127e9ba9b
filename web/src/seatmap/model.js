// The state of one trip's seat map, and nothing else: no DOM, no network, no timers. The
// view asks it what to show (shown(), selectedIds(), free()) and tells it what happened
// (toggle(), a live change, a snapshot of the map, a hold taken or dropped); each call that
// can take a seat out of the user's selection says which, so the view can tell the user.
import { seatParts } from '../format.js';

/**
 * Seats per selection until the API says otherwise. The API has no call that names the
 * limit: it is known only from a `seat_limit_reached` answer (see limitFrom()), and the view
 * replaces this default with what that answer says.
 */
export const DEFAULT_MAX_SEATS = 4;

/** Seats per row of a coach's grid: two, the aisle, two. */
export const SEATS_PER_ROW = 4;

export const STATUS_TEXT = {
  available: 'available',
  held: 'held by another passenger',
  booked: 'booked',
  mine: 'held by you',
  selected: 'selected',
};

const STATUSES = new Set(['available', 'held', 'booked']);
export const isStatus = (value) => STATUSES.has(value);

/**
 * The seat limit named by a `seat_limit_reached` error: `details.max_seats` when the API
 * sends it; otherwise the number in booking-service's message ("... at most 4 seats of a
 * trip"), which is all it sends today. Null when neither names one.
 */
export function limitFrom(error) {
  if (!error || error.code !== 'seat_limit_reached') return null;
  const fromDetails = Number(error.details?.max_seats);
  if (Number.isInteger(fromDetails) && fromDetails > 0) return fromDetails;
  const match = /at most (\d+) seats?/.exec(error.message || '');
  const fromMessage = match ? Number(match[1]) : 0;
  return fromMessage > 0 ? fromMessage : null;
}

/**
 * Where focus goes from seat `index` of a coach of `count` seats on `key`: one seat left or
 * right, one row up or down, the first or last seat. Null when the key does not move or the
 * move would leave the coach.
 */
export function nextSeatIndex(key, index, count) {
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: SEATS_PER_ROW, ArrowUp: -SEATS_PER_ROW };
  let next = null;
  if (key in moves) next = index + moves[key];
  else if (key === 'Home') next = 0;
  else if (key === 'End') next = count - 1;
  return next === null || next < 0 || next >= count ? null : next;
}

export class SeatMap {
  /** `detail` is the API's TripDetail; `hold` a Hold kept from earlier on this page. */
  constructor(detail, { hold = null, maxSeats = DEFAULT_MAX_SEATS } = {}) {
    /** seat_id → { seat_id, label, fare, coach, class, number } */
    this.seats = new Map();
    /** [{ code, class, seatIds }] in the API's order. */
    this.coaches = detail.coaches.map((coach) => {
      for (const s of coach.seats) {
        this.seats.set(s.seat_id, { ...s, coach: coach.code, class: coach.class, number: seatParts(s.label).number });
      }
      return { code: coach.code, class: coach.class, seatIds: coach.seats.map((s) => s.seat_id) };
    });
    this.hold = hold;
    this.maxSeats = maxSeats;
    this.status = new Map(); // seat_id → available | held | booked, once known
    this.selected = new Set();
    this.pending = new Set(); // seats of our hold request in flight: their change is ours
    this.resyncs = new Set(); // one log of live changes per snapshot being read
  }

  seat(id) {
    return this.seats.get(id);
  }

  isMine(id) {
    return Boolean(this.hold && this.hold.seat_ids.includes(id));
  }

  /** What the server last said about the seat, or 'unknown' before the first snapshot. */
  statusOf(id) {
    return this.status.get(id) || 'unknown';
  }

  /** What the user sees: mine, selected, held, booked or available. */
  shown(id) {
    if (this.isMine(id)) return 'mine';
    if (this.selected.has(id)) return 'selected';
    return this.status.get(id) || 'available';
  }

  isUnavailable(id) {
    const shown = this.shown(id);
    return shown === 'held' || shown === 'booked';
  }

  /** Seats of `coachCode` nobody holds or owns (an unknown status counts as free). */
  free(coachCode) {
    const coach = this.coaches.find((c) => c.code === coachCode);
    return coach ? coach.seatIds.filter((id) => (this.status.get(id) || 'available') === 'available').length : 0;
  }

  selectedIds() {
    return [...this.selected].sort((a, b) => a - b);
  }

  heldIds() {
    return this.hold ? [...this.hold.seat_ids].sort((a, b) => a - b) : [];
  }

  labels(ids) {
    return ids.map((id) => this.seats.get(id)?.label || `#${id}`).join(', ');
  }

  fare(ids) {
    return ids.reduce((sum, id) => sum + (this.seats.get(id)?.fare || 0), 0);
  }

  /**
   * The user pressed seat `id`. Returns what happened: `added`, `removed`, or why nothing
   * changed: `holding` (a hold exists), `unavailable`, `limit`, `unknown`.
   */
  toggle(id) {
    if (!this.seats.has(id)) return 'unknown';
    if (this.hold) return 'holding';
    if (this.isUnavailable(id)) return 'unavailable';
    if (this.selected.has(id)) {
      this.selected.delete(id);
      return 'removed';
    }
    if (this.selected.size >= this.maxSeats) return 'limit';
    this.selected.add(id);
    return 'added';
  }

  /** A newer limit from the API (see limitFrom()); the selection is left as it is. */
  setMaxSeats(n) {
    if (Number.isInteger(n) && n > 0) this.maxSeats = n;
  }

  /**
   * A seat's status from the live feed. Returns true when it took the seat out of the
   * user's selection (someone else got it first).
   */
  applyChange(id, status) {
    if (!this.seats.has(id) || !isStatus(status)) return false;
    for (const log of this.resyncs) log.push([id, status]);
    return this.setStatus(id, status);
  }

  setStatus(id, status) {
    this.status.set(id, status);
    if (status !== 'available' && this.selected.has(id) && !this.isMine(id) && !this.pending.has(id)) {
      this.selected.delete(id);
      return true;
    }
    return false;
  }

  /**
   * Starts reading the whole map from the API. Live changes that arrive until the answer is
   * applied are kept and replayed over it, so an answer older than a change cannot undo it.
   * Pass the returned token to applySnapshot() or abortResync().
   */
  beginResync() {
    const log = [];
    this.resyncs.add(log);
    return log;
  }

  abortResync(token) {
    this.resyncs.delete(token);
  }

  /** `seats` as the API lists them ([{seat_id, status}]); returns the seats taken out of the selection. */
  applySnapshot(token, seats) {
    this.resyncs.delete(token);
    const dropped = [];
    const apply = (id, status) => {
      if (this.seats.has(id) && isStatus(status) && this.setStatus(id, status)) dropped.push(id);
    };
    for (const s of seats) apply(s.seat_id, s.status);
    for (const [id, status] of token) apply(id, status);
    return dropped;
  }

  /** A hold request for the selection is on its way. */
  holding(ids) {
    for (const id of ids) this.pending.add(id);
  }

  /** The hold request came back, either way. */
  holdSettled() {
    this.pending.clear();
  }

  /** The API's answer to select: the seats are ours until `hold.expires_at`. */
  setHold(hold) {
    this.hold = hold;
    this.selected.clear();
    for (const id of hold.seat_ids) if (this.seats.has(id)) this.status.set(id, 'held');
  }

  /** The hold is over: released by the user (`released`: the seats are free now) or lapsed. */
  dropHold({ released = false } = {}) {
    if (released && this.hold) {
      for (const id of this.hold.seat_ids) if (this.status.get(id) === 'held') this.status.set(id, 'available');
    }
    this.hold = null;
  }

  /** Seats a `seat_unavailable` answer named: held by someone else, out of the selection. */
  markTaken(ids) {
    const taken = ids.filter((id) => this.seats.has(id));
    for (const id of taken) {
      this.status.set(id, 'held');
      this.selected.delete(id);
    }
    return taken;
  }
}
