// The seat-selection breakpoint for k6: the same scenario as locust/breakpoint.py with
// SeatSelectUser (and bench/breakpoint.lua for wrk). Virtual users step up by RR_STEP_USERS
// every RR_STEP_SECONDS; each picks a hot trip and 1 or 2 seats it believes free, selects them
// and confirms what it holds. Thresholds per step abort the run at the first step whose select
// p99 or error ratio crosses its limit; the summary lists every step and the last good one.
//
//   k6 run locust/k6-select-breakpoint.js                             # direct to booking-service
//   RR_HOST=http://localhost:8080 k6 run locust/k6-select-breakpoint.js   # through the gateway
//
// Answers: 201 held; 409 seat_unavailable (taken) and seat_limit_reached (limit) are right
// answers and 429 is counted as rate-limited: none of them is an error. Errors are 5xx,
// connection errors, timeouts and other 4xx.
//
// Passengers and tokens come from the setup step: python3 locust/prepare.py --users N (its
// file, RR_PASSENGERS, default ../.local/loadtest/passengers.json relative to this script).
// Access tokens last 15 minutes: keep RR_MAX_USERS / RR_STEP_USERS * RR_STEP_SECONDS under
// that, or prepare again between runs.
//
// Environment: RR_HOST (http://127.0.0.1:8083), RR_TRAIN_URL (RR_HOST, or :8082 when RR_HOST
// is booking-service's :8083), RR_FROM/RR_TO (DHK/CTG), RR_HOT_DATE (tomorrow),
// RR_HOT_TRIPS (comma list, instead of searching), RR_CONFIRM (1), RR_STEP_USERS (50),
// RR_STEP_SECONDS (30), RR_MAX_USERS (2000), RR_BREAK_P99_MS (50), RR_BREAK_ERROR_RATIO
// (0.01), RR_K6_OUT (locust/results/k6-breakpoint.json).

import http from 'k6/http';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Rate } from 'k6/metrics';

const num = (name, fallback) => (__ENV[name] ? Number(__ENV[name]) : fallback);

const HOST = (__ENV.RR_HOST || 'http://127.0.0.1:8083').replace(/\/$/, '');
const TRAIN = (__ENV.RR_TRAIN_URL || (HOST.endsWith(':8083') ? HOST.replace(/:8083$/, ':8082') : HOST)).replace(/\/$/, '');
const FROM = __ENV.RR_FROM || 'DHK';
const TO = __ENV.RR_TO || 'CTG';
const CONFIRM = (__ENV.RR_CONFIRM || '1') !== '0';
const STEP_USERS = num('RR_STEP_USERS', 50);
const STEP_SECONDS = num('RR_STEP_SECONDS', 30);
const MAX_USERS = num('RR_MAX_USERS', 2000);
const BREAK_P99_MS = num('RR_BREAK_P99_MS', 50);
const BREAK_ERROR_RATIO = num('RR_BREAK_ERROR_RATIO', 0.01);
const STEPS = Math.ceil(MAX_USERS / STEP_USERS);
const RAMP_SECONDS = Math.min(5, Math.floor(STEP_SECONDS / 3));
const ANSWERS = ['held', 'taken', 'limit', 'rate_limited', 'error'];

const tokens = new SharedArray('tokens', () => {
  const file = __ENV.RR_PASSENGERS || '../.local/loadtest/passengers.json';
  const passengers = JSON.parse(open(file)).passengers.filter((p) => p.access_token);
  if (passengers.length === 0) throw new Error(`no tokens in ${file}: run python3 locust/prepare.py first`);
  return passengers.map((p) => p.access_token);
});

const answers = new Counter('select_answers');
const errors = new Rate('select_errors');

// Per-step thresholds (on the steady part of each step, see stepTag): the ones on p99 and
// errors abort the run; the others only make k6 keep a sub-metric per step and answer for the
// report in handleSummary.
function thresholds() {
  const t = {};
  for (let step = 1; step <= STEPS; step++) {
    t[`http_req_duration{name:select,step:${step}}`] = [
      { threshold: `p(99)<${BREAK_P99_MS}`, abortOnFail: true, delayAbortEval: '5s' },
    ];
    t[`select_errors{step:${step}}`] = [
      { threshold: `rate<${BREAK_ERROR_RATIO}`, abortOnFail: true, delayAbortEval: '5s' },
    ];
    for (const answer of ANSWERS) t[`select_answers{step:${step},answer:${answer}}`] = ['count>=0'];
  }
  return t;
}

