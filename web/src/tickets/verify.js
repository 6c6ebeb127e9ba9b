// Verifying a signed ticket offline, as a conductor's phone does with the keys document of
// GET /api/tickets/keys kept from its last time online. The format is the API's
// (docs/api.md, "Tickets and check-in in detail"): `RRT1.<payload>.<signature>`, payload the
// base64url of the ticket's JSON, signature the Ed25519 signature of `RRT1.<payload>`, by the
// key the payload's `kid` names. WebCrypto does the Ed25519 check. No DOM, no network.

export const PREFIX = 'RRT1';

/** The bytes of unpadded (or padded) base64url text, or null when it is not base64url. */
export function fromBase64Url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return null;
  const b64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (b64.length % 4 === 1) return null;
  try {
    const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * Reads a ticket text without checking it: `{signed, payload, signature, ticket}` or null
 * when it is not a ticket (three parts, the prefix, base64url, JSON with a `kid`).
 */
export function parseTicket(qr) {
  const parts = typeof qr === 'string' ? qr.trim().split('.') : [];
  if (parts.length !== 3 || parts[0] !== PREFIX) return null;
  const payload = fromBase64Url(parts[1]);
  const signature = fromBase64Url(parts[2]);
  if (!payload || !signature || signature.length !== 64) return null;
  let ticket;
  try {
    ticket = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return null;
  }
  if (!ticket || typeof ticket.kid !== 'string') return null;
  return { signed: `${parts[0]}.${parts[1]}`, signature, ticket };
}

/**
 * Checks a ticket text against a keys document (`{keys: [{kid, alg, public_key}]}`).
 * Resolves to `{ok: true, ticket}` or `{ok: false, reason}`, reason one of `unreadable`,
 * `unknown_key`, `bad_signature`. `subtle` defaults to the platform's WebCrypto.
 */
export async function verifyTicket(qr, keysDocument, subtle = globalThis.crypto?.subtle) {
  const parsed = parseTicket(qr);
  if (!parsed) return { ok: false, reason: 'unreadable' };
  const key = (keysDocument?.keys || []).find(
    (k) => k.kid === parsed.ticket.kid && k.alg === 'EdDSA',
  );
  const raw = key && fromBase64Url(key.public_key);
  if (!raw || raw.length !== 32) return { ok: false, reason: 'unknown_key' };
  let valid;
  try {
    const publicKey = await subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    valid = await subtle.verify(
      { name: 'Ed25519' },
      publicKey,
      parsed.signature,
      new TextEncoder().encode(parsed.signed),
    );
  } catch {
    valid = false;
  }
  return valid ? { ok: true, ticket: parsed.ticket } : { ok: false, reason: 'bad_signature' };
}

/**
 * The offline state of a verified ticket for the trip being checked (`tripId`, optional),
 * as far as a device can tell without the server: `wrong_trip`, `expired` (departed more
 * than `validHours` ago, the server's default 24), or `valid`. Cancellations and boardings
 * need the trip's downloaded bookings or the server.
 */
export function offlineState(ticket, { tripId = null, now = Date.now(), validHours = 24 } = {}) {
  if (tripId !== null && tripId !== undefined && Number(tripId) !== ticket.trip_id) {
    return 'wrong_trip';
  }
  const departs = Date.parse(ticket.departs_at);
  if (!Number.isNaN(departs) && departs + validHours * 3600 * 1000 < now) return 'expired';
  return 'valid';
}
