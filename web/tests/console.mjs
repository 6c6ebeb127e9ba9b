// The railway's operator console in headless Chromium, through the gateway:
//
//   a passenger's browser has no Console link and is refused the page; the admin (an account
//   the test made with auth-service's `admin create`) logs in with the password, opens the
//   console from the header and picks the trip's date; a passenger books and pays two seats
//   and has a third one declined, through the API, and the console's sold count and "in the
//   last minute" move without a reload; the admin closes the trip's sales (select answers
//   409 sales_closed) and reopens them (select holds again); cancels the trip with a reason
//   and watches the progress reach every booking cancelled and the paid one refunded; finds
//   the passenger's bookings by phone, then the paid one by its ticket code with its history,
//   payment attempts and notifications; and in the parked-messages panel finds the malformed
//   event the test parked in booking-service and drops it.
//
// Environment: BASE_URL, TRIP_ID, DATE (the trip's service date), ADMIN_EMAIL,
// ADMIN_PASSWORD, ADMIN_NAME, ARTIFACT_DIR, CHROMIUM (see kit.mjs). Fails on any console
// error, page error or CSP violation.
import { BASE_URL, PASSWORD, assert, context, env, log, phoneNumber, registerByApi, run, shot, unique, watch } from './kit.mjs';

const TRIP_ID = env('TRIP_ID');
const DATE = env('DATE');
const ADMIN_EMAIL = env('ADMIN_EMAIL');
const ADMIN_PASSWORD = env('ADMIN_PASSWORD');
const ADMIN_NAME = env('ADMIN_NAME');

