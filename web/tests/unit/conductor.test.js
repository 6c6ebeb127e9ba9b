import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decideOffline, entryOf } from '../../src/conductor/decide.js';
import { entryFor, flagged, isTransient, localBoarding, pending, settle, sync, upsert } from '../../src/conductor/queue.js';
import { conductorStore, memoryStorage, newDeviceName } from '../../src/conductor/store.js';
import { verifyTicket } from '../../src/tickets/verify.js';
import { ApiError } from '../../src/api.js';

// A ticket the Rust signer wrote (booking-service's fixture test): trip 42, departing
// 2030-01-02T01:00:00Z, issued 2030-01-01T10:00:00Z.
const fixture = JSON.parse(readFileSync(new URL('./ticket-fixture.json', import.meta.url)));
const ticket = fixture.ticket;
const BEFORE_DEPARTURE = Date.parse('2030-01-02T00:30:00Z');

/** The trip's manifest as GET /api/tickets/trips/42/manifest answers it, with `tickets`. */
function manifest(tickets, { generatedAt = '2030-01-01T12:00:00Z', tripId = 42 } = {}) {
  return {
    trip_id: tripId,
    generated_at: generatedAt,
    trip: { train: ticket.train, from: 'DHK', to: 'CTG', departs_at: ticket.departs_at },
    valid_hours_after_departure: 24,
    keys: fixture.keys.keys,
    tickets,
  };
}

const listed = (fields = {}) => ({
  booking_id: ticket.booking_id,
  status: 'paid',
  seat_ids: [12],
  passengers: ['Rahim Uddin'],
  boarded_at: null,
  device: null,
  ...fields,
});

describe('decideOffline', () => {
  const at = { now: BEFORE_DEPARTURE };

  it('lets a paid, unboarded ticket of the trip board', () => {
    const d = decideOffline(ticket, manifest([listed()]), at);
    assert.equal(d.state, 'valid');
    assert.equal(d.entry.booking_id, ticket.booking_id);
  });

  it('refuses a ticket cancelled after it was paid, even one boarded before', () => {
    assert.equal(decideOffline(ticket, manifest([listed({ status: 'cancelled' })]), at).state, 'cancelled');
    const boarded = listed({ status: 'cancelled', boarded_at: '2030-01-02T00:10:00Z' });
    assert.equal(decideOffline(ticket, manifest([boarded]), at).state, 'cancelled');
  });

  it('refuses an expired booking and a ticket whose train left more than the valid hours ago', () => {
    assert.equal(decideOffline(ticket, manifest([listed({ status: 'expired' })]), at).state, 'expired');
    const late = { now: Date.parse('2030-01-03T01:00:01Z') };
    assert.equal(decideOffline(ticket, manifest([listed()]), late).state, 'expired');
    const shortly = { now: Date.parse('2030-01-03T00:59:59Z') };
    assert.equal(decideOffline(ticket, manifest([listed()]), shortly).state, 'valid');
    const strict = { ...manifest([listed()]), valid_hours_after_departure: 1 };
    assert.equal(decideOffline(ticket, strict, { now: Date.parse('2030-01-02T02:00:01Z') }).state, 'expired');
  });

  it('refuses a ticket of another trip', () => {
    assert.equal(decideOffline(ticket, manifest([], { tripId: 43 }), at).state, 'wrong_trip');
  });

  it('says already boarded when the manifest or this phone boarded it, with who and when', () => {
    const inManifest = listed({ boarded_at: '2030-01-02T00:05:00Z', device: 'coach-b' });
    assert.deepEqual(
      (({ state, boarded_at, device }) => ({ state, boarded_at, device }))(decideOffline(ticket, manifest([inManifest]), at)),
      { state: 'already_boarded', boarded_at: '2030-01-02T00:05:00Z', device: 'coach-b' },
    );
    const local = { boarded_at: '2030-01-02T00:20:00Z', device: 'phone-abc' };
    const d = decideOffline(ticket, manifest([listed()]), { ...at, local });
    assert.equal(d.state, 'already_boarded');
    assert.equal(d.device, 'phone-abc');
  });

  it('accepts a ticket missing from the manifest only when it was issued after the download', () => {
    assert.equal(decideOffline(ticket, manifest([]), at).state, 'unknown');
    const older = manifest([], { generatedAt: '2030-01-01T09:00:00Z' });
    assert.equal(decideOffline(ticket, older, at).state, 'valid');
    assert.equal(entryOf(older, ticket.booking_id), null);
  });

  it('works on what verifyTicket returns with the manifest’s keys', async () => {
    const m = manifest([listed()]);
    const verified = await verifyTicket(fixture.qr, { keys: m.keys });
    assert.equal(verified.ok, true);
    assert.equal(decideOffline(verified.ticket, m, at).state, 'valid');
  });
});