function stages() {
  const s = [];
  for (let step = 1; step <= STEPS; step++) {
    const target = Math.min(MAX_USERS, step * STEP_USERS);
    s.push({ duration: `${RAMP_SECONDS}s`, target });
    s.push({ duration: `${STEP_SECONDS - RAMP_SECONDS}s`, target });
  }
  return s;
}

export const options = {
  scenarios: {
    select_breakpoint: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: stages(),
      gracefulRampDown: '0s',
      gracefulStop: '5s',
    },
  },
  thresholds: thresholds(),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max', 'count'],
};

// k6's own http_req_failed: 409 and 429 are expected answers here, not failed requests.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409, 429));

export function setup() {
  let trips;
  if (__ENV.RR_HOT_TRIPS) {
    trips = __ENV.RR_HOT_TRIPS.split(',').filter(Boolean).map(Number);
  } else {
    let day = __ENV.RR_HOT_DATE;
    if (!day) {
      const dhaka = new Date(Date.now() + 6 * 3600 * 1000 + 24 * 3600 * 1000);
      day = dhaka.toISOString().slice(0, 10);
    }
    const res = http.get(`${TRAIN}/api/trains/search?from=${FROM}&to=${TO}&date=${day}`, { tags: { name: 'setup' } });
    if (res.status !== 200) throw new Error(`search failed: ${res.status}`);
    trips = res.json('trips').map((t) => t.trip_id);
    if (trips.length === 0) throw new Error(`no trips ${FROM}-${TO} on ${day}`);
  }
  const seats = {};
  for (const trip of trips) {
    const res = http.get(`${HOST}/api/bookings/trips/${trip}/seats`, { tags: { name: 'setup' } });
    if (res.status !== 200) throw new Error(`seat map of trip ${trip}: ${res.status}`);
    seats[trip] = res.json('seats').map((s) => s.seat_id);
  }
  return { trips, seats };
}

// This VU's view of the free seats: every seat at first, narrowed by its own answers.
let free = null;

// The step tag of a request: "3" in step 3 once its VUs have started, "ramp3" while they
// start (those requests are not judged: a step's first seconds mix two loads).
function stepTag() {
  const elapsed = (Date.now() - exec.scenario.startTime) / 1000;
  const step = Math.min(STEPS, Math.floor(elapsed / STEP_SECONDS) + 1);
  return elapsed - (step - 1) * STEP_SECONDS < RAMP_SECONDS ? `ramp${step}` : String(step);
}

function pick(data, trip, n) {
  const known = free[trip];
  const pool = known.size >= n ? Array.from(known) : data.seats[trip];
  const chosen = new Set();
  while (chosen.size < Math.min(n, pool.length)) chosen.add(pool[Math.floor(Math.random() * pool.length)]);
  return Array.from(chosen);
}

function classify(res) {
  if (res.status === 201) return 'held';
  if (res.status === 429) return 'rate_limited';
  if (res.status === 409) {
    let code = '';
    try {
      code = res.json('error.code');
    } catch (_) {
      code = '';
    }
    if (code === 'seat_unavailable') return 'taken';
    if (code === 'seat_limit_reached') return 'limit';
  }
  return 'error'; // 5xx, connection error or timeout (status 0), other 4xx
}

