// What the browser journeys share (journey.mjs, waiting-room.mjs): their environment, the
// log, the watch for console errors, uncaught errors and CSP violations (any one fails the
// run), screenshots into ARTIFACT_DIR, the post-mortem of a failure, the run with its time
// limit, and the steps both take (a one-time-code login, the seat map, confirm and pay).
//
// Environment: BASE_URL (the gateway), ARTIFACT_DIR, CHROMIUM (default /usr/bin/chromium),
// JOURNEY_TIMEOUT_MS (default 90 s); each journey reads its own besides.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`journey: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

export const BASE_URL = env('BASE_URL').replace(/\/$/, '');
export const ARTIFACT_DIR = env('ARTIFACT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const TIMEOUT_MS = Number(process.env.JOURNEY_TIMEOUT_MS || 90000);

mkdirSync(ARTIFACT_DIR, { recursive: true });
const started = Date.now();
export const log = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export const unique = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
export const phoneNumber = () => `+88017${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
export const PASSWORD = 'correct horse battery';

// ---- Console, page errors and CSP ----------------------------------------------------------
const problems = [];
const allowed = [];
const pages = [];

/**
 * Fails the run on `page`'s console errors, uncaught errors and crashes. Resource errors the
 * test provokes itself (pushed to `page.expected` as {status, path}) and the payment record's
 * 404 in the instant before payment-service has created it are expected.
 */
export function watch(page, who) {
  pages.push({ page, who });
  page.expected = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && !(msg.type() === 'warning' && /Content.Security.Policy/i.test(msg.text()))) return;
    const url = msg.location()?.url || '';
    const text = `${who}: console.${msg.type()}: ${msg.text()} ${url}`;
    const status = /the server responded with a status of (\d+)/.exec(msg.text())?.[1];
    const expected =
      status &&
      (page.expected.some((e) => e.status === Number(status) && url.includes(e.path)) ||
        (status === '404' && /\/api\/payments\/[0-9a-f-]{36}$/.test(url)));
    (expected ? allowed : problems).push(text);
  });
  page.on('pageerror', (err) => problems.push(`${who}: uncaught ${err.name}: ${err.message}`));
  page.on('crash', () => problems.push(`${who}: page crashed`));
}

// Every page reports CSP violations to the console as well, in case Chromium did not.
export const CSP_PROBE = () => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
  });
};

/** A browser context with the CSP probe and a 15 s default timeout. */
export async function context(browser, options) {
  const ctx = await browser.newContext(options);
  await ctx.addInitScript(CSP_PROBE);
  ctx.setDefaultTimeout(15000);
  return ctx;
}

export async function shot(page, name, options = {}) {
  const file = path.join(ARTIFACT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, ...options });
  log(`screenshot ${file}`);
}

/** On failure: a screenshot and the visible messages of every open page. */
async function postMortem() {
  for (const { page, who } of pages) {
    if (page.isClosed()) continue;
    try {
      console.error(`${who} was at ${page.url()}`);
      const messages = await page.locator('.message:not(:empty), .field-error:not([hidden])').allInnerTexts();
      for (const m of messages) console.error(`${who} shows: ${m}`);
      await page.screenshot({ path: path.join(ARTIFACT_DIR, `failure-${who}.png`), fullPage: true });
      console.error(`${who}: screenshot ${path.join(ARTIFACT_DIR, `failure-${who}.png`)}`);
    } catch (e) {
      console.error(`${who}: no post-mortem (${e.message})`);
    }
  }
}

/**
 * Runs `journey(browser)` in Debian's Chromium within JOURNEY_TIMEOUT_MS, then exits: 0 when
 * it passed with no console error, page error or CSP violation, 1 otherwise.
 */
export function run(journey) {
  const timer = setTimeout(() => {
    console.error(`journey: timed out after ${TIMEOUT_MS / 1000} s`);
    process.exit(1);
  }, TIMEOUT_MS);
  const main = async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    log(`launched ${CHROMIUM} ${browser.version()}`);
    try {
      await journey(browser);
    } catch (err) {
      await postMortem();
      throw err;
    } finally {
      await browser.close();
    }
    for (const line of allowed) log(`expected resource error: ${line}`);
    assert(problems.length === 0, `console errors, page errors or CSP violations:\n  ${problems.join('\n  ')}`);
    log('journey passed: no console errors, no page errors, no CSP violations');
  };
  main()
    .then(() => {
      clearTimeout(timer);
      process.exit(0);
    })
    .catch((err) => {
      console.error(`journey FAILED: ${err.stack || err}`);
      for (const p of problems) console.error(`  ${p}`);
      process.exit(1);
    });
}

// ---- Steps both journeys take ---------------------------------------------------------------
export async function registerByApi(user) {
  const res = await fetch(`${BASE_URL}/api/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: user.name, email: user.email, phone: user.phone, password: PASSWORD }),
  });
  assert(res.status === 201, `register ${user.email} through the gateway: ${res.status} ${await res.text()}`);
}

