// The passenger's journey through the gateway in headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core; no browser download):
//
//   A (desktop): register, log in with a password, search, open the trip, pick two seats
//     (with the keyboard), see them held with the countdown, enter passenger names and
//     tok_visa, confirm, follow the booking to paid, see the e-ticket and its QR code
//     (decoded here back to the ticket code), then My bookings, the inbox, and cancel.
//   B (phone-sized): log in with a one-time code, keep the seat map open and see A's seats
//     turn held and then booked without reloading; also the messages for 429 (with the
//     seconds), 503 and 409 (answers injected by the test, since a real one is hard to
//     provoke on demand).
//
// Fails on any console error, uncaught page error or Content-Security-Policy violation.
// Screenshots of each step go to ARTIFACT_DIR.
//
// Environment: BASE_URL (the gateway), TRIP_ID, FROM, TO, DATE (YYYY-MM-DD, the trip's
// service date), ARTIFACT_DIR, CHROMIUM (default /usr/bin/chromium). What it shares with
// waiting-room.mjs (the watch, screenshots, the run, common steps) is in kit.mjs.
import jsQR from 'jsqr';
import {
  BASE_URL,
  PASSWORD,
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
  seat,
  shot,
  unique,
  watch,
} from './kit.mjs';

const TRIP_ID = env('TRIP_ID');
const FROM = env('FROM');
const TO = env('TO');
const DATE = env('DATE');

