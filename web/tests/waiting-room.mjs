// A passenger goes through a sale's waiting room in headless Chromium, phone-sized, through
// the gateway:
//
//   the trip's opening is moved two hours ahead: search links it to its countdown page (to
//   the opening, and to the waiting room 30 minutes before); then it is moved OPENS_IN_S
//   seconds ahead (train-service's admin call, with
//   the ADMIN_TOKEN the test signed), so its sale gets a waiting room, and a crowd (verified
//   tokens the test signed, CROWD_TOKENS) joins its pre-queue; the passenger, logged
//   in with a one-time code (which verifies the phone), opens the trip and lands on the
//   waiting page instead of the seat map, is told the NID is missing, verifies one there,
//   joins the pre-queue and sees the countdown move; after the opening, drawn somewhere in
//   the crowd, sees its place and the people ahead go down, then is let in (the page moves
//   on without reloading), loses the pass on purpose and is sent back by the 403
//   `queue_pass_required` of select, then selects and confirms two seats with the pass and
//   follows the booking to paid.
//
// Environment: BASE_URL, TRIP_ID, FROM, TO, DATE (as journey.mjs), ADMIN_TOKEN, CROWD_TOKENS (comma-separated), BOOKING_URL
// (booking-service itself, for the crowd: past the gateway's per-address limits), OPENS_IN_S
// (default 30), ARTIFACT_DIR, CHROMIUM (see kit.mjs). Fails on any console error, page error or CSP violation.
import {
  BASE_URL,
  assert,
  confirmAndPay,
  context,
  env,
  findTrip,
  log,
  openSeatMap,
  otpLogin,
  phoneNumber,
  registerByApi,
  run,
  shot,
  unique,
  watch,
} from './kit.mjs';

const TRIP_ID = env('TRIP_ID');
const TRIP = { tripId: TRIP_ID, from: env('FROM'), to: env('TO'), date: env('DATE') };
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const OPENS_IN_S = Number(process.env.OPENS_IN_S || 30);
const CROWD_TOKENS = env('CROWD_TOKENS').split(',');
const BOOKING_URL = env('BOOKING_URL').replace(/\/$/, '');

