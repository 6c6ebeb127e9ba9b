// The RailRush API through the gateway's same origin (/api/...). The access token lives in
// memory only; the refresh token in sessionStorage (this tab), so a reload refreshes the
// session and closing the tab ends it. A 401 on an authenticated call refreshes once and
// retries; concurrent 401s share one refresh (the old refresh token stops working).

import { sessionStore } from './storage.js';

const REFRESH_KEY = 'railrush.refresh_token';

export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter;
  }
}

let accessToken = null;
let refreshing = null;
let user = null;
const listeners = new Set();

const storage = sessionStore;

function storedRefresh() {
  return storage()?.getItem(REFRESH_KEY) || null;
}

function notify() {
  for (const f of listeners) f(user);
}

/** Calls `f(user)` whenever the signed-in user changes. */
export function onSessionChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

export const currentUser = () => user;
export const signedIn = () => accessToken !== null || storedRefresh() !== null;

function keep(tokens) {
  accessToken = tokens.access_token;
  storage()?.setItem(REFRESH_KEY, tokens.refresh_token);
}

function forget() {
  accessToken = null;
  storage()?.removeItem(REFRESH_KEY);
  if (user !== null) {
    user = null;
    notify();
  }
}

/** A random key for `Idempotency-Key` (randomUUID needs a secure context). */
export function newKey() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function retryAfterSeconds(res) {
  const raw = res.headers.get('Retry-After');
  if (!raw) return null;
  const n = Number.parseInt(raw, 10);
  if (Number.isFinite(n)) return Math.max(1, n);
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(1, Math.ceil((at - Date.now()) / 1000)) : null;
}

const GENERIC = {
  400: 'The request was not valid.',
  401: 'Please log in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  409: 'That conflicts with the current state; please reload.',
  413: 'That request is too large.',
  429: 'Too many requests.',
  502: 'The service is unavailable.',
  503: 'The service is unavailable.',
  504: 'The service did not answer in time.',
};

