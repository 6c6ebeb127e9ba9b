import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { liveFeed, parseSeatEvent, reconnectDelay } from '../../src/seatmap/live.js';

/** An EventSource that the test drives: emit(type, data), fail(closed). */
class FakeSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static made = [];

  constructor(url) {
    this.url = url;
    this.readyState = FakeSource.CONNECTING;
    this.listeners = new Map();
    this.closed = false;
    FakeSource.made.push(this);
  }

  addEventListener(type, f) {
    this.listeners.set(type, [...(this.listeners.get(type) || []), f]);
  }

  emit(type, data) {
    if (type === 'open') this.readyState = FakeSource.OPEN;
    for (const f of this.listeners.get(type) || []) f({ type, data });
  }

  /** A dropped connection the browser retries (CONNECTING), or one it gave up on (CLOSED). */
  fail(givenUp) {
    this.readyState = givenUp ? FakeSource.CLOSED : FakeSource.CONNECTING;
    this.emit('error');
  }

  close() {
    this.closed = true;
    this.readyState = FakeSource.CLOSED;
  }
}

/** setTimeout/clearTimeout that only run when the test says so. */
function manualTimers() {
  const pending = new Map();
  let next = 1;
  return {
    pending,
    setTimeout(f, ms) {
      pending.set(next, { f, ms });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    runAll() {
      const due = [...pending.values()];
      pending.clear();
      for (const t of due) t.f();
      return due.map((t) => t.ms);
    },
  };
}

function start() {
  FakeSource.made = [];
  const calls = [];
  const timers = manualTimers();
  const feed = liveFeed(
    '/api/bookings/trips/42/events',
    {
      onSeat: (change) => calls.push(['seat', change]),
      onResync: () => calls.push(['resync']),
      onState: (state) => calls.push(['state', state]),
    },
    { EventSource: FakeSource, timers },
  );
  const source = () => FakeSource.made[FakeSource.made.length - 1];
  return { feed, calls, timers, source };
}

describe('seat events', () => {
  it('are read from their data', () => {
    assert.deepEqual(parseSeatEvent('{"seat_id":12,"status":"held"}'), { seat_id: 12, status: 'held' });
    assert.deepEqual(parseSeatEvent('{"seat_id":3,"status":"available","extra":1}'), { seat_id: 3, status: 'available' });
  });

  it('that are malformed read as null', () => {
    for (const data of ['', 'nope', 'null', '{"seat_id":"12","status":"held"}', '{"seat_id":1,"status":"gone"}', '{"seat_id":1.5,"status":"held"}']) {
      assert.equal(parseSeatEvent(data), null, data);
    }
  });
});

describe('reconnecting', () => {
  it('waits 1 s, doubling, at most 30 s', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 20].map(reconnectDelay), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

describe('the live feed', () => {
  it('connects to the trip, says it is live and asks for the map on open', () => {
    const { calls, source } = start();
    assert.equal(source().url, '/api/bookings/trips/42/events');
    assert.deepEqual(calls, []);
    source().emit('open');
    assert.deepEqual(calls, [['state', 'on'], ['resync']]);
  });

  it('passes seat changes on and drops malformed ones', () => {
    const { calls, source } = start();
    source().emit('open');
    calls.length = 0;
    source().emit('seat', '{"seat_id":5,"status":"booked"}');
    source().emit('seat', '{oops');
    source().emit('resync', '{}');
    assert.deepEqual(calls, [['seat', { seat_id: 5, status: 'booked' }], ['resync']]);
  });

  it("leaves a dropped connection to the browser's own retry, and resyncs when it is back", () => {
    const { calls, timers, source } = start();
    source().emit('open');
    calls.length = 0;
    source().fail(false);
    assert.equal(timers.pending.size, 0);
    source().emit('open');
    assert.deepEqual(calls, [['state', 'off'], ['state', 'on'], ['resync']]);
    assert.equal(FakeSource.made.length, 1);
  });

  it('opens a new stream after the browser gave up, backing off, and resyncs on it', () => {
    const { calls, timers, source } = start();
    source().fail(true);
    source().fail(true); // a second error of the same stream schedules nothing more
    assert.deepEqual(timers.runAll(), [1000]);
    assert.equal(FakeSource.made.length, 2);
    source().fail(true);
    assert.deepEqual(timers.runAll(), [2000]);
    source().emit('open');
    source().fail(true);
    assert.deepEqual(timers.runAll(), [1000], 'an open resets the back-off');
    source().emit('open');
    assert.deepEqual(calls.filter(([k]) => k === 'resync').length, 2);
    assert.equal(calls.at(-2)[1], 'on');
  });

  it('stops for good on close', () => {
    const { feed, calls, timers, source } = start();
    source().fail(true);
    const first = source();
    feed.close();
    assert.equal(timers.pending.size, 0);
    assert.equal(first.closed, true);
    calls.length = 0;
    first.fail(true);
    assert.deepEqual(calls, []);
    assert.equal(timers.pending.size, 0);
  });
});
