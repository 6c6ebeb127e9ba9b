// Pure parts of the operator console (no DOM, no fetch): the numbers of the sales overview,
// the waiting room's and a trip cancellation's progress in words, the opening time in Dhaka
// time for a datetime-local field, the sales-closed switch while booking-service catches up,
// the plan of a booking lookup from what the operator typed, and the parked messages' texts.
// Unit tests: tests/unit/console.test.js.

import { TIME_ZONE, plural } from '../format.js';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** "1,234"; "—" for a number the answer does not have. */
export function count(n) {
  return typeof n === 'number' && Number.isFinite(n) ? integer.format(n) : '—';
}

const seconds = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});

/** "30 Nov, 19:03:04" (Bangladesh time): the console's times are to the second. */
export function stamp(iso) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? seconds.format(new Date(t)) : '—';
}

/** "40%" of `total` (rounded down, so 99.6% sold is not "100%"); "0%" of nothing. */
export function percent(part, total) {
  if (!(total > 0) || !(part >= 0)) return '0%';
  return `${Math.floor((Math.min(part, total) / total) * 100)}%`;
}

/** "+3 in the last minute", "none in the last minute". */
export function lastMinute(seats) {
  return seats > 0 ? `+${count(seats)} in the last minute` : 'none in the last minute';
}

/** The headline numbers of one TripSales, in the order they are shown. */
export function figures(trip) {
  const total = (trip.classes || []).reduce((n, c) => n + (c.total || 0), 0);
  return [
    { key: 'sold', label: 'Sold', value: count(trip.sold), note: percent(trip.sold, total) },
    { key: 'held', label: 'Held now', value: count(trip.held), note: null },
    { key: 'free', label: 'Free', value: count(trip.free), note: `of ${count(total)}` },
    { key: 'boarded', label: 'Boarded', value: count(trip.boarded), note: null },
  ];
}

const ROOM_STATES = {
  upcoming: 'not open yet',
  pre_queue: 'pre-queue',
  open: 'open',
  sold_out: 'sold out',
  closed: 'closed',
};

/** The waiting room of a trip's sale in a line: "open: 120 waiting, serving no. 34, 60 let in a minute". */
export function waitingRoomText(room) {
  if (!room) return 'No waiting room';
  const state = ROOM_STATES[room.state] || room.state || 'unknown';
  const parts = [`${count(room.waiting)} waiting`];
  if (room.now_serving !== null && room.now_serving !== undefined) parts.push(`serving no. ${count(room.now_serving)}`);
  if (room.admitted_per_minute) parts.push(`${count(room.admitted_per_minute)} let in a minute`);
  return `Waiting room ${state}: ${parts.join(', ')}`;
}

/**
 * Where a trip cancellation (TripCancellation) stands: `phase` "cancelling" while bookings
 * are left, "refunding" while refunds asked of payment-service are not completed (or not
 * known: an answer without `refunds_completed`), "done" once every booking is cancelled and
 * every paid one refunded; the sentences to show; `complete` when there is nothing left.
 */
export function cancellationProgress(p) {
  const total = p.bookings_total ?? p.cancelled + p.left;
  const requested = p.refunds_requested ?? 0;
  const completed = typeof p.refunds_completed === 'number' ? p.refunds_completed : null;
  const refundsDone = completed !== null && completed >= requested;
  let phase = 'done';
  if (p.left > 0 || !p.done) phase = 'cancelling';
  else if (!refundsDone) phase = 'refunding';
  const bookings =
    total === 0
      ? 'The trip had no bookings to cancel'
      : `${count(p.cancelled)} of ${plural(total, 'booking')} cancelled, ${count(p.left)} left`;
  let refunds;
  if (requested === 0) refunds = 'No paid booking to refund';
  else if (completed === null) refunds = `Refunds requested for ${plural(requested, 'paid booking')}; completions not reported`;
  else refunds = `Refunds: ${count(completed)} of ${count(requested)} completed`;
  const headline = {
    cancelling: 'Cancelling the trip’s bookings…',
    refunding: 'Bookings cancelled; waiting for the refunds…',
    done: requested > 0 ? 'Trip cancelled: every paid booking refunded' : 'Trip cancelled',
  }[phase];
  return {
    phase,
    complete: phase === 'done',
    headline,
    bookings,
    refunds,
    fraction: total === 0 ? 1 : p.cancelled / total,
  };
}

// ---- The opening in Bangladesh time (UTC+6 all year, no daylight saving) ----------------------
const DHAKA_OFFSET_MS = 6 * 3600 * 1000;

/** "2026-12-10T08:00" (a datetime-local field's value, Dhaka time) for an RFC 3339 time. */
export function toDhakaInput(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  return new Date(t + DHAKA_OFFSET_MS).toISOString().slice(0, 16);
}

/** The RFC 3339 UTC time of a datetime-local value read as Dhaka time; null when it is not one. */
export function fromDhakaInput(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || '');
  if (!m) return null;
  const [, y, mo, d, hh, mm, ss = '0'] = m;
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(hh), Number(mm), Number(ss)) - DHAKA_OFFSET_MS;
  const back = new Date(utc + DHAKA_OFFSET_MS);
  // Date.UTC rolls 2026-02-31 over into March: such a value is not a date.
  if (back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1) return null;
  return new Date(utc).toISOString().replace(/\.000Z$/, 'Z');
}

