// A conductor checks tickets on a phone-sized page in headless Chromium, through the gateway:
//
//   a passenger books and pays three single-seat bookings through the API (tok_visa); the
//   conductor (an account the test made a conductor with auth-service's `admin grant`) logs
//   in, follows the header's Conductor link, finds the trip, downloads it for offline, scans
//   the first ticket's QR code as an image (a PNG rendered here from the ticket text) and
//   boards it; a second scan of it is refused as already boarded. Then the network is cut:
//   the second ticket (an image) and the third (its code pasted) are checked on the phone
//   against the signature and the manifest and queued, while another device boards the third
//   through the API; back online, the queue syncs by itself: the second is boarded with this
//   phone's device name (checked through the API), the third is flagged as boarded before by
//   the other device. Last, on a second phone whose camera is Chromium's fake capture device
//   playing a video of the fourth ticket's QR code (no download this time), Start camera reads
//   the code and boards it.
//
// Environment: BASE_URL, TRIP_ID, FROM, TO, DATE (as journey.mjs), CONDUCTOR_EMAIL,
// CONDUCTOR_PASSWORD, ARTIFACT_DIR, CHROMIUM (see kit.mjs). Fails on any console error, page
// error or CSP violation (the sync's expected 409 aside).
import qrcode from 'qrcode-generator';
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACT_DIR, BASE_URL, PASSWORD, assert, context, env, log, phoneNumber, registerByApi, run, shot, unique, watch } from './kit.mjs';

const TRIP_ID = Number(env('TRIP_ID'));
const FROM = env('FROM');
const TO = env('TO');
const DATE = env('DATE');
const CONDUCTOR = { email: env('CONDUCTOR_EMAIL'), password: env('CONDUCTOR_PASSWORD') };