describe('the scan queue', () => {
  const device = 'phone-test';
  const queued = entryFor(ticket, fixture.qr, { state: 'queued', device, at: '2030-01-02T00:30:00Z' });
  const other = { ...queued, booking_id: 'b2', qr: 'RRT1.two.sig', seats: ['KA-13'] };
  const third = { ...queued, booking_id: 'b3', qr: 'RRT1.three.sig', seats: ['KA-14'] };

  /** A store-backed load/save pair over `scans`. */
  function kept(scans) {
    const store = conductorStore(memoryStorage());
    store.saveScans(42, scans);
    return { store, load: () => store.scans(42), save: (s) => store.saveScans(42, s) };
  }

  it('keeps one entry per booking, from the ticket’s passengers and seat labels', () => {
    assert.deepEqual(queued.seats, ['KA-12']);
    assert.deepEqual(queued.passengers, ['Rahim Uddin']);
    assert.equal(queued.boarded_at, '2030-01-02T00:30:00Z');
    const list = upsert(upsert([], queued), { ...queued, state: 'boarded' });
    assert.equal(list.length, 1);
    assert.equal(list[0].state, 'boarded');
    assert.equal(localBoarding(list, ticket.booking_id).state, 'boarded');
    assert.equal(localBoarding([{ ...queued, state: 'conflict' }], ticket.booking_id), null);
  });

  it('settles answers: boarded, another device’s boarding, a refusal', () => {
    const ok = settle(queued, { result: { state: 'boarded', boarded_at: '2030-01-02T00:40:00Z' } });
    assert.equal(ok.state, 'boarded');
    assert.equal(ok.boarded_at, '2030-01-02T00:40:00Z');
    const taken = new ApiError(409, 'already_boarded', 'boarded before', { boarded_at: '2030-01-02T00:35:00Z', device: 'coach-b' });
    assert.deepEqual(settle(queued, { error: taken }).other, { device: 'coach-b', boarded_at: '2030-01-02T00:35:00Z' });
    assert.equal(settle(queued, { error: taken }).state, 'conflict');
    const cancelled = new ApiError(409, 'not_boardable', 'a cancelled ticket cannot be boarded', { state: 'cancelled' });
    assert.equal(settle(queued, { error: cancelled }).state, 'refused');
    assert.equal(settle(queued, { error: cancelled }).other.state, 'cancelled');
    assert.equal(settle(queued, { error: new ApiError(400, 'invalid_ticket', 'no') }).other.state, 'invalid');
  });

  it('tells a transient failure (retry later) from an answer', () => {
    for (const status of [0, 401, 403, 429, 500, 502, 503, 504]) assert.equal(isTransient(new ApiError(status, 'x', 'x')), true, status);
    for (const status of [400, 404, 409]) assert.equal(isTransient(new ApiError(status, 'x', 'x')), false, status);
  });

  it('syncs every queued scan in order and flags another device’s boarding', async () => {
    const { load, save } = kept([queued, other, { ...third, state: 'boarded' }]);
    const sent = [];
    const r = await sync({
      load,
      save,
      board: async (qr) => {
        sent.push(qr);
        if (qr === other.qr) throw new ApiError(409, 'already_boarded', 'boarded before', { boarded_at: '2030-01-02T00:31:00Z', device: 'coach-b' });
        return { state: 'boarded', boarded_at: '2030-01-02T00:45:00Z' };
      },
    });
    assert.deepEqual(sent, [fixture.qr, other.qr], 'only the queued ones, in scan order');
    assert.deepEqual([r.synced, r.conflicts, r.refused, r.left, r.error], [1, 1, 0, 0, null]);
    const after = load();
    assert.deepEqual(after.map((s) => s.state), ['boarded', 'conflict', 'boarded']);
    assert.equal(after[0].boarded_at, '2030-01-02T00:45:00Z');
    assert.deepEqual(flagged(after).map((s) => s.booking_id), ['b2']);
    assert.equal(pending(after).length, 0);
  });

  it('stops at a network failure and keeps the rest queued for the next sync', async () => {
    const { load, save } = kept([queued, other]);
    let calls = 0;
    const r = await sync({
      load,
      save,
      board: async () => {
        calls += 1;
        if (calls === 2) throw new ApiError(0, 'network', 'Cannot reach RailRush.');
        return { state: 'boarded', boarded_at: '2030-01-02T00:45:00Z' };
      },
    });
    assert.equal(r.synced, 1);
    assert.equal(r.left, 1);
    assert.equal(r.error.code, 'network');
    assert.deepEqual(load().map((s) => s.state), ['boarded', 'queued']);
    // Back online: the next sync sends only what is left.
    const again = await sync({ load, save, board: async (qr) => ({ boarded_at: `t-${qr}` }) });
    assert.deepEqual([again.synced, again.left], [1, 0]);
    assert.equal(load()[1].boarded_at, `t-${other.qr}`);
  });

  it('keeps a scan made while a sync is under way', async () => {
    const { load, save } = kept([queued]);
    await sync({
      load,
      save,
      board: async () => {
        save(upsert(load(), other)); // scanned while the first boarding was being sent
        return { boarded_at: '2030-01-02T00:45:00Z' };
      },
    });
    assert.deepEqual(load().map((s) => [s.booking_id, s.state]), [
      [ticket.booking_id, 'boarded'],
      ['b2', 'queued'],
    ]);
  });
});