const saleIdOf = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
const randomNid = () => `${1 + Math.floor(Math.random() * 9)}${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;

/** Moves the trip's opening to `opensAt` (ms) and waits until its sale is in `state` (with its room in the pre-queue). */
async function moveOpening(opensAt, state = 'pre_queue') {
  const res = await fetch(`${BASE_URL}/api/trains/admin/trips/${TRIP_ID}/sales`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ sales_open_at: new Date(opensAt).toISOString() }),
  });
  assert(res.status === 200, `move the opening: ${res.status} ${await res.text()}`);
  const saleId = saleIdOf(opensAt);
  const deadline = Date.now() + 15000;
  for (;;) {
    const status = await fetch(`${BASE_URL}/api/queue/sales/${saleId}`);
    const body = status.ok ? await status.json() : null;
    if (body && body.state === state && body.waiting_room === (state === 'pre_queue')) return saleId;
    assert(Date.now() < deadline, `sale ${saleId} is ${state} (last: ${status.status} ${JSON.stringify(body)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The crowd joins the pre-queue: the passenger is drawn among them at the opening. */
async function crowdJoins(saleId) {
  for (const token of CROWD_TOKENS) {
    const res = await fetch(`${BOOKING_URL}/api/queue/sales/${saleId}/join`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert(res.status === 200, `a crowd member joins: ${res.status} ${await res.text()}`);
  }
}

/** Every select and confirm the page sends, with its X-Queue-Pass header and answer. */
function recordBookingCalls(page) {
  const calls = [];
  page.on('response', async (res) => {
    const url = res.url();
    if (!/\/api\/bookings\/seats\/(select|confirm)$/.test(url)) return;
    const headers = await res.request().allHeaders();
    calls.push({ call: url.split('/').pop(), status: res.status(), pass: headers['x-queue-pass'] || null });
  });
  return calls;
}

async function pickSeats(page, n) {
  const ids = await page.locator('button.seat[data-status="available"]').evaluateAll((els) => els.map((e) => Number(e.dataset.seatId)));
  assert(ids.length >= n, `${n} free seats (got ${ids.length})`);
  for (const id of ids.slice(0, n)) await page.locator(`button.seat[data-seat-id="${id}"]`).click();
  await page.getByText(new RegExp(`^${n} seats?: `)).waitFor();
  return ids.slice(0, n);
}

run(async (browser) => {
  const ctx = await context(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  watch(page, 'W');
  // The waiting page asks for the user's place first: 404 is the API's "not joined yet".
  page.expected.push({ status: 404, path: '/place' });
  const calls = recordBookingCalls(page);
  const user = { name: 'Wasim Akram', email: `w-${unique}@example.com`, phone: phoneNumber() };
  await registerByApi(user);
  await otpLogin(page, user, { who: 'W' });

  // ---- A sale two hours off: search links the trip to its countdown ----
  const later = Math.ceil(Date.now() / 1000) * 1000 + 2 * 3600 * 1000;
  await moveOpening(later, 'upcoming');
  const card = await findTrip(page, TRIP);
  assert((await card.locator('.on-sale-from').count()) === 1, 'the search result says when the trip goes on sale');
  await card.getByRole('link', { name: /Countdown and waiting room/ }).click();
  const upcoming = page.getByTestId('sale-countdown');
  await upcoming.waitFor();
  assert(/^Opens in 1:59:\d\d$/.test(await upcoming.getByTestId('opens-in').innerText()), 'a countdown to the opening');
  assert(/waiting room opens at .* \(in 1:29:\d\d\)/.test(await upcoming.getByTestId('room-opens').innerText()), 'and to the waiting room 30 minutes before');
  assert((await page.locator('button.seat').count()) === 0, 'no seat map before the sale');
  await shot(page, '20-sale-countdown-phone');
  log('W found the trip in search, not on sale for two hours, with the countdowns');

  // ---- The sale opens in OPENS_IN_S seconds: its pre-queue is open now ----
  const opensAt = Math.ceil(Date.now() / 1000) * 1000 + OPENS_IN_S * 1000;
  const saleId = await moveOpening(opensAt);
  await crowdJoins(saleId);
  log(`trip ${TRIP_ID} now opens at ${new Date(opensAt).toISOString()}: sale ${saleId} is in its pre-queue, with ${CROWD_TOKENS.length} others`);

  // ---- The waiting page instead of the seat map: verify the NID there, then join ----
  await page.reload(); // the countdown page reads the opening once: the railway moved it
  const room = page.getByTestId('waiting-room');
  await room.waitFor();
  assert((await page.locator('button.seat').count()) === 0, 'no seat map before the pass');
  // The join part comes with the first status answer (slow on a loaded machine).
  await page.getByTestId('verification').waitFor();
  const missing = await page.locator('[data-testid="verification"] li[data-missing]').evaluateAll((els) => els.map((e) => e.dataset.missing));
  assert(JSON.stringify(missing) === '["nid"]', `only the NID is missing after a one-time-code login (got ${missing})`);
  await shot(page, '21-waiting-room-verify-phone');
  await page.getByLabel('National ID number').fill(randomNid());
  await page.getByRole('button', { name: 'Verify NID' }).click();
  await page.getByTestId('notice').filter({ hasText: 'national ID is verified' }).waitFor();
  await page.getByTestId('join').click();
  await page.locator('[data-testid="waiting-room"][data-phase="pre_queue"]').waitFor();
  log('W verified an NID on the waiting page and joined the pre-queue');

  // ---- The pre-queue: a countdown that moves without reloading ----
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const opensIn = page.getByTestId('opens-in');
  const first = await opensIn.innerText();
  assert(/^Opens in 0:\d\d$/.test(first), `the countdown to the opening (got "${first}")`);
  assert((await page.getByTestId('position').innerText()) === 'Given at the opening', 'no number in the pre-queue');
  assert(/random place in line at the opening/.test(await page.getByTestId('queue-state').innerText()), 'the pre-queue says the place is drawn at the opening');
  await page.waitForFunction((before) => document.querySelector('[data-testid="opens-in"]')?.textContent !== before, `${first}`, { timeout: 5000 });
  await shot(page, '22-waiting-room-pre-queue-phone');
  log(`W sees the countdown move: ${first} → ${await opensIn.innerText()}`);

  // ---- The opening: numbered among the crowd, in line, let in, on to the seat map ----
  const phase = page.locator('[data-testid="waiting-room"][data-phase="waiting"], [data-testid="waiting-room"][data-phase="admitted"]');
  await phase.waitFor({ timeout: OPENS_IN_S * 1000 + 15000 });
  if ((await phase.getAttribute('data-phase')) === 'waiting') {
    // Drawn behind someone: the place and the people ahead go down as the line moves.
    const position = page.getByTestId('position');
    const at = Number(await position.innerText());
    assert(at >= 1, `a place in line (got "${await position.innerText()}")`);
    assert(Number(await page.getByTestId('ahead').innerText()) === at - 1, 'the people ahead are the place less one');
    assert(/^about \d+ (second|minute)s?$/.test(await page.getByTestId('estimated-wait').innerText()), 'an estimated wait');
    await shot(page, '22b-waiting-room-in-line-phone');
    await page.waitForFunction(
      (before) => {
        const room = document.querySelector('[data-testid="waiting-room"]');
        const now = Number(document.querySelector('[data-testid="position"]')?.textContent);
        return room.dataset.phase === 'admitted' || now < before;
      },
      at,
      { timeout: 15000 },
    );
    log(`W was ${at} in line (of ${CROWD_TOKENS.length + 1}) when the page first showed the place, and saw the line move`);
  } else {
    log(`W was drawn near the front: let in before the page saw the line`);
  }
  await page.locator('[data-testid="waiting-room"][data-phase="admitted"]').waitFor({ timeout: 60000 });
  assert(Date.now() >= opensAt, 'let in only after the opening');
  assert(await page.evaluate(() => window.__sameDocument === true), 'the waiting page moved on without reloading');
  assert((await page.getByTestId('queue-announcer').innerText()).includes('your turn'), 'the live region says it is your turn');
  const kept = await page.evaluate((id) => window.sessionStorage.getItem(`railrush.pass.${id}`), saleId);
  assert(kept && JSON.parse(kept).pass, 'the pass is kept in sessionStorage for the sale');
  await shot(page, '23-waiting-room-admitted-phone');
  log(`W was let in ${((Date.now() - opensAt) / 1000).toFixed(1)} s after the opening`);
  await page.getByTestId('choose-seats').click();
  await openSeatMap(page);

  // ---- A lost pass: select is refused and the page goes back to the waiting room ----
  await pickSeats(page, 1);
  await page.evaluate((id) => window.sessionStorage.removeItem(`railrush.pass.${id}`), saleId);
  page.expected.push({ status: 403, path: '/api/bookings/seats/select' });
  await page.getByTestId('hold').click();
  await page.locator('[data-testid="waiting-room"][data-phase="admitted"]').waitFor();
  assert(/Join the waiting room again|turn from the waiting room/.test(await page.getByTestId('notice').innerText()), 'the waiting page says why the user is back');
  assert(calls.some((c) => c.call === 'select' && c.status === 403 && c.pass === null), `a select without the pass was refused: ${JSON.stringify(calls)}`);
  const pass = JSON.parse((await page.evaluate((id) => window.sessionStorage.getItem(`railrush.pass.${id}`), saleId)) || '{}').pass;
  assert(pass, 'the pass is kept again');
  log('W lost the pass: select answered 403 and the page went back to the waiting room, still admitted');
  await page.getByTestId('choose-seats').click();
  await openSeatMap(page);

  // ---- Select and confirm with the pass; the booking gets paid ----
  const seats = await pickSeats(page, 2);
  await page.getByTestId('hold').click();
  await page.getByRole('heading', { name: 'Your seats are held' }).waitFor();
  await shot(page, '24-seats-held-with-pass-phone');
  const code = await confirmAndPay(page, ['Wasim Akram', 'Rina Akter'], { who: 'W', screenshot: '25-booking-status-phone' });
  assert(/^RR(-[0-9A-Z]{4}){4}$/.test(code), `ticket code format (got ${code})`);
  const ok = calls.filter((c) => c.status < 300);
  assert(ok.map((c) => c.call).join() === 'select,confirm', `one select and one confirm went through: ${JSON.stringify(calls)}`);
  assert(ok.every((c) => c.pass === pass), 'both carried the pass');
  await shot(page, '26-ticket-phone');
  log(`W booked seats ${seats.join(' and ')} with the pass; paid, ticket ${code}`);
  await ctx.close();
});