async function call(method, path, { token, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${BASE_URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function login(loginName, password) {
  const res = await call('POST', '/api/auth/login', { body: { login: loginName, password } });
  assert(res.status === 200, `log in ${loginName}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

/** Books `seat` and pays with tok_visa through the API; the paid booking (with ticket_qr). */
async function paidBooking(token, seat, name) {
  const hold = await call('POST', '/api/bookings/seats/select', { token, body: { trip_id: TRIP_ID, seat_ids: [seat] } });
  assert(hold.status === 201, `select seat ${seat}: ${hold.status} ${JSON.stringify(hold.body)}`);
  const confirm = await call('POST', '/api/bookings/seats/confirm', {
    token,
    body: { hold_id: hold.body.hold_id, passengers: [{ name }], payment_token: 'tok_visa' },
  });
  assert(confirm.status === 201, `confirm seat ${seat}: ${confirm.status} ${JSON.stringify(confirm.body)}`);
  const deadline = Date.now() + 30000;
  for (;;) {
    const b = await call('GET', `/api/bookings/${confirm.body.booking_id}`, { token });
    if (b.body?.status === 'paid' && b.body.ticket_qr) return b.body;
    assert(Date.now() < deadline, `booking of seat ${seat} paid (last: ${JSON.stringify(b.body)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A PNG of the QR code of `text`, as a phone's camera roll would hold it. */
async function qrPng(browser, text) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  try {
    await page.setContent(`<body style="margin:0;background:#fff">${qr.createSvgTag({ cellSize: 5, margin: 4, scalable: false })}</body>`);
    return await page.locator('svg').screenshot({ type: 'png' });
  } finally {
    await page.close();
  }
}

/**
 * A one-frame Y4M video (640x480, 4:2:0) of the QR code of `text`, for Chromium's
 * `--use-file-for-fake-video-capture`: the camera a headless browser can have.
 */
function qrVideo(text, file) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const [W, H] = [640, 480];
  const n = qr.getModuleCount();
  const cell = Math.floor(H / (n + 8));
  const x0 = Math.floor((W - n * cell) / 2);
  const y0 = Math.floor((H - n * cell) / 2);
  const y = Buffer.alloc(W * H, 235); // white
  for (let row = 0; row < n; row += 1) {
    for (let col = 0; col < n; col += 1) {
      if (!qr.isDark(row, col)) continue;
      for (let dy = 0; dy < cell; dy += 1) y.fill(16, (y0 + row * cell + dy) * W + x0 + col * cell, (y0 + row * cell + dy) * W + x0 + (col + 1) * cell);
    }
  }
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F30:1 Ip A1:1 C420jpeg\nFRAME\n`), y, chroma]));
  return file;
}

async function logIn(page) {
  await page.goto(`${BASE_URL}/#/login`);
  await page.getByLabel('Email or phone').fill(CONDUCTOR.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(CONDUCTOR.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

async function scanImage(page, name, png) {
  await page.getByLabel('Scan an image').setInputFiles({ name, mimeType: 'image/png', buffer: png });
}

const result = (page, state) => page.locator(`[data-testid="result"] .scan-result[data-state="${state}"]`);
const listed = (page, booking, state) => page.locator(`[data-testid="scans"] li[data-booking-id="${booking.booking_id}"][data-state="${state}"]`);

run(async (browser) => {
  // ---- Three paid tickets, through the API ----
  const passenger = { name: 'Karim Hossain', email: `k-${unique}@example.com`, phone: phoneNumber() };
  await registerByApi(passenger);
  const token = await login(passenger.email, PASSWORD);
  const seats = await call('GET', `/api/bookings/trips/${TRIP_ID}/seats`);
  const free = seats.body.seats.filter((s) => s.status === 'available').map((s) => s.seat_id);
  assert(free.length >= 4, `four free seats (got ${free})`);
  const tickets = [];
  for (const [i, name] of ['Karim Hossain', 'Nadia Islam', 'Sumon Das', 'Farida Yasmin'].entries()) {
    tickets.push(await paidBooking(token, free[i], name));
  }
  log(`four paid bookings of trip ${TRIP_ID}: seats ${free.slice(0, 4).join(', ')}`);
  const [first, second, third, fourth] = tickets;

  // ---- The conductor's phone: log in, the Conductor link, the trip, download for offline ----
  const ctx = await context(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  watch(page, 'C');
  // The third ticket's sync is refused on purpose: another device boarded it first.
  page.expected.push({ status: 409, path: '/api/tickets/board' });
  await logIn(page);
  const link = page.getByRole('link', { name: 'Conductor', exact: true });
  await link.waitFor();
  await link.click();
  await page.getByRole('heading', { name: 'Conductor' }).waitFor();
  await page.getByLabel('From', { exact: true }).selectOption(FROM);
  await page.getByLabel('To', { exact: true }).selectOption(TO);
  await page.getByLabel('Date', { exact: true }).fill(DATE);
  await page.getByRole('button', { name: 'Find trips' }).click();
  await page.locator(`[data-testid="found-trips"] a[data-trip-id="${TRIP_ID}"]`).click();
  await page.getByRole('heading', { name: 'Check tickets' }).waitFor();
  await page.getByTestId('download').click();
  await page.getByTestId('downloaded').filter({ hasText: '4 tickets' }).waitFor();
  const device = await page.evaluate(() => JSON.parse(window.localStorage.getItem('railrush.conductor.device')));
  assert(/^phone-[a-z2-9]{6}$/.test(device || ''), `a device name kept in this browser (got ${device})`);
  log(`C downloaded trip ${TRIP_ID} for offline as device ${device}`);

  // ---- Online: scan the first ticket's QR image, boarded; again, refused ----
  const pngs = [];
  for (const t of tickets.slice(0, 3)) pngs.push(await qrPng(browser, t.ticket_qr));
  await scanImage(page, 'ticket-1.png', pngs[0]);
  await result(page, 'boarded').waitFor();
  assert((await page.getByTestId('result').innerText()).includes('Karim Hossain'), 'the result names the passenger');
  await listed(page, first, 'boarded').waitFor();
  await shot(page, '40-conductor-boarded');
  await scanImage(page, 'ticket-1-again.png', pngs[0]);
  await result(page, 'already_boarded').waitFor();
  await shot(page, '41-conductor-refused');
  log('C boarded the first ticket from its QR image; a second scan was refused as already boarded');

  // ---- Offline: the second ticket (image) and the third (pasted) are checked here and queued ----
  await ctx.setOffline(true);
  await page.locator('[data-testid="network"][data-online="false"]').waitFor();
  await scanImage(page, 'ticket-2.png', pngs[1]);
  await result(page, 'queued').waitFor();
  await listed(page, second, 'queued').waitFor();
  await scanImage(page, 'ticket-1-offline.png', pngs[0]);
  await result(page, 'already_boarded').waitFor();
  await page.getByLabel('Paste a ticket code').fill(third.ticket_qr);
  await page.getByRole('button', { name: 'Check ticket' }).click();
  await result(page, 'queued').waitFor();
  await listed(page, third, 'queued').waitFor();
  assert(await page.getByTestId('sync').isDisabled(), 'no sync while offline');
  assert((await page.getByTestId('scan-counts').getAttribute('data-pending')) === '2', 'two scans wait to sync');
  await shot(page, '42-conductor-offline-queued');
  log('C, offline, verified the second and third tickets on the phone and queued them; the first was refused again');

  // Meanwhile another conductor's device boards the third ticket online.
  const conductorToken = await login(CONDUCTOR.email, CONDUCTOR.password);
  const other = await call('POST', '/api/tickets/board', { token: conductorToken, body: { qr: third.ticket_qr, device: 'coach-kha-phone', trip_id: TRIP_ID } });
  assert(other.status === 200, `another device boards the third ticket: ${other.status} ${JSON.stringify(other.body)}`);

  // ---- Back online: the queue syncs by itself ----
  await ctx.setOffline(false);
  await listed(page, second, 'boarded').waitFor();
  const flagged = listed(page, third, 'conflict');
  await flagged.waitFor();
  assert((await flagged.innerText()).includes('coach-kha-phone'), 'the flagged scan names the device that boarded it first');
  assert((await page.getByTestId('scan-counts').getAttribute('data-pending')) === '0', 'nothing left to sync');
  await shot(page, '43-conductor-synced');
  const checked = await call('POST', '/api/tickets/verify', { token: conductorToken, body: { qr: second.ticket_qr, trip_id: TRIP_ID } });
  assert(checked.status === 200 && checked.body.state === 'boarded', `the second ticket is boarded on the server: ${JSON.stringify(checked.body)}`);
  assert(checked.body.device === device, `by this phone (got ${checked.body.device})`);
  log('C came back online: the second ticket synced as boarded by this phone, the third is flagged (boarded by coach-kha-phone)');
  await ctx.close();

  // ---- A second phone scans the fourth ticket with its camera ----
  const video = qrVideo(fourth.ticket_qr, path.join(ARTIFACT_DIR, 'camera-ticket-4.y4m'));
  const cameraBrowser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`],
  });
  try {
    const phone = await context(cameraBrowser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page2 = await phone.newPage();
    watch(page2, 'C2');
    await logIn(page2);
    await page2.getByRole('link', { name: 'Conductor', exact: true }).waitFor();
    await page2.goto(`${BASE_URL}/#/conductor?trip=${TRIP_ID}`);
    await page2.getByRole('button', { name: 'Start camera' }).click();
    await result(page2, 'boarded').waitFor();
    assert((await page2.getByTestId('result').innerText()).includes('Farida Yasmin'), 'the camera read the fourth ticket');
    await listed(page2, fourth, 'boarded').waitFor();
    await shot(page2, '44-conductor-camera');
    await page2.getByRole('button', { name: 'Stop camera' }).click();
    log('a second phone boarded the fourth ticket from its camera (a fake capture device playing its QR code)');
  } finally {
    await cameraBrowser.close();
  }
});