describe('the conductor store', () => {
  it('keeps manifests per trip, lists the downloaded trips, and a device name per browser', () => {
    const storage = memoryStorage();
    const store = conductorStore(storage);
    assert.equal(store.manifest(42), null);
    assert.equal(store.saveManifest(manifest([listed()])), true);
    assert.equal(store.saveManifest(manifest([], { tripId: 7 })), true);
    assert.equal(store.saveManifest(manifest([listed()], { generatedAt: '2030-01-01T13:00:00Z' })), true);
    const again = conductorStore(storage);
    assert.equal(again.manifest(42).generated_at, '2030-01-01T13:00:00Z');
    assert.deepEqual(again.trips().map((t) => t.trip_id).sort(), [42, 7].sort());
    const name = again.device();
    assert.match(name, /^phone-[a-z2-9]{6}$/);
    assert.equal(conductorStore(storage).device(), name, 'the same name on the next visit');
    assert.equal(again.setDevice('  coach-kha  '), 'coach-kha');
    assert.equal(again.setDevice('   '), 'coach-kha', 'a blank name keeps the old one');
    assert.equal(newDeviceName(() => 0), 'phone-aaaaaa');
  });

  it('forgets trips two days after departure, unless boardings wait to sync', () => {
    const storage = memoryStorage();
    const store = conductorStore(storage);
    const departed = (tripId) => ({ ...manifest([listed()], { tripId }), trip: { ...manifest([]).trip, departs_at: '2030-01-02T01:00:00Z' } });
    store.saveManifest(departed(42));
    store.saveManifest(departed(43));
    store.saveScans(42, [entryFor(ticket, fixture.qr, { state: 'boarded', device: 'p' })]);
    store.saveScans(43, [entryFor(ticket, fixture.qr, { state: 'queued', device: 'p' })]);
    assert.deepEqual(store.prune(Date.parse('2030-01-04T00:59:00Z')), [], 'within two days');
    assert.deepEqual(store.prune(Date.parse('2030-01-04T01:01:00Z')), [42]);
    assert.equal(store.manifest(42), null);
    assert.deepEqual(store.scans(42), []);
    assert.deepEqual(store.trips().map((t) => t.trip_id), [43], 'kept: a boarding still to sync');
    assert.notEqual(store.manifest(43), null);
  });

  it('reads damaged entries as empty and reports a full storage', () => {
    const storage = memoryStorage();
    storage.setItem('railrush.conductor.scans.42', '{not json');
    storage.setItem('railrush.conductor.trips', '{"a":1}');
    const store = conductorStore(storage);
    assert.deepEqual(store.scans(42), []);
    assert.deepEqual(store.trips(), []);
    const full = conductorStore({ getItem: () => null, setItem: () => { throw new Error('QuotaExceededError'); }, removeItem() {} });
    assert.equal(full.saveManifest(manifest([])), false);
  });
});
