// A trip's scans on this phone and their sync with the server. Pure (storage and the board
// call are passed in).
//
// A scan that boards a passenger is kept as an entry `{booking_id, qr, passengers, seats,
// scanned_at, state, boarded_at, device, other}`:
//   queued    boarded offline; POST /api/tickets/board is still to be sent
//   boarded   the server recorded the boarding (online at once, or synced later)
//   conflict  the server answered 409 already_boarded: another device boarded it first
//             (`other` = {device, boarded_at} of that boarding); flagged for the conductor
//   refused   the server refused it otherwise (cancelled since the download, not a ticket
//             of ours...): `other.state` says why; flagged too
// One entry per booking: the first scan. Sync sends the queued ones in scan order and stops
// at the first answer that says "later" (no network, a 401/403, 429 or 5xx), keeping the rest.

/** The phone's boarding of a booking (queued or confirmed), or null: a second scan is refused. */
export function localBoarding(scans, bookingId) {
  return scans.find((s) => s.booking_id === bookingId && (s.state === 'queued' || s.state === 'boarded')) || null;
}

/** Scans waiting to be sent. */
export const pending = (scans) => scans.filter((s) => s.state === 'queued');

/** Scans the conductor should look at: another device's boarding, or a later refusal. */
export const flagged = (scans) => scans.filter((s) => s.state === 'conflict' || s.state === 'refused');

/** The entry of a scan that boards `ticket` (from its verified payload). */
export function entryFor(ticket, qr, { state, device, at = new Date().toISOString(), boardedAt = at }) {
  return {
    booking_id: ticket.booking_id,
    qr,
    passengers: ticket.passengers || [],
    seats: (ticket.seats || []).map((s) => s.label),
    scanned_at: at,
    state,
    boarded_at: boardedAt,
    device,
    other: null,
  };
}

/** `scans` with `entry` in place of the booking's earlier one (or added at the end). */
export function upsert(scans, entry) {
  const i = scans.findIndex((s) => s.booking_id === entry.booking_id);
  if (i < 0) return [...scans, entry];
  const next = scans.slice();
  next[i] = entry;
  return next;
}

/** Whether an error from the board call means "try again later" rather than an answer. */
export function isTransient(error) {
  const status = error?.status ?? 0;
  return status === 0 || status === 401 || status === 403 || status === 408 || status === 429 || status >= 500;
}

/** The entry after the server's answer to its board call (`result` or `error`). */
export function settle(entry, { result, error }) {
  if (result) {
    return { ...entry, state: 'boarded', boarded_at: result.boarded_at || entry.boarded_at, other: null };
  }
  if (error?.status === 409 && error.code === 'already_boarded') {
    const d = error.details || {};
    return { ...entry, state: 'conflict', other: { device: d.device ?? null, boarded_at: d.boarded_at ?? null } };
  }
  const state = error?.details?.state || (error?.code === 'invalid_ticket' ? 'invalid' : error?.code || 'error');
  return { ...entry, state: 'refused', other: { state, message: error?.message || null } };
}

/**
 * Sends every queued scan with `board(qr)` (resolving to the board answer or rejecting with
 * an ApiError). Reads the scans with `load()` and writes each answer at once with
 * `save(scans)`, so a scan made meanwhile is kept. Resolves to `{scans, synced, conflicts,
 * refused, left, error}`; `error` is the transient error that stopped it (the rest stay queued).
 */
export async function sync({ load, save, board }) {
  const counts = { synced: 0, conflicts: 0, refused: 0 };
  for (const entry of pending(load())) {
    let outcome;
    try {
      outcome = { result: await board(entry.qr) };
    } catch (error) {
      if (isTransient(error)) return { scans: load(), ...counts, left: pending(load()).length, error };
      outcome = { error };
    }
    const settled = settle(entry, outcome);
    if (settled.state === 'boarded') counts.synced += 1;
    else if (settled.state === 'conflict') counts.conflicts += 1;
    else counts.refused += 1;
    save(upsert(load(), settled));
  }
  const scans = load();
  return { scans, ...counts, left: pending(scans).length, error: null };
}