/** Logs in with the one-time code the local stack echoes (which verifies the phone). */
export async function otpLogin(page, user, { who, screenshot }) {
  await page.goto(`${BASE_URL}/#/login`);
  await page.getByLabel('One-time code (SMS)').check();
  await page.getByLabel('Phone number').fill(user.phone);
  await page.getByRole('button', { name: 'Send code' }).click();
  const dev = page.locator('#otp-dev-code');
  await dev.waitFor();
  const code = await dev.getAttribute('data-code');
  assert(/^\d{6}$/.test(code || ''), `the local stack echoes the OTP (got ${code})`);
  await page.getByLabel('One-time code', { exact: true }).fill(code);
  if (screenshot) await shot(page, screenshot);
  await page.getByRole('button', { name: 'Verify and log in' }).click();
  await page.getByTestId('user-name').filter({ hasText: user.name }).waitFor({ state: 'attached' });
  log(`${who} logged in with a one-time code as ${user.phone}`);
}

/** Searches from the header's Search link; the result card of `tripId`, once shown. */
export async function findTrip(page, { from, to, date, tripId }) {
  await page.getByRole('link', { name: 'Search', exact: true }).click();
  await page.getByLabel('From', { exact: true }).selectOption(from);
  await page.getByLabel('To', { exact: true }).selectOption(to);
  await page.getByLabel('Date of journey').fill(date);
  await page.getByRole('button', { name: 'Search trains' }).click();
  const card = page.locator(`li[data-trip-id="${tripId}"]`);
  await card.waitFor();
  return card;
}

export async function openSeatMap(page) {
  await page.locator('.live[data-live="on"]').waitFor();
  await page.locator('button.seat[data-status="available"]').first().waitFor();
}

export const seat = (page, id) => page.locator(`button.seat[data-seat-id="${id}"]`);

/** Names the passengers, pays with tok_visa, and follows the booking to paid; its ticket code. */
export async function confirmAndPay(page, names, { who, screenshot }) {
  for (let i = 0; i < names.length; i += 1) {
    await page.getByLabel(new RegExp(`^Passenger ${i + 1} name`)).fill(names[i]);
  }
  await page.getByLabel('Card token').fill('tok_visa');
  await page.getByTestId('confirm').click();
  await page.waitForURL(/#\/booking\/[0-9a-f-]{36}$/);
  await page.getByTestId('status-line').filter({ hasText: /\S/ }).waitFor();
  log(`${who} confirmed: ${await page.getByTestId('status-line').innerText()}`);
  await shot(page, screenshot);
  const code = page.getByTestId('ticket-code');
  await code.waitFor({ timeout: 30000 });
  await page.getByTestId('booking-status').filter({ hasText: 'Paid' }).waitFor();
  return (await code.innerText()).trim();
}
