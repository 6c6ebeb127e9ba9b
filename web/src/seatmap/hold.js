// A hold's clock and its place in sessionStorage. How long a hold lasts is the API's to say:
// everything here counts from the `expires_at` of the Hold it answered, never from a fixed
// length. No DOM.
import { sessionStore } from '../storage.js';

/** Seconds left at which the panel turns urgent. */
export const URGENT_AT = 60;
/** Seconds left at which a screen reader hears how long is left, once each. */
export const WARN_AT = [60, 10];

/** Whole seconds left on `hold` at `now` (ms since the epoch); zero or less once it lapsed. */
export function secondsLeft(hold, now = Date.now()) {
  return Math.ceil((Date.parse(hold.expires_at) - now) / 1000);
}

/**
 * The marks of WARN_AT that `secs` has reached and `warned` (a Set, updated) has not seen;
 * several at once when the clock jumped (a page opened late, a sleeping laptop).
 */
export function newWarnings(secs, warned) {
  const due = WARN_AT.filter((mark) => secs <= mark && !warned.has(mark));
  for (const mark of due) warned.add(mark);
  return due;
}

const holdKey = (tripId) => `railrush.hold.${tripId}`;

function isHold(value) {
  return Boolean(value && typeof value.hold_id === 'string' && Array.isArray(value.seat_ids) && typeof value.expires_at === 'string');
}

/** The hold this tab took on `tripId` and that has not lapsed at `now`, or null. */
export function savedHold(tripId, { storage = sessionStore(), now = Date.now() } = {}) {
  try {
    const hold = JSON.parse(storage?.getItem(holdKey(tripId)) || 'null');
    return isHold(hold) && secondsLeft(hold, now) > 0 ? hold : null;
  } catch {
    return null;
  }
}

/** Keeps `hold` for a reload of the page; null forgets it. */
export function saveHold(tripId, hold, { storage = sessionStore() } = {}) {
  try {
    if (hold) storage?.setItem(holdKey(tripId), JSON.stringify(hold));
    else storage?.removeItem(holdKey(tripId));
  } catch {
    // Without storage the hold lasts as long as the page.
  }
}
