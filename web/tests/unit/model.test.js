import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_SEATS, SeatMap, limitFrom, nextSeatIndex } from '../../src/seatmap/model.js';
import { hold, tripDetail } from './fixtures.js';

const snapshot = (entries) => Object.entries(entries).map(([id, status]) => ({ seat_id: Number(id), status }));

/** A map after its first read: every seat available but those named. */
function loaded(statuses = {}) {
  const map = new SeatMap(tripDetail());
  const all = Object.fromEntries([...map.seats.keys()].map((id) => [id, 'available']));
  map.applySnapshot(map.beginResync(), snapshot({ ...all, ...statuses }));
  return map;
}

describe('a seat map built from a TripDetail', () => {
  it('knows every seat with its coach, class and number', () => {
    const map = new SeatMap(tripDetail());
    assert.deepEqual(map.seat(7), { seat_id: 7, label: 'KHA-1', fare: 50000, coach: 'KHA', class: 'S_CHAIR', number: '1' });
    assert.deepEqual(map.coaches.map((c) => [c.code, c.seatIds.length]), [['KA', 6], ['KHA', 2]]);
    assert.equal(map.maxSeats, DEFAULT_MAX_SEATS);
  });

  it('shows seats as available but their status as unknown until the first snapshot', () => {
    const map = new SeatMap(tripDetail());
    assert.equal(map.statusOf(1), 'unknown');
    assert.equal(map.shown(1), 'available');
    assert.equal(map.free('KA'), 6);
  });

  it('counts free seats per coach from the snapshot', () => {
    const map = loaded({ 1: 'held', 2: 'booked', 7: 'booked' });
    assert.equal(map.free('KA'), 4);
    assert.equal(map.free('KHA'), 1);
    assert.equal(map.free('GA'), 0);
  });

  it('labels and prices a list of seats', () => {
    const map = new SeatMap(tripDetail());
    assert.equal(map.labels([1, 7, 99]), 'KA-1, KHA-1, #99');
    assert.equal(map.fare([1, 7, 99]), 189800);
  });
});

describe('selecting seats', () => {
  it('adds a free seat and removes it on a second press', () => {
    const map = loaded();
    assert.equal(map.toggle(3), 'added');
    assert.equal(map.toggle(1), 'added');
    assert.deepEqual(map.selectedIds(), [1, 3]);
    assert.equal(map.shown(3), 'selected');
    assert.equal(map.toggle(3), 'removed');
    assert.deepEqual(map.selectedIds(), [1]);
  });

  it('refuses seats that are held by others or booked', () => {
    const map = loaded({ 1: 'held', 2: 'booked' });
    assert.equal(map.toggle(1), 'unavailable');
    assert.equal(map.toggle(2), 'unavailable');
    assert.equal(map.toggle(404), 'unknown');
    assert.deepEqual(map.selectedIds(), []);
  });

  it('stops at the limit, and the limit can change', () => {
    const map = loaded();
    for (const id of [1, 2, 3, 4]) assert.equal(map.toggle(id), 'added');
    assert.equal(map.toggle(5), 'limit');
    map.setMaxSeats(2);
    assert.equal(map.toggle(5), 'limit');
    assert.deepEqual(map.selectedIds(), [1, 2, 3, 4], 'a lower limit does not take seats away');
    map.setMaxSeats(null);
    map.setMaxSeats(0);
    assert.equal(map.maxSeats, 2, 'no limit named, no change');
  });

  it('changes nothing while the user holds seats', () => {
    const map = loaded();
    map.setHold(hold([1, 2]));
    assert.equal(map.toggle(3), 'holding');
    assert.equal(map.toggle(1), 'holding');
    assert.deepEqual(map.selectedIds(), []);
  });
});

describe('the seat limit named by the API', () => {
  it('comes from details.max_seats of seat_limit_reached', () => {
    assert.equal(limitFrom({ code: 'seat_limit_reached', message: 'x', details: { max_seats: 6 } }), 6);
  });

  it("comes from booking-service's message when details do not name it", () => {
    const e = { code: 'seat_limit_reached', message: 'a passenger may hold or own at most 3 seats of a trip', details: {} };
    assert.equal(limitFrom(e), 3);
  });

  it('is unknown for other errors and for answers that name no number', () => {
    assert.equal(limitFrom({ code: 'seat_unavailable', message: 'at most 3 seats', details: {} }), null);
    assert.equal(limitFrom({ code: 'seat_limit_reached', message: 'too many', details: { max_seats: 'many' } }), null);
    assert.equal(limitFrom(null), null);
  });
});

