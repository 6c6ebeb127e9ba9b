import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  APPLY_WINDOW_MS,
  cancellationProgress,
  count,
  figures,
  fromDhakaInput,
  historyText,
  lastMinute,
  lookupPlan,
  parkedBody,
  parkedDone,
  parkedSummary,
  percent,
  phoneE164,
  queryOf,
  shownClosed,
  stamp,
  toDhakaInput,
  waitingRoomText,
} from '../../src/console/model.js';

const trip = {
  trip_id: 7,
  sold: 1234,
  held: 3,
  free: 63,
  boarded: 0,
  sold_last_minute: 2,
  classes: [
    { class: 'S_CHAIR', total: 1000, sold: 990, held: 3, free: 7 },
    { class: 'AC_S', total: 300, sold: 244, held: 0, free: 56 },
  ],
};

describe('console numbers', () => {
  it('writes counts with separators and a dash for a missing one', () => {
    assert.equal(count(0), '0');
    assert.equal(count(1234567), '1,234,567');
    assert.equal(count(undefined), '—');
    assert.equal(count(null), '—');
    assert.equal(count(Number.NaN), '—');
  });

  it('rounds the sold share down and copes with an empty trip', () => {
    assert.equal(percent(1234, 1300), '94%');
    assert.equal(percent(1299, 1300), '99%');
    assert.equal(percent(1300, 1300), '100%');
    assert.equal(percent(5, 0), '0%');
    assert.equal(percent(undefined, 10), '0%');
    assert.equal(percent(12, 10), '100%');
  });

  it('names the seats sold in the last minute', () => {
    assert.equal(lastMinute(0), 'none in the last minute');
    assert.equal(lastMinute(undefined), 'none in the last minute');
    assert.equal(lastMinute(1200), '+1,200 in the last minute');
  });

  it('gives the headline figures of a trip in order, with the total from its classes', () => {
    assert.deepEqual(figures(trip), [
      { key: 'sold', label: 'Sold', value: '1,234', note: '94%' },
      { key: 'held', label: 'Held now', value: '3', note: null },
      { key: 'free', label: 'Free', value: '63', note: 'of 1,300' },
      { key: 'boarded', label: 'Boarded', value: '0', note: null },
    ]);
    assert.equal(figures({ sold: 0, held: 0, free: 0, boarded: 0 })[2].note, 'of 0');
  });

  it('describes the waiting room, or its absence', () => {
    assert.equal(waitingRoomText(null), 'No waiting room');
    assert.equal(
      waitingRoomText({ state: 'open', waiting: 1500, now_serving: 34, admitted_per_minute: 120 }),
      'Waiting room open: 1,500 waiting, serving no. 34, 120 let in a minute',
    );
    assert.equal(
      waitingRoomText({ state: 'pre_queue', waiting: 40, now_serving: null, admitted_per_minute: 60 }),
      'Waiting room pre-queue: 40 waiting, 60 let in a minute',
    );
  });

  it('writes times to the second in Bangladesh time', () => {
    assert.equal(stamp('2026-11-30T19:03:04Z'), '1 Dec, 01:03:04');
    assert.equal(stamp('not a time'), '—');
  });
});