// ---- Closing and reopening a trip's sales ---------------------------------------------------
/** How long the console shows a switch train-service accepted before booking-service reports it. */
export const APPLY_WINDOW_MS = 15000;

/**
 * Whether the trip's sales show as closed: train-service answered the switch at once, the
 * sales overview (booking-service) follows within its inventory refresh. `pending` is
 * {sales_closed, at} of the last switch; `applying` is true until the overview agrees or the
 * window has passed (then the overview wins).
 */
export function shownClosed(tripClosed, pending, now = Date.now()) {
  if (!pending || tripClosed === pending.sales_closed || now - pending.at > APPLY_WINDOW_MS) {
    return { closed: Boolean(tripClosed), applying: false };
  }
  return { closed: pending.sales_closed, applying: true };
}

// ---- Finding a booking ----------------------------------------------------------------------
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TICKET = /^RR-?([0-9A-Z]{4})-?([0-9A-Z]{4})-?([0-9A-Z]{4})-?([0-9A-Z]{4})$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A Bangladeshi mobile number as typed ("01712-345678", "+880 1712 345678") → E.164, else null. */
export function phoneE164(raw) {
  const digits = raw.replace(/[\s().-]/g, '');
  if (/^\+[1-9]\d{7,14}$/.test(digits)) return digits;
  if (/^8801\d{9}$/.test(digits)) return `+${digits}`;
  if (/^01\d{9}$/.test(digits)) return `+88${digits}`;
  return null;
}

/**
 * What to ask for the booking(s) the operator typed: a list of attempts, tried in order
 * until one finds bookings. `{bookings: {param: value}}` asks booking-service's admin lookup;
 * `{users: {param: value}}` asks auth-service for the accounts, then the bookings of each by
 * `user_id`. A UUID is a booking id first, else a user id; a ticket code is normalised
 * (upper case, dashes). `{error}` when it is none of these.
 */
export function lookupPlan(input) {
  const raw = (input || '').trim();
  if (!raw) return { error: 'Enter a booking id, a ticket code, a phone number or an email address.' };
  if (UUID.test(raw)) {
    const id = raw.toLowerCase();
    return {
      kind: 'id',
      label: `booking or user ${id}`,
      attempts: [{ bookings: { booking_id: id } }, { bookings: { user_id: id } }],
    };
  }
  const ticket = TICKET.exec(raw.toUpperCase().replace(/\s+/g, ''));
  if (ticket) {
    const code = `RR-${ticket.slice(1).join('-')}`;
    return { kind: 'ticket_code', label: `ticket ${code}`, attempts: [{ bookings: { ticket_code: code } }] };
  }
  if (EMAIL.test(raw)) {
    const email = raw.toLowerCase();
    return { kind: 'email', label: `the account ${email}`, attempts: [{ users: { email } }] };
  }
  const phone = phoneE164(raw);
  if (phone) return { kind: 'phone', label: `the account ${phone}`, attempts: [{ users: { phone } }] };
  return {
    error: `“${raw}” is not a booking id (UUID), a ticket code (RR-XXXX-XXXX-XXXX-XXXX), a phone number or an email address.`,
  };
}

/** The query string of one lookup: "ticket_code=RR-..." */
export const queryOf = (params) => new URLSearchParams(params).toString();

const HISTORY = {
  created: 'Confirmed',
  confirmed: 'Confirmed',
  paid: 'Paid',
  cancelled: 'Cancelled',
  expired: 'Expired',
  refunded: 'Refunded',
  boarded: 'Boarded',
};

/** A booking history entry in words; outbox events keep their type ("booking.confirmed · sent"). */
export function historyText(entry) {
  const words = HISTORY[entry.kind];
  if (words) return entry.detail ? `${words} · ${entry.detail}` : words;
  return entry.detail ? `${entry.kind} · ${entry.detail}` : entry.kind;
}

// ---- Parked messages -------------------------------------------------------------------------
export const SERVICES = [
  { key: 'bookings', name: 'booking-service' },
  { key: 'payments', name: 'payment-service' },
  { key: 'notifications', name: 'notification-service' },
];

/** The body of replay/drop: the chosen messages, or all of the queue. */
export function parkedBody(ids, all = false) {
  return all ? { all: true } : { message_ids: [...ids] };
}

/** "Replayed 2 messages from booking.payment-events." */
export function parkedDone(action, n, queue) {
  const verb = action === 'replay' ? 'Replayed' : 'Dropped';
  return `${verb} ${plural(n, 'message')} from ${queue}.`;
}

/** "3 parked messages in 2 queues", "Nothing parked". */
export function parkedSummary(queues) {
  const total = queues.reduce((n, q) => n + (q.count || 0), 0);
  if (total === 0) return 'Nothing parked';
  const busy = queues.filter((q) => q.count > 0).length;
  return `${plural(total, 'parked message')} in ${plural(busy, 'queue')}`;
}