export default function (data) {
  if (free === null) {
    free = {};
    for (const trip of data.trips) free[trip] = new Set(data.seats[trip]);
  }
  const step = stepTag();
  const token = tokens[(exec.vu.idInTest - 1 + exec.vu.iterationInScenario) % tokens.length];
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
  const trip = data.trips[Math.floor(Math.random() * data.trips.length)];
  const seats = pick(data, trip, Math.random() < 0.5 ? 1 : 2);
  const res = http.post(`${HOST}/api/bookings/seats/select`, JSON.stringify({ trip_id: trip, seat_ids: seats }), {
    headers,
    tags: { name: 'select', step },
    timeout: '10s',
  });
  const answer = classify(res);
  answers.add(1, { step, answer });
  errors.add(answer === 'error', { step });
  if (answer === 'held') {
    for (const s of seats) free[trip].delete(s);
    if (CONFIRM) {
      const passengers = seats.map((_, i) => ({ name: `Load Passenger ${i + 1}` }));
      http.post(
        `${HOST}/api/bookings/seats/confirm`,
        JSON.stringify({ hold_id: res.json('hold_id'), passengers, payment_token: 'tok_visa' }),
        { headers, tags: { name: 'confirm', step }, timeout: '10s' },
      );
    }
  } else if (answer === 'taken') {
    let taken = seats;
    try {
      taken = res.json('error.details.seat_ids') || seats;
    } catch (_) {
      taken = seats;
    }
    for (const s of taken) free[trip].delete(s);
  }
}

function metric(data, name) {
  return data.metrics[name] ? data.metrics[name].values : null;
}

export function handleSummary(data) {
  const rows = [];
  for (let step = 1; step <= STEPS; step++) {
    const latency = metric(data, `http_req_duration{name:select,step:${step}}`);
    if (!latency || !latency.count) continue;
    const counts = {};
    for (const answer of ANSWERS) {
      const c = metric(data, `select_answers{step:${step},answer:${answer}}`);
      counts[answer] = c ? c.count : 0;
    }
    const err = metric(data, `select_errors{step:${step}}`);
    const errorRatio = err ? err.rate : 0;
    const p99 = latency['p(99)'];
    let verdict = 'ok';
    if (errorRatio >= BREAK_ERROR_RATIO) verdict = `error ratio ${errorRatio.toFixed(3)} >= ${BREAK_ERROR_RATIO}`;
    else if (p99 >= BREAK_P99_MS) verdict = `p99 ${p99.toFixed(0)} ms >= ${BREAK_P99_MS} ms`;
    rows.push({
      step,
      users: Math.min(MAX_USERS, step * STEP_USERS),
      selects: latency.count,
      selects_per_s: latency.count / (STEP_SECONDS - RAMP_SECONDS),
      p50_ms: latency.med,
      p99_ms: p99,
      ...counts,
      error_ratio: errorRatio,
      verdict,
    });
  }
  const good = rows.filter((r) => r.verdict === 'ok');
  const lastGood = good.length ? good[good.length - 1] : null;
  const lines = [
    `seat-selection breakpoint (k6, +${STEP_USERS} VUs every ${STEP_SECONDS} s; limits p99 < ${BREAK_P99_MS} ms, errors < ${BREAK_ERROR_RATIO})`,
    'users  selects/s  p50 ms  p99 ms    held    taken  limit    429  errors  verdict',
  ];
  for (const r of rows) {
    lines.push(
      [
        String(r.users).padStart(5),
        r.selects_per_s.toFixed(0).padStart(10),
        r.p50_ms.toFixed(1).padStart(7),
        r.p99_ms.toFixed(1).padStart(7),
        String(r.held).padStart(7),
        String(r.taken).padStart(8),
        String(r.limit).padStart(6),
        String(r.rate_limited).padStart(6),
        String(r.error).padStart(7),
        ` ${r.verdict}`,
      ].join(' '),
    );
  }
  lines.push(
    lastGood
      ? `last good step: ${lastGood.users} VUs, ${lastGood.selects_per_s.toFixed(0)} selects/s, p99 ${lastGood.p99_ms.toFixed(1)} ms`
      : 'no step met the limits',
  );
  const out = __ENV.RR_K6_OUT || 'locust/results/k6-breakpoint.json';
  return {
    stdout: `${lines.join('\n')}\n`,
    [out]: JSON.stringify({ steps: rows, last_good: lastGood, limits: { p99_ms: BREAK_P99_MS, error_ratio: BREAK_ERROR_RATIO } }, null, 1),
  };
}