describe('live changes', () => {
  it('set the status of the seat', () => {
    const map = loaded();
    assert.equal(map.applyChange(5, 'booked'), false);
    assert.equal(map.statusOf(5), 'booked');
    assert.equal(map.shown(5), 'booked');
    assert.equal(map.free('KA'), 5);
  });

  it('take a seat someone else got out of the selection', () => {
    const map = loaded();
    map.toggle(1);
    map.toggle(2);
    assert.equal(map.applyChange(2, 'held'), true);
    assert.deepEqual(map.selectedIds(), [1]);
    assert.equal(map.shown(2), 'held');
  });

  it('leave alone the seats of our own hold request and of our hold', () => {
    const map = loaded();
    map.toggle(1);
    map.toggle(2);
    map.holding([1, 2]);
    assert.equal(map.applyChange(1, 'held'), false, 'the change of a seat being held by us is ours');
    assert.deepEqual(map.selectedIds(), [1, 2]);
    map.holdSettled();
    map.setHold(hold([1, 2]));
    assert.equal(map.applyChange(2, 'held'), false);
    assert.equal(map.shown(2), 'mine');
  });

  it('ignore seats of other trips and unknown statuses', () => {
    const map = loaded();
    assert.equal(map.applyChange(99, 'held'), false);
    assert.equal(map.applyChange(1, 'reserved'), false);
    assert.equal(map.statusOf(1), 'available');
    assert.equal(map.status.has(99), false);
  });
});

describe('resync', () => {
  it('applies the whole map and names the selected seats it took away', () => {
    const map = loaded();
    map.toggle(1);
    map.toggle(3);
    const token = map.beginResync();
    assert.deepEqual(map.applySnapshot(token, snapshot({ 1: 'booked', 2: 'held', 3: 'available' })), [1]);
    assert.deepEqual(map.selectedIds(), [3]);
    assert.equal(map.statusOf(2), 'held');
  });

  it('replays the live changes that arrived while the map was being read', () => {
    const map = loaded();
    const token = map.beginResync();
    map.applyChange(4, 'held'); // the answer below was read before this change
    map.applyChange(5, 'booked');
    map.applySnapshot(token, snapshot({ 4: 'available', 5: 'held' }));
    assert.equal(map.statusOf(4), 'held');
    assert.equal(map.statusOf(5), 'booked');
  });

  it('keeps no log once the read is over or abandoned', () => {
    const map = loaded();
    const first = map.beginResync();
    const second = map.beginResync();
    map.applyChange(1, 'held');
    map.abortResync(first);
    map.applySnapshot(second, []);
    map.applyChange(2, 'held');
    assert.equal(map.resyncs.size, 0);
    assert.deepEqual(second, [[1, 'held']]);
  });
});

describe('holds', () => {
  it('turn the selection into seats held by the user', () => {
    const map = loaded();
    map.toggle(2);
    map.toggle(1);
    map.setHold(hold([2, 1]));
    assert.deepEqual(map.selectedIds(), []);
    assert.deepEqual(map.heldIds(), [1, 2]);
    assert.equal(map.statusOf(1), 'held');
    assert.equal(map.shown(1), 'mine');
    assert.equal(map.isUnavailable(1), false);
  });

  it('free their seats when released', () => {
    const map = loaded();
    map.setHold(hold([1, 2]));
    map.applyChange(2, 'booked');
    map.dropHold({ released: true });
    assert.equal(map.hold, null);
    assert.equal(map.statusOf(1), 'available');
    assert.equal(map.statusOf(2), 'booked', 'only held seats become free');
  });

  it('leave the statuses to the live feed when they lapse', () => {
    const map = loaded();
    map.setHold(hold([1]));
    map.dropHold();
    assert.equal(map.shown(1), 'held');
  });

  it('mark seats named by seat_unavailable as taken', () => {
    const map = loaded();
    map.toggle(1);
    map.toggle(2);
    assert.deepEqual(map.markTaken([2, 99]), [2]);
    assert.deepEqual(map.selectedIds(), [1]);
    assert.equal(map.shown(2), 'held');
  });
});

describe('keyboard moves in a coach', () => {
  it('go one seat sideways and one row of four up or down', () => {
    assert.equal(nextSeatIndex('ArrowRight', 0, 10), 1);
    assert.equal(nextSeatIndex('ArrowLeft', 5, 10), 4);
    assert.equal(nextSeatIndex('ArrowDown', 1, 10), 5);
    assert.equal(nextSeatIndex('ArrowUp', 5, 10), 1);
  });

  it('jump to the ends and never leave the coach', () => {
    assert.equal(nextSeatIndex('Home', 7, 10), 0);
    assert.equal(nextSeatIndex('End', 2, 10), 9);
    assert.equal(nextSeatIndex('ArrowLeft', 0, 10), null);
    assert.equal(nextSeatIndex('ArrowDown', 7, 10), null);
    assert.equal(nextSeatIndex('Enter', 3, 10), null);
  });
});
