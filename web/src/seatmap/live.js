// A trip's live seat changes (`GET /api/bookings/trips/{id}/events`, Server-Sent Events),
// kept connected. After every (re)connection, and whenever the server says the stream lost
// changes (`event: resync`), the map must be read again: onResync() asks for that. No DOM;
// EventSource and the timers can be replaced (tests).
import { isStatus } from './model.js';

const MAX_DELAY_MS = 30000;

/**
 * How long to wait before reconnection attempt `attempt` (0, 1, ...) of a stream the
 * browser gave up on: 1 s, doubling, at most 30 s. (The browser retries a dropped
 * connection by itself; it gives up when an answer is not an event stream, such as a 502 from
 * the gateway while booking-service restarts.)
 */
export function reconnectDelay(attempt) {
  return Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.max(0, attempt));
}

/** The `data` of an `event: seat` as {seat_id, status}, or null when it is not one. */
export function parseSeatEvent(data) {
  try {
    const change = JSON.parse(data);
    return Number.isInteger(change?.seat_id) && isStatus(change.status)
      ? { seat_id: change.seat_id, status: change.status }
      : null;
  } catch {
    return null;
  }
}

/**
 * Follows `url`. Handlers: onSeat({seat_id, status}), onResync(), onState('on' | 'off').
 * Returns { close() }, which stops it for good.
 */
export function liveFeed(url, { onSeat, onResync, onState }, { EventSource: Source = globalThis.EventSource, timers = globalThis } = {}) {
  let source = null;
  let retry = null;
  let attempt = 0;
  let closed = false;

  function connect() {
    retry = null;
    source = new Source(url);
    source.addEventListener('open', () => {
      attempt = 0;
      onState('on');
      // Whatever changed while (re)connecting is read from the seat map.
      onResync();
    });
    source.addEventListener('seat', (e) => {
      // A malformed event is ignored; the next resync corrects the map.
      const change = parseSeatEvent(e.data);
      if (change) onSeat(change);
    });
    source.addEventListener('resync', () => onResync());
    source.addEventListener('error', () => {
      if (closed) return;
      onState('off');
      if (source.readyState === Source.CLOSED && retry === null) {
        retry = timers.setTimeout(connect, reconnectDelay(attempt));
        attempt += 1;
      }
    });
  }

  connect();
  return {
    close() {
      closed = true;
      if (retry !== null) timers.clearTimeout(retry);
      source.close();
    },
  };
}