// ---- Steps ----------------------------------------------------------------------------------
async function registerAndLogin(page, user) {
  const res = await page.goto(`${BASE_URL}/#/register`);
  const csp = res.headers()['content-security-policy'] || '';
  assert(csp.includes("script-src 'self'"), `the gateway sends the app's Content-Security-Policy (got "${csp}")`);
  await page.getByLabel('Full name').fill(user.name);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Mobile phone').fill(user.phone);
  await page.getByLabel('Password').fill(PASSWORD);
  await shot(page, '01-register');
  await page.getByRole('button', { name: 'Create account' }).click();

  await page.waitForURL(/#\/login\?/);
  await page.getByText('Your account is ready').waitFor();
  assert((await page.getByLabel('Email or phone').inputValue()) === user.email, 'the login form is prefilled');
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(PASSWORD);
  await shot(page, '02-login-password');
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByTestId('user-name').filter({ hasText: user.name }).waitFor({ state: 'attached' });
  log(`A registered and logged in as ${user.email}`);
}

async function search(page) {
  const card = await findTrip(page, { from: FROM, to: TO, date: DATE, tripId: TRIP_ID });
  const classes = await card.locator('table.classes tbody tr').allInnerTexts();
  assert(classes.length > 0 && classes.every((row) => /\d+ of \d+|Sold out/.test(row)), `availability per class: ${classes}`);
  await shot(page, '03-search-results');
  log(`search found trip ${TRIP_ID}: ${classes.join(' | ').replace(/\s+/g, ' ')}`);
  return card;
}

async function pickTwoSeats(page) {
  const ids = await page
    .locator('button.seat[data-status="available"]')
    .evaluateAll((els) => els.map((e) => Number(e.dataset.seatId)));
  assert(ids.length >= 3, `at least 3 free seats (got ${ids.length})`);
  const [first, second] = ids;
  const label = await seat(page, first).getAttribute('aria-label');
  assert(/^Coach \S+ seat \d+, available, /.test(label), `seat buttons are labelled: "${label}"`);
  // With the keyboard: focus, Space, arrow to the next seat, Space.
  await seat(page, first).focus();
  await page.keyboard.press('Space');
  if (second === first + 1) {
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Space');
  } else {
    await seat(page, second).click();
  }
  for (const id of [first, second]) {
    assert((await seat(page, id).getAttribute('aria-pressed')) === 'true', `seat ${id} is pressed`);
  }
  await page.getByText(/^2 seats: /).waitFor();
  return [first, second, ids[2]];
}

/** Answers the next seat selection with `status` and `body` (and headers), then lets go. */
async function injectOnce(page, status, body, headers = {}) {
  const url = '**/api/bookings/seats/select';
  page.expected.push({ status, path: '/api/bookings/seats/select' });
  await page.route(url, (route) =>
    route.fulfill({ status, contentType: 'application/json', headers, body: JSON.stringify(body) }),
  );
  return () => page.unroute(url);
}

async function errorMessages(page, spare) {
  const alert = page.getByTestId('error');
  const hold = page.getByTestId('hold');
  await seat(page, spare).click();
  assert((await seat(page, spare).getAttribute('aria-pressed')) === 'true', 'B selected a spare seat');

  let release = await injectOnce(page, 429, { error: { code: 'rate_limited', message: 'Too many requests' } }, { 'Retry-After': '2' });
  await hold.click();
  await alert.filter({ hasText: 'Please wait 2 seconds' }).waitFor();
  assert(/Try again in \d s/.test(await hold.innerText()), 'the hold button counts the wait down');
  await shot(page, '07-rate-limited-phone');
  await release();
  await page.waitForFunction(() => !document.querySelector('[data-testid="hold"]').disabled, null, { timeout: 5000 });

  release = await injectOnce(page, 503, { error: { code: 'unavailable', message: 'The service is unavailable' } });
  await hold.click();
  await alert.filter({ hasText: 'temporarily unavailable' }).waitFor();
  await release();

  const label = (await seat(page, spare).getAttribute('title')).split(':')[0];
  release = await injectOnce(page, 409, {
    error: { code: 'seat_unavailable', message: 'seat taken', details: { seat_ids: [spare] } },
  });
  await hold.click();
  await alert.filter({ hasText: `Seat ${label} was just taken` }).waitFor();
  assert((await seat(page, spare).getAttribute('aria-pressed')) === 'false', 'the taken seat left the selection');
  await release();
  log('B saw the 429 (with its seconds), 503 and 409 messages');
  // The map is real again: read the spare seat's true status back.
  await page.reload();
  await openSeatMap(page);
}

/** Draws the ticket's QR <svg> on a canvas in the page and decodes it here with jsQR. */
async function decodeQr(page) {
  const qr = page.locator('svg.qr');
  const image = await qr.evaluate(async (svg) => {
    const size = 400;
    const xml = new XMLSerializer().serializeToString(svg);
    const img = new Image();
    img.src = `data:image/svg+xml;base64,${btoa(xml)}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const g = canvas.getContext('2d');
    g.imageSmoothingEnabled = false;
    g.drawImage(img, 0, 0, size, size);
    return { size, data: Array.from(g.getImageData(0, 0, size, size).data) };
  });
  const result = jsQR(Uint8ClampedArray.from(image.data), image.size, image.size);
  return result ? result.data : null;
}

run(async (browser) => {
  // ---- A: desktop ----
  const a = await context(browser, { viewport: { width: 1280, height: 860 } });
  const pageA = await a.newPage();
  watch(pageA, 'A');
  const userA = { name: 'Ayesha Rahman', email: `a-${unique}@example.com`, phone: phoneNumber() };
  await registerAndLogin(pageA, userA);
  const card = await search(pageA);
  await card.getByRole('link', { name: /Choose seats/ }).click();
  await openSeatMap(pageA);
  const [s1, s2, spare] = await pickTwoSeats(pageA);
  await shot(pageA, '04-seats-selected');
  log(`A selected seats ${s1} and ${s2}`);

  // ---- B: phone-sized, seat map open before A holds ----
  const b = await context(browser, {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const pageB = await b.newPage();
  watch(pageB, 'B');
  const userB = { name: 'Babul Mia', email: `b-${unique}@example.com`, phone: phoneNumber() };
  await registerByApi(userB);
  await otpLogin(pageB, userB, { who: 'B', screenshot: '05-login-otp-phone' });
  await pageB.goto(`${BASE_URL}/#/trip/${TRIP_ID}`);
  await openSeatMap(pageB);
  await errorMessages(pageB, spare);
  // From here on B's page must not reload: the seat map changes only through the stream.
  await pageB.evaluate(() => {
    window.__sameDocument = true;
  });

  // ---- A holds; B sees the seats held live ----
  await pageA.getByTestId('hold').click();
  await pageA.getByRole('heading', { name: 'Your seats are held' }).waitFor();
  const countdown = await pageA.getByTestId('countdown').innerText();
  assert(/^[45]:\d\d$/.test(countdown), `the hold countdown shows about 5 minutes (got ${countdown})`);
  for (const id of [s1, s2]) {
    assert((await seat(pageA, id).getAttribute('data-shown')) === 'mine', `A sees seat ${id} as held by A`);
  }
  const notices = await pageA.locator('.message').allInnerTexts();
  assert(!notices.some((t) => /just taken/.test(t)), `A's own hold is not reported as taken by others: ${notices}`);
  await shot(pageA, '06-seats-held-countdown');
  log(`A holds seats ${s1} and ${s2}, countdown ${countdown}`);
  for (const id of [s1, s2]) {
    await pageB.locator(`button.seat[data-seat-id="${id}"][data-status="held"]`).waitFor({ timeout: 10000 });
  }
  log('B saw both seats turn held without reloading');
  await shot(pageB, '06b-seat-map-held-phone');


  // ---- A confirms with tok_visa and follows the saga to the ticket ----
  const ticketCode = await confirmAndPay(pageA, ['Ayesha Rahman', 'Karim Hossain'], { who: 'A', screenshot: '08-booking-status' });
  assert(/^RR(-[0-9A-Z]{4}){4}$/.test(ticketCode), `ticket code format (got ${ticketCode})`);
  const qr = pageA.getByRole('img', { name: `QR code of ticket ${ticketCode}` });
  assert((await qr.count()) === 1, 'exactly one QR image labelled with the ticket code');
  assert((await qr.getAttribute('data-code')) === ticketCode, 'the QR element carries the code');
  const decoded = await decodeQr(pageA);
  assert(decoded === ticketCode, `the QR code decodes to the ticket code (got ${decoded})`);
  await shot(pageA, '09-ticket');
  log(`A is paid; ticket ${ticketCode}; its QR decodes to the same code`);

  // ---- B: the seats turn booked live, on the same document (no reload) ----
  for (const id of [s1, s2]) {
    await pageB.locator(`button.seat[data-seat-id="${id}"][data-status="booked"]`).waitFor({ timeout: 15000 });
    const label = await seat(pageB, id).getAttribute('aria-label');
    assert(/, booked, /.test(label), `B's seat ${id} is announced as booked: "${label}"`);
  }
  assert(await pageB.evaluate(() => window.__sameDocument === true), 'B did not reload');
  await shot(pageB, '10-seat-map-booked-phone');
  log('B saw both seats turn booked without reloading');

  // ---- A: the ticket on a phone, My bookings, inbox ----
  await pageA.setViewportSize({ width: 390, height: 844 });
  await shot(pageA, '09b-ticket-phone');
  await pageA.setViewportSize({ width: 1280, height: 860 });
  await pageA.getByRole('link', { name: 'My bookings', exact: true }).click();
  const row = pageA.locator('li.booking-card').first();
  await row.getByTestId('booking-status').filter({ hasText: 'Paid' }).waitFor();
  assert((await row.innerText()).includes(ticketCode), 'My bookings lists the ticket code');
  assert((await row.getByRole('button', { name: 'Cancel booking' }).count()) === 1, 'a paid booking can be cancelled');
  await shot(pageA, '11-my-bookings');
  const deadline = Date.now() + 15000;
  for (;;) {
    await pageA.goto(`${BASE_URL}/#/inbox`);
    await pageA.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
    if ((await pageA.locator('li[data-kind="ticket"]').count()) > 0) break;
    assert(Date.now() < deadline, 'the ticket notification reaches the inbox');
    await pageA.waitForTimeout(500);
  }
  await shot(pageA, '12-inbox');
  log('A has the ticket in the inbox');

  // ---- A cancels from My bookings (two steps; a paid booking is refunded) ----
  await pageA.getByRole('link', { name: 'My bookings', exact: true }).click();
  const booking = pageA.locator('li.booking-card').first();
  await booking.getByRole('button', { name: 'Cancel booking' }).click();
  await booking.getByRole('button', { name: 'Yes, cancel and refund' }).click();
  await booking.getByTestId('booking-status').filter({ hasText: 'Cancelled' }).waitFor();
  await shot(pageA, '13-cancelled');
  log('A cancelled the paid booking from My bookings');

  await a.close();
  await b.close();
});