describe('cancellation progress', () => {
  const base = { trip_id: 7, reason: 'Flood', bookings_total: 5, cancelled: 3, left: 2, refunds_requested: 2, done: false };

  it('is cancelling while bookings are left', () => {
    const p = cancellationProgress({ ...base, refunds_completed: 0 });
    assert.equal(p.phase, 'cancelling');
    assert.equal(p.complete, false);
    assert.equal(p.bookings, '3 of 5 bookings cancelled, 2 left');
    assert.equal(p.refunds, 'Refunds: 0 of 2 completed');
    assert.equal(p.fraction, 0.6);
  });

  it('waits for the refunds after the last booking is cancelled', () => {
    const p = cancellationProgress({ ...base, cancelled: 5, left: 0, refunds_requested: 3, refunds_completed: 2, done: true });
    assert.equal(p.phase, 'refunding');
    assert.equal(p.headline, 'Bookings cancelled; waiting for the refunds…');
    assert.equal(p.refunds, 'Refunds: 2 of 3 completed');
  });

  it('is done when every paid booking is refunded', () => {
    const p = cancellationProgress({ ...base, cancelled: 5, left: 0, refunds_requested: 3, refunds_completed: 3, done: true });
    assert.equal(p.phase, 'done');
    assert.equal(p.complete, true);
    assert.equal(p.headline, 'Trip cancelled: every paid booking refunded');
    assert.equal(p.fraction, 1);
  });

  it('never calls unknown refund completions done', () => {
    const p = cancellationProgress({ ...base, cancelled: 5, left: 0, refunds_requested: 1, done: true });
    assert.equal(p.phase, 'refunding');
    assert.equal(p.refunds, 'Refunds requested for 1 paid booking; completions not reported');
  });

  it('is done at once for a trip with no paid booking, and says when it had none at all', () => {
    const unpaid = cancellationProgress({ ...base, cancelled: 1, left: 0, bookings_total: 1, refunds_requested: 0, refunds_completed: 0, done: true });
    assert.equal(unpaid.phase, 'done');
    assert.equal(unpaid.headline, 'Trip cancelled');
    assert.equal(unpaid.refunds, 'No paid booking to refund');
    const empty = cancellationProgress({ ...base, cancelled: 0, left: 0, bookings_total: 0, refunds_requested: 0, refunds_completed: 0, done: true });
    assert.equal(empty.bookings, 'The trip had no bookings to cancel');
    assert.equal(empty.fraction, 1);
  });

  it('is still cancelling while the holds are being freed (left 0, not done)', () => {
    assert.equal(cancellationProgress({ ...base, cancelled: 5, left: 0, refunds_completed: 2 }).phase, 'cancelling');
  });
});

describe('the opening in Dhaka time', () => {
  it('shows an RFC 3339 time as a datetime-local value in Dhaka', () => {
    assert.equal(toDhakaInput('2026-12-10T02:00:00Z'), '2026-12-10T08:00');
    assert.equal(toDhakaInput('2026-12-09T20:30:00Z'), '2026-12-10T02:30');
    assert.equal(toDhakaInput('nonsense'), '');
  });

  it('reads a datetime-local value as Dhaka time', () => {
    assert.equal(fromDhakaInput('2026-12-10T08:00'), '2026-12-10T02:00:00Z');
    assert.equal(fromDhakaInput('2026-12-10T02:30:15'), '2026-12-09T20:30:15Z');
    assert.equal(fromDhakaInput(toDhakaInput('2027-01-01T00:00:00Z')), '2027-01-01T00:00:00Z');
  });

  it('refuses what is not a date and time', () => {
    assert.equal(fromDhakaInput(''), null);
    assert.equal(fromDhakaInput('2026-12-10'), null);
    assert.equal(fromDhakaInput('2026-02-31T08:00'), null);
    assert.equal(fromDhakaInput('10/12/2026 08:00'), null);
  });
});

describe('closing and reopening sales', () => {
  const at = 1_000_000;

  it('shows the overview when nothing was switched', () => {
    assert.deepEqual(shownClosed(false, null, at), { closed: false, applying: false });
    assert.deepEqual(shownClosed(true, null, at), { closed: true, applying: false });
    assert.deepEqual(shownClosed(undefined, null, at), { closed: false, applying: false });
  });

  it('shows a switch until the overview reports it', () => {
    const pending = { sales_closed: true, at };
    assert.deepEqual(shownClosed(false, pending, at + 2000), { closed: true, applying: true });
    assert.deepEqual(shownClosed(true, pending, at + 3000), { closed: true, applying: false });
  });

  it('lets the overview win once the window has passed', () => {
    const pending = { sales_closed: false, at };
    assert.deepEqual(shownClosed(true, pending, at + APPLY_WINDOW_MS + 1), { closed: true, applying: false });
  });
});

