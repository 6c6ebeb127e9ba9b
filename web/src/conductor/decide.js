// What a conductor's phone decides about a scanned ticket without the server, from the trip's
// manifest (GET /api/tickets/trips/{trip_id}/manifest, downloaded while online) and what this
// phone scanned since. Pure: no DOM, no network, no storage.
//
// The signature (web/src/tickets/verify.js) proves what the ticket says; the manifest says
// whether its booking still holds. The order follows the server's (docs/api.md, "States"):
// cancelled, wrong trip, already boarded (in the manifest, or on this phone since), expired
// (the manifest says so, or the train left more than the manifest's valid hours ago), else
// valid. A ticket missing from the manifest is valid only when it was issued after the
// download (paid since); otherwise the server never listed it, and it is refused as unknown.
import { offlineState } from '../tickets/verify.js';

/** Decisions a conductor acts on: only `valid` boards. */
export const REFUSED = new Set(['cancelled', 'wrong_trip', 'already_boarded', 'expired', 'unknown', 'invalid']);

/** The manifest's entry of a booking, or null. */
export function entryOf(manifest, bookingId) {
  return (manifest?.tickets || []).find((t) => t.booking_id === bookingId) || null;
}

/**
 * The offline decision for `ticket` (a verified ticket's payload) on the manifest's trip:
 * `{state, boarded_at?, device?, entry}`, `state` one of `valid`, `cancelled`, `wrong_trip`,
 * `already_boarded`, `expired`, `unknown`. `local` is this phone's scan of the booking (a
 * queued or synced boarding: `{boarded_at, device}`), or null.
 */
export function decideOffline(ticket, manifest, { local = null, now = Date.now() } = {}) {
  const entry = entryOf(manifest, ticket.booking_id);
  const tripId = manifest?.trip_id ?? null;
  if (entry?.status === 'cancelled') return { state: 'cancelled', entry };
  if (tripId !== null && Number(tripId) !== ticket.trip_id) return { state: 'wrong_trip', entry };
  if (entry?.boarded_at) {
    return { state: 'already_boarded', boarded_at: entry.boarded_at, device: entry.device ?? null, entry };
  }
  if (local) {
    return { state: 'already_boarded', boarded_at: local.boarded_at, device: local.device ?? null, entry };
  }
  if (entry?.status === 'expired') return { state: 'expired', entry };
  const validHours = manifest?.valid_hours_after_departure ?? 24;
  if (offlineState(ticket, { now, validHours }) === 'expired') return { state: 'expired', entry };
  if (!entry) {
    const issued = Date.parse(ticket.issued_at);
    const downloaded = Date.parse(manifest?.generated_at);
    if (!(issued > downloaded)) return { state: 'unknown', entry };
  }
  return { state: 'valid', entry };
}

/** The words of a decision, for the result card and the list. */
export function describeState(state) {
  switch (state) {
    case 'valid':
      return 'Valid';
    case 'boarded':
      return 'Boarded';
    case 'queued':
      return 'Boarded offline, waiting to sync';
    case 'cancelled':
      return 'Refused: the booking was cancelled';
    case 'wrong_trip':
      return 'Refused: a ticket for another trip';
    case 'already_boarded':
      return 'Refused: already boarded';
    case 'expired':
      return 'Refused: the ticket has expired';
    case 'unknown':
      return 'Refused: not on this trip’s list (check online)';
    case 'invalid':
      return 'Refused: not a valid RailRush ticket';
    default:
      return state;
  }
}