/** One call to the API through the gateway: {status, body}. */
async function call(method, path, { token, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${BASE_URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries `check` (an async function answering a truthy value when done) every `everyMs` until `timeoutMs`. */
async function until(what, check, timeoutMs = 15000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last && last.done !== false) return last;
    assert(Date.now() < deadline, `${what} (last: ${JSON.stringify(last?.seen ?? last)})`);
    await sleep(everyMs);
  }
}

async function passwordLogin(page, login, password, name) {
  await page.goto(`${BASE_URL}/#/login`);
  await page.getByLabel('Email or phone').fill(login);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByTestId('user-name').filter({ hasText: name }).waitFor({ state: 'attached' });
}

// ---- The passenger, through the API ---------------------------------------------------------
async function apiLogin(user) {
  const res = await call('POST', '/api/auth/login', { body: { login: user.email, password: PASSWORD } });
  assert(res.status === 200, `the passenger logs in: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

async function freeSeats() {
  const res = await call('GET', `/api/bookings/trips/${TRIP_ID}/seats`);
  assert(res.status === 200, `the seat map: ${res.status}`);
  return res.body.seats.filter((s) => s.status === 'available').map((s) => s.seat_id);
}

async function select(token, seatIds) {
  return call('POST', '/api/bookings/seats/select', { token, body: { trip_id: Number(TRIP_ID), seat_ids: seatIds } });
}

/** Selects and confirms `seatIds` with `card`; the booking. */
async function book(token, seatIds, names, card) {
  const hold = await select(token, seatIds);
  assert(hold.status === 201, `select ${seatIds}: ${hold.status} ${JSON.stringify(hold.body)}`);
  const confirm = await call('POST', '/api/bookings/seats/confirm', {
    token,
    body: { hold_id: hold.body.hold_id, passengers: names.map((name) => ({ name })), payment_token: card },
  });
  assert(confirm.status === 201, `confirm: ${confirm.status} ${JSON.stringify(confirm.body)}`);
  return confirm.body;
}

async function bookingUntil(token, id, test, what) {
  return until(what, async () => {
    const res = await call('GET', `/api/bookings/${id}`, { token });
    return res.status === 200 && test(res.body) ? res.body : { done: false, seen: res.body };
  }, 30000);
}

async function paymentUntil(token, id, status) {
  return until(`payment of ${id} ${status}`, async () => {
    const res = await call('GET', `/api/payments/${id}`, { token });
    return res.status === 200 && res.body.status === status ? res.body : { done: false, seen: res.body };
  }, 30000);
}

// ---- The console ----------------------------------------------------------------------------
const tripCard = (page) => page.locator(`li.console-trip[data-trip-id="${TRIP_ID}"]`);

async function figure(page, key) {
  return (await tripCard(page).getByTestId(key).first().innerText()).trim();
}

async function figureBecomes(page, key, value, timeout = 10000) {
  await page.waitForFunction(
    ([trip, k, v]) => document.querySelector(`li.console-trip[data-trip-id="${trip}"] [data-testid="${k}"]`)?.textContent.trim() === v,
    [TRIP_ID, key, value],
    { timeout },
  );
}

async function salesStateBecomes(page, state) {
  await page.waitForFunction(
    ([trip, s]) => {
      const card = document.querySelector(`li.console-trip[data-trip-id="${trip}"]`);
      return card?.querySelector('[data-testid="sales-state"]')?.dataset.state === s && card.querySelector('[data-testid="toggle-state"]')?.textContent === '';
    },
    [TRIP_ID, state],
    { timeout: 20000 },
  );
}

run(async (browser) => {
  // ---- A passenger sees no console ----
  const passengerCtx = await context(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phonePage = await passengerCtx.newPage();
  watch(phonePage, 'P');
  const passenger = { name: 'Nusrat Jahan', email: `n-${unique}@example.com`, phone: phoneNumber() };
  await registerByApi(passenger);
  await passwordLogin(phonePage, passenger.email, PASSWORD, passenger.name);
  assert((await phonePage.getByRole('link', { name: 'Console' }).count()) === 0, 'no Console link for a passenger');
  await phonePage.goto(`${BASE_URL}/#/console`);
  await phonePage.getByText('The console is for the railway’s administrators only.').waitFor();
  assert((await phonePage.locator('.console-panel').count()) === 0, 'no console panel for a passenger');
  await passengerCtx.close();
  log('a passenger has no Console link and is refused the page');

  // ---- The admin opens the console ----
  const ctx = await context(browser, { viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  watch(page, 'A');
  await passwordLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_NAME);
  await page.getByRole('link', { name: 'Console' }).click();
  await page.waitForURL(/#\/console$/);
  await page.getByRole('heading', { name: 'Operator console' }).waitFor();
  await page.getByLabel('Departure date').fill(DATE);
  await page.getByRole('button', { name: 'Show trips' }).click();
  await tripCard(page).waitFor();
  await figureBecomes(page, 'sold', '0');
  const free = Number(await figure(page, 'free'));
  assert(free > 3, `the trip has free seats (${free})`);
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  log(`A opened the console: trip ${TRIP_ID} on ${DATE}, ${free} free, none sold`);

  // ---- A passenger books through the API: the console follows without a reload ----
  const token = await apiLogin(passenger);
  const seats = await freeSeats();
  const paid = await book(token, seats.slice(0, 2), ['Nusrat Jahan', 'Tania Akter'], 'tok_visa');
  const ticketed = await bookingUntil(token, paid.booking_id, (b) => b.status === 'paid', 'the booking is paid');
  await figureBecomes(page, 'sold', '2');
  const declined = await book(token, seats.slice(2, 3), ['Shahana Parvin'], 'tok_chargeDeclined');
  await paymentUntil(token, declined.booking_id, 'failed');
  await figureBecomes(page, 'sold', '3');
  await figureBecomes(page, 'free', String(free - 3));
  const recent = await tripCard(page).getByTestId('sold-last-minute').innerText();
  assert(recent === 'Sold +3 in the last minute', `sold in the last minute (got "${recent}")`);
  assert(await page.evaluate(() => window.__sameDocument === true), 'the console moved on without reloading');
  await shot(page, '30-console-sales');
  log(`the passenger paid ${ticketed.ticket_code} (2 seats) and left one unpaid: the console shows 3 sold, +3 in the last minute`);

  // ---- Close and reopen the trip's sales ----
  // Select is limited per passenger (30 a minute): ask once a second.
  await tripCard(page).locator('summary').click();
  await tripCard(page).getByTestId('sales-toggle').click();
  await salesStateBecomes(page, 'closed');
  assert((await tripCard(page).getByTestId('sales-toggle').innerText()) === 'Reopen sales', 'the switch offers to reopen');
  const spare = (await freeSeats())[0];
  await until('select answers 409 sales_closed', async () => {
    const res = await select(token, [spare]);
    // Before booking-service has seen the close, select still holds: give the seat back.
    if (res.status === 201) await call('DELETE', `/api/bookings/holds/${res.body.hold_id}`, { token });
    return res.status === 409 && res.body.error.code === 'sales_closed' ? res : { done: false, seen: [res.status, res.body] };
  }, 15000, 1000);
  log('A closed the sales: select answers 409 sales_closed');
  await tripCard(page).getByTestId('sales-toggle').click();
  await salesStateBecomes(page, 'open');
  const hold = await until('select holds again', async () => {
    const res = await select(token, [spare]);
    return res.status === 201 ? res : { done: false, seen: [res.status, res.body] };
  }, 15000, 1000);
  const released = await call('DELETE', `/api/bookings/holds/${hold.body.hold_id}`, { token });
  assert(released.status === 204, `the hold is released: ${released.status}`);
  log('A reopened the sales: select holds again');

  // ---- Cancel the trip and watch its progress ----
  const reason = 'Flooding on the line near Feni';
  await tripCard(page).getByLabel('Reason for the passengers').fill(reason);
  await tripCard(page).getByTestId('cancel-trip').click();
  await tripCard(page).getByTestId('cancel-trip-yes').click();
  const progress = tripCard(page).getByTestId('cancellation');
  await progress.waitFor();
  await page.locator(`li.console-trip[data-trip-id="${TRIP_ID}"] [data-testid="cancellation"][data-phase="done"]`).waitFor({ timeout: 45000 });
  const numbers = {};
  for (const key of ['cancelled', 'left', 'refunds-requested', 'refunds-completed']) numbers[key] = (await progress.getByTestId(key).innerText()).trim();
  assert(
    JSON.stringify(numbers) === JSON.stringify({ cancelled: '2 of 2', left: '0', 'refunds-requested': '1', 'refunds-completed': '1' }),
    `the cancellation's numbers: ${JSON.stringify(numbers)}`,
  );
  assert((await tripCard(page).getByTestId('sales-state').innerText()) === 'Cancelled', 'the trip shows cancelled');
  await paymentUntil(token, paid.booking_id, 'refunded');
  await shot(page, '31-console-cancellation');
  log(`A cancelled the trip: ${JSON.stringify(numbers)}; the paid booking is refunded`);

  // ---- Find the bookings: by phone, then by the ticket code ----
  await page.getByRole('link', { name: 'Find a booking' }).click();
  const query = page.getByLabel('Booking id, ticket code, phone or email');
  await query.fill(passenger.phone);
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  await page.locator('li.console-booking').nth(1).waitFor();
  assert((await page.locator('li.console-booking').count()) === 2, 'the passenger has two bookings');
  log('A found the passenger\'s two bookings by phone');
  await query.fill(ticketed.ticket_code.toLowerCase());
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  const found = page.locator(`li.console-booking[data-booking-id="${paid.booking_id}"]`);
  await found.waitFor();
  assert((await page.locator('li.console-booking').count()) === 1, 'one booking for the ticket code');
  assert((await found.getAttribute('data-status')) === 'cancelled', 'the booking is cancelled');
  const kinds = await found.locator('[data-testid="history"] li').evaluateAll((els) => els.map((e) => e.dataset.kind));
  assert(kinds.includes('paid') && kinds.includes('cancelled'), `the history has the booking's steps: ${kinds}`);
  assert(kinds.some((k) => k.includes('.')), `the history has the outbox's events: ${kinds}`);
  await found.locator('[data-testid="attempts"] tr[data-kind="refund"]').waitFor();
  const attempts = await found.locator('[data-testid="attempts"] tbody tr').evaluateAll((els) => els.map((e) => `${e.dataset.kind}:${e.dataset.status}`));
  assert(attempts.some((a) => a.startsWith('charge:')), `a charge attempt: ${attempts}`);
  const notes = await found.locator('[data-testid="notifications"] li').evaluateAll((els) => els.map((e) => e.dataset.kind));
  assert(notes.includes('ticket') && notes.includes('booking_cancelled'), `the notifications of the booking: ${notes}`);
  await shot(page, '32-console-booking');
  log(`A found ${ticketed.ticket_code}: history ${kinds.join(', ')}; attempts ${attempts.join(', ')}; notifications ${notes.join(', ')}`);

  // ---- Parked messages: the malformed event the test parked, dropped ----
  await page.getByRole('link', { name: 'Parked messages' }).click();
  const bookingSection = page.locator('section.console-service[data-service="bookings"]');
  await page.locator('section.console-service[data-total]').nth(2).waitFor();
  await page.locator('section.console-service[data-service="bookings"] section.console-queue:not([data-count="0"])').first().waitFor();
  const queue = bookingSection.locator('section.console-queue:not([data-count="0"])').first();
  const queueName = await queue.getAttribute('data-queue');
  const rows = queue.locator('tbody tr');
  assert((await rows.count()) >= 1, 'the parked message is listed');
  assert((await rows.first().innerText()).includes('payment.succeeded'), `the parked message's type: ${await rows.first().innerText()}`);
  await shot(page, '33-console-parked');
  const before = Number(await queue.getAttribute('data-count'));
  await rows.first().getByRole('checkbox').check();
  await queue.getByRole('button', { name: 'Drop chosen' }).click();
  await queue.getByRole('button', { name: 'Yes, drop 1' }).click();
  await bookingSection.getByTestId('notice').filter({ hasText: `Dropped 1 message from ${queueName}.` }).waitFor();
  await page.waitForFunction(
    // A queue emptied may be listed with 0 or left out.
    ([name, n]) => Number(document.querySelector(`section.console-service[data-service="bookings"] section.console-queue[data-queue="${name}"]`)?.dataset.count ?? 0) === n,
    [queueName, before - 1],
  );
  log(`A saw ${before} parked in ${queueName} and dropped one`);
  assert(await page.evaluate(() => window.__sameDocument === true), 'the console never reloaded');
  await ctx.close();
});