async function send(method, path, { body, token, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach RailRush. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const err = data && data.error ? data.error : {};
  throw new ApiError(
    res.status,
    err.code || (res.status >= 500 ? 'unavailable' : 'error'),
    err.message || GENERIC[res.status] || `Request failed (${res.status}).`,
    err.details,
    res.status === 429 || res.status === 503 ? retryAfterSeconds(res) : null,
  );
}

async function refresh() {
  const token = storedRefresh();
  if (!token) {
    forget();
    throw new ApiError(401, 'unauthorized', 'Please log in to continue.');
  }
  if (!refreshing) {
    refreshing = send('POST', '/api/auth/refresh', { body: { refresh_token: token } })
      .then((tokens) => keep(tokens))
      .catch((e) => {
        // Only a refused token ends the session; a 429/503 leaves it for the next try.
        if (e.status === 401 || e.status === 400) forget();
        throw e.status === 401 ? new ApiError(401, 'unauthorized', 'Your session ended. Please log in again.') : e;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/**
 * One API call. `auth`: send the access token (refreshing when needed). `idempotent`: send
 * an Idempotency-Key (pass a string to reuse one across retries of the same action).
 * `headers`: more request headers (e.g. `X-Queue-Pass`).
 */
export async function api(method, path, { body, auth = false, idempotent = false, headers: extra = {} } = {}) {
  const headers = { ...extra };
  if (idempotent) headers['Idempotency-Key'] = typeof idempotent === 'string' ? idempotent : newKey();
  if (!auth) return send(method, path, { body, headers });
  if (!accessToken) await refresh();
  try {
    return await send(method, path, { body, token: accessToken, headers });
  } catch (e) {
    if (e.status !== 401) throw e;
    await refresh();
    return send(method, path, { body, token: accessToken, headers });
  }
}

async function loadUser() {
  const body = await api('GET', '/api/auth/me', { auth: true });
  user = body.user;
  notify();
  return user;
}

/** The signed-in user, fetched once per page load (null when signed out). */
export async function whoAmI() {
  if (user) return user;
  if (!signedIn()) return null;
  try {
    return await loadUser();
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

/**
 * New tokens now, and the user again: the access token carries the verification claims of
 * the moment it was issued, so after verifying something the next call needs a fresh one.
 */
export async function refreshSession() {
  await refresh();
  return loadUser();
}

/** Verifies the signed-in user's national ID, then refreshes the session so the token shows it. */
export async function verifyNid(nid) {
  await api('POST', '/api/auth/nid', { auth: true, body: { nid } });
  return refreshSession();
}

export async function loginWithPassword(login, password) {
  keep(await api('POST', '/api/auth/login', { body: { login, password } }));
  return loadUser();
}

export async function requestOtp(phone) {
  return api('POST', '/api/auth/otp/request', { body: { phone } });
}

export async function loginWithOtp(phone, code) {
  keep(await api('POST', '/api/auth/otp/verify', { body: { phone, code } }));
  return loadUser();
}

export async function register(fields) {
  return api('POST', '/api/auth/register', { body: fields, idempotent: true });
}

export async function logout() {
  const token = storedRefresh();
  forget();
  if (token) {
    try {
      await api('POST', '/api/auth/logout', { body: { refresh_token: token } });
    } catch {
      // The tokens are gone from this tab either way.
    }
  }
}

/** The sentence to show for an error, with the wait for 429 and the retry hint for 503. */
export function describe(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Please try again.';
  if (error.status === 429) {
    const s = error.retryAfter || 1;
    return `Too many requests right now. Please wait ${s} ${s === 1 ? 'second' : 'seconds'} and try again.`;
  }
  if (error.status === 503 || error.status === 502 || error.status === 504) {
    const s = error.retryAfter;
    return s
      ? `RailRush is temporarily unavailable. Please try again in ${s} ${s === 1 ? 'second' : 'seconds'}.`
      : 'RailRush is temporarily unavailable. Please try again in a moment.';
  }
  return error.message;
}

// ---- The railway's side (role admin) -----------------------------------------------------
/** Whether `who` (a User as `/api/auth/me` answers it) has the role `role`. */
export const hasRole = (who, role) => Array.isArray(who?.roles) && who.roles.includes(role);

/** The operator console's calls (docs/api.md, admin additions); each needs the admin role. */
export const admin = {
  sales: (date) => api('GET', `/api/bookings/admin/sales?date=${encodeURIComponent(date)}`, { auth: true }),
  /** `change`: {sales_open_at} and/or {sales_closed}; answers the Trip. */
  setSales: (tripId, change) => api('PUT', `/api/trains/admin/trips/${tripId}/sales`, { auth: true, body: change }),
  cancelTrip: (tripId, reason) =>
    api('POST', `/api/bookings/admin/trips/${tripId}/cancel`, { auth: true, body: { reason }, idempotent: true }),
  cancellation: (tripId) => api('GET', `/api/bookings/admin/trips/${tripId}/cancellation`, { auth: true }),
  /** `query`: one of booking_id, ticket_code, user_id (a query string). */
  bookings: (query) => api('GET', `/api/bookings/admin/bookings?${query}`, { auth: true }),
  /** `query`: one of phone, email, user_id (a query string). */
  users: (query) => api('GET', `/api/auth/admin/users?${query}`, { auth: true }),
  payment: (bookingId) => api('GET', `/api/payments/${bookingId}`, { auth: true }),
  attempts: (bookingId) => api('GET', `/api/payments/admin/bookings/${bookingId}/attempts`, { auth: true }),
  notifications: (bookingId) =>
    api('GET', `/api/notifications/admin?booking_id=${encodeURIComponent(bookingId)}`, { auth: true }),
  /** `service`: bookings, payments or notifications. */
  parked: (service) => api('GET', `/api/${service}/admin/parked`, { auth: true }),
  /** `action`: replay or drop; `body`: {message_ids} or {all: true}. */
  parkedAction: (service, queue, action, body) =>
    api('POST', `/api/${service}/admin/parked/${encodeURIComponent(queue)}/${action}`, { auth: true, body }),
};

/** Whether `u` (the signed-in user by default) checks tickets: a conductor or an admin. */
export function isStaff(u = user) {
  return hasRole(u, 'conductor') || hasRole(u, 'admin');
}

/** A trip's keys and tickets, to check it offline (conductor, admin). */
export function tripManifest(tripId) {
  return api('GET', `/api/tickets/trips/${encodeURIComponent(tripId)}/manifest`, { auth: true });
}

/** Boards a scanned ticket on `tripId` as `device` (conductor, admin). */
export function boardTicket(qr, device, tripId) {
  return api('POST', '/api/tickets/board', { auth: true, body: { qr, device, trip_id: Number(tripId) } });
}
