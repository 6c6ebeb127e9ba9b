import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANNOUNCE_EVERY_MS,
  CONFIRM_GRACE_MS,
  PLACE_EVERY_MS,
  Waiting,
  dropPass,
  keepPass,
  keptPass,
  missingVerification,
  needsPass,
  nidProblem,
  normalNid,
  saleIdOf,
} from '../../src/waiting/room.js';
import { countdown } from '../../src/format.js';

const at = (iso) => Date.parse(iso);
const SALE = '20301210T020000Z';

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
  };
}

const status = (over = {}) => ({
  sale_id: SALE,
  state: 'pre_queue',
  opens_at: '2030-12-10T02:00:00Z',
  now_serving: 0,
  waiting: 0,
  admitted_per_minute: 60,
  waiting_room: true,
  pre_queue_opens_at: '2030-12-10T01:30:00Z',
  ...over,
});

const place = (over = {}) => ({
  sale_id: SALE,
  state: 'waiting',
  number: null,
  position: null,
  ahead: null,
  estimated_wait_s: null,
  pass: null,
  pass_expires_at: null,
  ...over,
});

describe('the sale of a trip', () => {
  it("is its sales_open_at in UTC as YYYYMMDDTHHMMSSZ, whatever the offset it is written with", () => {
    assert.equal(saleIdOf('2030-12-10T02:00:00Z'), SALE);
    assert.equal(saleIdOf('2030-12-10T08:00:00+06:00'), SALE);
    assert.equal(saleIdOf('2030-12-10T02:00:00.000Z'), SALE);
    assert.equal(saleIdOf(null), null);
    assert.equal(saleIdOf('not a date'), null);
  });
});

describe('verification before joining', () => {
  it('names what is missing in the API\'s words', () => {
    assert.deepEqual(missingVerification({ phone_verified: false, nid_verified: false }), ['phone', 'nid']);
    assert.deepEqual(missingVerification({ phone_verified: true, nid_verified: false }), ['nid']);
    assert.deepEqual(missingVerification({ phone_verified: true, nid_verified: true }), []);
    assert.deepEqual(missingVerification(null), ['phone', 'nid']);
  });

  it('takes an NID of 10 or 17 digits, spaces and dashes aside', () => {
    assert.equal(nidProblem('1234567890'), null);
    assert.equal(nidProblem('1990 1234 5678 90123'), null);
    assert.equal(normalNid(' 12345-67890 '), '1234567890');
    assert.match(nidProblem(''), /Enter/);
    assert.match(nidProblem('12345678901'), /10 or 17 digits/);
    assert.match(nidProblem('12345abcde'), /10 or 17 digits/);
  });
});

describe('the pass kept per sale', () => {
  const admitted = place({ state: 'admitted', number: 3, position: 0, ahead: 0, pass: 'p.sig', pass_expires_at: '2030-12-10T02:10:00Z' });

  it('comes back until pass_expires_at, per sale', () => {
    const storage = memoryStorage();
    keepPass(admitted, { storage });
    assert.equal(keptPass(SALE, { storage, now: at('2030-12-10T02:09:59Z') }), 'p.sig');
    assert.equal(keptPass('20301211T020000Z', { storage, now: at('2030-12-10T02:01:00Z') }), null);
    assert.equal(keptPass(SALE, { storage, now: at('2030-12-10T02:10:00Z') }), null);
  });

  it("lasts a hold's lifetime longer for confirm", () => {
    const storage = memoryStorage();
    keepPass(admitted, { storage });
    const late = at('2030-12-10T02:12:00Z');
    assert.equal(keptPass(SALE, { storage, now: late }), null);
    assert.equal(keptPass(SALE, { storage, now: late, graceMs: CONFIRM_GRACE_MS }), 'p.sig');
  });

  it('is kept only from an admitted place, and forgotten on request', () => {
    const storage = memoryStorage();
    keepPass(place(), { storage });
    assert.equal(keptPass(SALE, { storage, now: 0 }), null);
    keepPass(admitted, { storage });
    dropPass(SALE, { storage });
    assert.equal(keptPass(SALE, { storage, now: 0 }), null);
  });

  it('survives a broken store', () => {
    const storage = { getItem: () => '{not json', setItem: () => { throw new Error('full'); }, removeItem: () => {} };
    keepPass(admitted, { storage });
    assert.equal(keptPass(SALE, { storage }), null);
  });

  it('is what the queue_pass_* refusals ask for', () => {
    assert.ok(needsPass({ status: 403, code: 'queue_pass_required' }));
    assert.ok(needsPass({ status: 403, code: 'queue_pass_invalid' }));
    assert.ok(!needsPass({ status: 403, code: 'forbidden' }));
    assert.ok(!needsPass(null));
  });
});