describe('the booking lookup plan', () => {
  it('tries a UUID as a booking id, then as a user id', () => {
    const plan = lookupPlan('  6F9619FF-8B86-D011-B42D-00C04FC964FF ');
    assert.equal(plan.kind, 'id');
    assert.deepEqual(plan.attempts, [
      { bookings: { booking_id: '6f9619ff-8b86-d011-b42d-00c04fc964ff' } },
      { bookings: { user_id: '6f9619ff-8b86-d011-b42d-00c04fc964ff' } },
    ]);
  });

  it('normalises a ticket code', () => {
    for (const typed of ['RR-7K2M-Q9XD-4TPA-H3WB', 'rr-7k2m-q9xd-4tpa-h3wb', 'RR7K2MQ9XD4TPAH3WB', ' RR-7K2M Q9XD-4TPA-H3WB ']) {
      assert.deepEqual(lookupPlan(typed).attempts, [{ bookings: { ticket_code: 'RR-7K2M-Q9XD-4TPA-H3WB' } }], typed);
    }
    assert.equal(lookupPlan('RR-7K2M-Q9XD-4TPA-H3WB').label, 'ticket RR-7K2M-Q9XD-4TPA-H3WB');
  });

  it('finds an account by phone in E.164, local or with spaces', () => {
    for (const typed of ['+8801712345678', '01712345678', '01712-345678', '+880 1712 345678', '8801712345678']) {
      const plan = lookupPlan(typed);
      assert.equal(plan.kind, 'phone', typed);
      assert.deepEqual(plan.attempts, [{ users: { phone: '+8801712345678' } }], typed);
    }
    assert.equal(phoneE164('+447700900123'), '+447700900123');
    assert.equal(phoneE164('12345'), null);
  });

  it('finds an account by email, lower-cased', () => {
    assert.deepEqual(lookupPlan('Ops@Example.com').attempts, [{ users: { email: 'ops@example.com' } }]);
  });

  it('refuses empty and unrecognisable input with a sentence', () => {
    assert.match(lookupPlan('   ').error, /^Enter a booking id/);
    assert.match(lookupPlan('hello').error, /“hello” is not a booking id/);
    assert.match(lookupPlan('RR-1234').error, /is not a booking id/);
  });

  it('builds the query string of one lookup', () => {
    assert.equal(queryOf({ ticket_code: 'RR-7K2M-Q9XD-4TPA-H3WB' }), 'ticket_code=RR-7K2M-Q9XD-4TPA-H3WB');
    assert.equal(queryOf({ phone: '+8801712345678' }), 'phone=%2B8801712345678');
  });

  it('writes history entries in words, outbox events by their type', () => {
    assert.equal(historyText({ kind: 'paid', detail: null }), 'Paid');
    assert.equal(historyText({ kind: 'confirmed', detail: '' }), 'Confirmed');
    assert.equal(historyText({ kind: 'booking.confirmed', detail: 'sent' }), 'booking.confirmed · sent');
    assert.equal(historyText({ kind: 'cancelled', detail: 'Flood' }), 'Cancelled · Flood');
  });
});

describe('parked messages', () => {
  it('sends the chosen ids or all', () => {
    assert.deepEqual(parkedBody(new Set(['a', 'b'])), { message_ids: ['a', 'b'] });
    assert.deepEqual(parkedBody(new Set(['a']), true), { all: true });
  });

  it('says what was done and what is parked', () => {
    assert.equal(parkedDone('replay', 2, 'booking.payments'), 'Replayed 2 messages from booking.payments.');
    assert.equal(parkedDone('drop', 1, 'x'), 'Dropped 1 message from x.');
    assert.equal(parkedSummary([]), 'Nothing parked');
    assert.equal(parkedSummary([{ queue: 'a', count: 0 }, { queue: 'b', count: 0 }]), 'Nothing parked');
    assert.equal(parkedSummary([{ queue: 'a', count: 3 }, { queue: 'b', count: 0 }, { queue: 'c', count: 1 }]), '4 parked messages in 2 queues');
  });
});
