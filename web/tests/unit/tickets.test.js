import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  fromBase64Url,
  offlineState,
  parseTicket,
  verifyTicket,
} from '../../src/tickets/verify.js';

// Written by booking-service's signer (src/tickets/mod.rs, the fixture test).
const fixture = JSON.parse(readFileSync(new URL('./ticket-fixture.json', import.meta.url)));

const toBase64Url = (bytes) =>
  Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

describe('verifyTicket', () => {
  it('accepts the ticket the Rust signer made, with the published key', async () => {
    const result = await verifyTicket(fixture.qr, fixture.keys);
    assert.equal(result.ok, true);
    assert.deepEqual(result.ticket, fixture.ticket);
    assert.equal(result.ticket.passengers[0], 'Rahim Uddin');
  });

  it('refuses an altered payload under the original signature', async () => {
    const [prefix, , signature] = fixture.qr.split('.');
    const altered = { ...fixture.ticket, passengers: ['Somebody Else'] };
    const payload = toBase64Url(new TextEncoder().encode(JSON.stringify(altered)));
    const result = await verifyTicket(`${prefix}.${payload}.${signature}`, fixture.keys);
    assert.deepEqual(result, { ok: false, reason: 'bad_signature' });
  });

  it('refuses a signature by another key that claims the published kid', async () => {
    const [prefix, payload] = fixture.qr.split('.');
    const other = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    const forged = new Uint8Array(
      await crypto.subtle.sign(
        { name: 'Ed25519' },
        other.privateKey,
        new TextEncoder().encode(`${prefix}.${payload}`),
      ),
    );
    const result = await verifyTicket(`${prefix}.${payload}.${toBase64Url(forged)}`, fixture.keys);
    assert.deepEqual(result, { ok: false, reason: 'bad_signature' });
  });

  it('refuses an unknown key and unreadable texts', async () => {
    assert.deepEqual(await verifyTicket(fixture.qr, { keys: [] }), {
      ok: false,
      reason: 'unknown_key',
    });
    for (const bad of ['', 'hello', 'RRT1.a.b', `${fixture.qr}.x`, fixture.qr.replace('RRT1', 'RRT2'), null]) {
      assert.deepEqual(await verifyTicket(bad, fixture.keys), { ok: false, reason: 'unreadable' });
    }
  });
});

describe('parseTicket and fromBase64Url', () => {
  it('read the parts without checking them', () => {
    const parsed = parseTicket(fixture.qr);
    assert.equal(parsed.ticket.kid, fixture.keys.keys[0].kid);
    assert.equal(parsed.signature.length, 64);
    assert.equal(fromBase64Url('not base64!'), null);
    assert.deepEqual([...fromBase64Url('AQI')], [1, 2]);
  });
});

describe('offlineState', () => {
  const departs = Date.parse(fixture.ticket.departs_at);
  it('names another trip, an old journey, or valid', () => {
    assert.equal(offlineState(fixture.ticket, { tripId: 7, now: departs }), 'wrong_trip');
    assert.equal(offlineState(fixture.ticket, { tripId: 42, now: departs }), 'valid');
    assert.equal(offlineState(fixture.ticket, { now: departs + 25 * 3600 * 1000 }), 'expired');
    assert.equal(offlineState(fixture.ticket, { now: departs + 23 * 3600 * 1000 }), 'valid');
  });
});