describe('the waiting page model', () => {
  it('walks the phases: join, pre-queue, waiting, admitted', () => {
    const w = new Waiting(status());
    assert.equal(w.phase(), 'join');
    w.setPlace(place(), at('2030-12-10T01:59:00Z'));
    assert.equal(w.phase(), 'pre_queue');
    assert.equal(w.position(), null);
    assert.equal(w.progress(), 0);
    assert.match(w.summary(), /random place in line at the opening/);
    w.setStatus(status({ state: 'open', now_serving: 2 }));
    w.setPlace(place({ number: 12, position: 10, ahead: 9, estimated_wait_s: 10 }));
    assert.equal(w.phase(), 'waiting');
    assert.equal(w.position(), 10);
    assert.equal(w.ahead(), 9);
    w.setPlace(place({ state: 'admitted', number: 12, position: 0, ahead: 0, pass: 'x', pass_expires_at: '2030-12-10T02:10:00Z' }));
    assert.equal(w.phase(), 'admitted');
    assert.ok(w.isOver());
    assert.equal(w.progress(), 1);
  });

  it('moves the position, the people ahead and the progress with the public serving counter', () => {
    const w = new Waiting(status({ state: 'open', now_serving: 2 }));
    w.setPlace(place({ number: 12, position: 10, ahead: 9 }));
    assert.equal(w.progress(), 0);
    w.setStatus(status({ state: 'open', now_serving: 7 }));
    assert.equal(w.position(), 5);
    assert.equal(w.ahead(), 4);
    assert.equal(w.progress(), 0.5);
    assert.match(w.summary(), /number 5 in line; 4 people are ahead/);
    w.setStatus(status({ state: 'open', now_serving: 11 }));
    assert.match(w.summary(), /number 1 in line; 0 people are ahead/);
    w.setStatus(status({ state: 'open', now_serving: 12 }));
    assert.equal(w.position(), 1, 'never below 1 until the place says admitted');
  });

  it("starts a pre-queued place's progress at the opening, where the counter was 0", () => {
    const w = new Waiting(status());
    w.setPlace(place());
    w.setStatus(status({ state: 'open', now_serving: 6 }));
    w.setPlace(place({ number: 12, position: 6, ahead: 5 }));
    assert.equal(w.progress(), 0.5);
  });

  it('never shows a place further back than the last place read (a cached status lags)', () => {
    const w = new Waiting(status({ state: 'open', now_serving: 0 }));
    w.setPlace(place({ number: 12, position: 4 }));
    assert.equal(w.position(), 4);
  });

  it('estimates the wait from the rate and the time to the opening', () => {
    const now = at('2030-12-10T01:59:00Z');
    const w = new Waiting(status({ admitted_per_minute: 60 }));
    assert.equal(w.secondsToOpen(now), 60);
    w.setPlace(place({ estimated_wait_s: 60 }), now);
    assert.equal(w.estimatedWait(at('2030-12-10T01:59:30Z')), 30, 'pre-queue: the time to the opening');
    w.setStatus(status({ state: 'open', now_serving: 0, admitted_per_minute: 30 }));
    w.setPlace(place({ number: 10, position: 10 }), at('2030-12-10T02:00:01Z'));
    assert.equal(w.estimatedWait(at('2030-12-10T02:00:01Z')), 20, '10 places at 30 a minute');
  });

  it("counts with the place's rate while the measured one lags behind it (just after the opening)", () => {
    const now = at('2030-12-10T02:00:05Z');
    const w = new Waiting(status({ state: 'open', now_serving: 10, admitted_per_minute: 2 }));
    w.setPlace(place({ number: 13, position: 3, estimated_wait_s: 2 }), now);
    assert.equal(w.estimatedWait(now), 2, '3 places at the 90 a minute the place implies, not 90 s at 2 a minute');
    w.setStatus(status({ state: 'open', now_serving: 10, admitted_per_minute: 180 }));
    assert.equal(w.estimatedWait(now), 1, 'a faster measured rate wins');
  });

  it('reads the place every 15 s, and at once when the counter reaches it or the line is numbered', () => {
    const t0 = at('2030-12-10T01:59:00Z');
    const w = new Waiting(status());
    assert.equal(w.placeDue(t0), false, 'no place to read before joining');
    w.setPlace(place(), t0);
    assert.equal(w.placeDue(t0 + 1000), false);
    assert.equal(w.placeDue(t0 + PLACE_EVERY_MS), true);
    w.setStatus(status({ state: 'open' }));
    assert.equal(w.placeDue(t0 + 1000), true, 'numbered at the opening: read the number');
    w.setPlace(place({ number: 5, position: 5 }), t0 + 2000);
    assert.equal(w.placeDue(t0 + 3000), false);
    w.setStatus(status({ state: 'open', now_serving: 5 }));
    assert.equal(w.placeDue(t0 + 3000), true, 'our turn came');
    w.setPlace(place({ state: 'admitted', number: 5, position: 0, pass: 'x', pass_expires_at: '2030-12-10T02:10:00Z' }), t0 + 4000);
    assert.equal(w.placeDue(t0 + 60000), false, 'nothing to read once admitted');
  });

  it('ends on sold out, closed, expired, or a room that ended', () => {
    const w = new Waiting(status({ state: 'sold_out' }));
    w.setPlace(place({ number: 3, position: 3 }));
    assert.equal(w.phase(), 'sold_out');
    assert.match(w.summary(), /Sold out/);
    w.setStatus(status({ state: 'open' }));
    w.setPlace(place({ state: 'sold_out', number: 3 }));
    assert.equal(w.phase(), 'sold_out', 'the place says so too');
    w.setPlace(place({ state: 'expired', number: 3 }));
    assert.equal(w.phase(), 'expired');
    assert.ok(!w.isOver(), 'an expired place can join again');
    w.setStatus(status({ state: 'closed' }));
    assert.equal(w.phase(), 'closed');
    w.setStatus(status({ state: 'open', waiting_room: false }));
    w.setPlace(place({ number: 3, position: 1 }));
    assert.equal(w.phase(), 'free', 'the queue drained: no pass needed');
  });

  it('announces a new phase at once and a moved position at most every 15 s', () => {
    const t0 = at('2030-12-10T02:00:00Z');
    const w = new Waiting(status({ state: 'open', now_serving: 0 }));
    w.setPlace(place({ number: 20, position: 20 }), t0);
    assert.match(w.announcement(t0), /number 20/);
    assert.equal(w.announcement(t0 + 1000), null, 'nothing new');
    w.setStatus(status({ state: 'open', now_serving: 5 }));
    assert.equal(w.announcement(t0 + 2000), null, 'too soon after the last');
    assert.match(w.announcement(t0 + ANNOUNCE_EVERY_MS), /number 15/);
    w.setPlace(place({ state: 'admitted', number: 20, position: 0, pass: 'x', pass_expires_at: '2030-12-10T02:10:00Z' }), t0 + ANNOUNCE_EVERY_MS + 1);
    assert.match(w.announcement(t0 + ANNOUNCE_EVERY_MS + 1), /your turn/);
  });
});

describe('the countdown format', () => {
  it('shows hours only when there are some', () => {
    assert.equal(countdown(65), '1:05');
    assert.equal(countdown(3600 + 62), '1:01:02');
    assert.equal(countdown(-3), '0:00');
  });
});
