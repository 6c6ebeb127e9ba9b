// The waiting room of a trip's sale (docs/api.md, "The fair rush"), shown by the trip page
// instead of the seat map while the sale's waiting room is active and this tab holds no pass
// for it: sign in, verify (the NID form here; the phone by logging in with a one-time code),
// join, then the wait, which moves without reloading (the public status every ~2 s, the
// place every ~15 s or as soon as the serving counter reaches it), until the pass that the
// seat map sends with select and confirm. Also the countdown of a sale not open yet. The
// rules live in waiting/room.js; this file only paints them and makes the calls.
import { h, field, mount } from '../dom.js';
import { api, currentUser, signedIn, verifyNid, whoAmI, refreshSession } from '../api.js';
import { announce, busy, messageBox } from '../ui.js';
import { countdown, inWords, plural, when } from '../format.js';
import { STATUS_EVERY_MS, Waiting, keepPass, missingVerification, nidProblem, normalNid } from '../waiting/room.js';

const PHONE_TEXT = 'Verify your phone number: log in with a one-time code sent to it by SMS.';
const NID_TEXT = 'Verify your national ID (NID): one account per citizen.';

/** The sale's public status, or null when there is none to read (no such sale, an error). */
export async function saleStatus(saleId) {
  if (!saleId) return null;
  try {
    return await api('GET', `/api/queue/sales/${saleId}`);
  } catch {
    return null;
  }
}

const figure = (label, testid) => {
  const value = h('dd', { 'data-testid': testid }, '–');
  return { el: [h('dt', {}, label), value], value };
};

/**
 * The countdown of a sale that has not opened: to the opening and to its waiting room.
 * Re-renders the trip page when the waiting room opens or the sale does.
 */
export function saleCountdown(ctx, { title, saleId, status, opening }) {
  const opensAt = status?.opens_at;
  const preQueueAt = status?.pre_queue_opens_at;
  const toOpen = h('p', { class: 'big-figure', 'data-testid': 'opens-in' });
  const room = h('p', { class: 'muted', 'data-testid': 'room-opens' });
  mount(
    ctx.main,
    title,
    h(
      'section',
      { class: 'card waiting', 'data-testid': 'sale-countdown', 'aria-labelledby': 'countdown-title' },
      h('h2', { id: 'countdown-title' }, 'Not on sale yet'),
      h('p', { class: 'on-sale-from' }, opening),
      opensAt ? toOpen : null,
      preQueueAt ? room : null,
      h('p', { class: 'muted' }, 'Seats can be chosen once the sale opens. Keep this page open: it moves on by itself.'),
    ),
  );
  if (!opensAt) return;
  let polling = false;
  const tick = async () => {
    const now = Date.now();
    toOpen.textContent = `Opens in ${countdown((Date.parse(opensAt) - now) / 1000)}`;
    const roomIn = (Date.parse(preQueueAt) - now) / 1000;
    room.textContent =
      roomIn > 0
        ? `The waiting room opens at ${when(preQueueAt)} (in ${countdown(roomIn)}); join it before the opening to get a random place in line.`
        : 'The waiting room is opening…';
    if (roomIn > 0 || polling) return;
    // From the waiting room's opening: read the status until the room is there (or the sale opened).
    polling = true;
    const fresh = await saleStatus(saleId);
    polling = false;
    if (ctx.stale()) return;
    if ((fresh && fresh.waiting_room) || Date.parse(opensAt) <= Date.now()) ctx.navigate(ctx.current);
  };
  tick();
  const timer = window.setInterval(tick, 1000);
  ctx.onLeave(() => window.clearInterval(timer));
}

/** The waiting page. `reason`: why the user is here again (a refused pass), if any. */
export async function waitingRoom(ctx, { title, saleId, status, reason }) {
  const model = new Waiting(status);
  const msg = messageBox();
  const body = h('div', { class: 'stack' });
  const said = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-testid': 'queue-announcer' });
  const card = h(
    'section',
    { class: 'card waiting', 'aria-labelledby': 'waiting-title', 'data-testid': 'waiting-room' },
    h('h2', { id: 'waiting-title' }, 'Waiting room'),
    h('p', { class: 'muted' }, `This sale opens at ${when(status.opens_at)}. To be fair to everyone, seats are offered in turn.`),
    msg.el,
    body,
    said,
  );
  mount(ctx.main, title, card);
  if (reason) msg.notice(reason);

  let left = false;
  let timer = null;
  let shown = null; // the phase painted
  let parts = null; // its live figures
  const stop = () => {
    if (timer) window.clearInterval(timer);
    timer = null;
  };
  ctx.onLeave(() => {
    left = true;
    stop();
  });
  const toLogin = () => ctx.navigate(`/login?next=${encodeURIComponent(ctx.current)}`);
  const again = () => ctx.navigate(ctx.current);

  // ---- Calls ------------------------------------------------------------------------------
  async function readPlace() {
    try {
      model.setPlace(await api('GET', `/api/queue/sales/${saleId}/place`, { auth: true }));
    } catch (e) {
      if (e.status === 404) model.setPlace(null);
      else if (e.status === 401) return toLogin();
      else throw e;
    }
  }

  let reading = false;
  let pollFailed = false; // the message shown is a failed poll's: the next good one clears it
  async function poll() {
    if (reading || left) return;
    reading = true;
    try {
      model.setStatus(await api('GET', `/api/queue/sales/${saleId}`));
      if (model.placeDue()) await readPlace();
      if (left) return;
      if (pollFailed) msg.clear();
      pollFailed = false;
      paint();
    } catch (e) {
      if (left) return;
      msg.error(e);
      pollFailed = true;
    } finally {
      reading = false;
    }
  }

  async function join(button) {
    msg.clear();
    let reverified = false;
    try {
      model.setPlace(await busy(button, () => api('POST', `/api/queue/sales/${saleId}/join`, { auth: true })));
      announce(model.summary() || 'You joined the waiting room.');
    } catch (e) {
      if (left) return;
      if (e.status === 401) return toLogin();
      if (e.code === 'verification_required') {
        // The token may predate a verification: a fresh one shows what is really missing.
        await refreshSession().catch(() => null);
        reverified = true;
        msg.error(e, { text: `Before joining: ${(e.details.missing || []).map((m) => (m === 'nid' ? NID_TEXT : PHONE_TEXT)).join(' ')}` });
      } else if (e.code === 'sold_out' || e.code === 'queue_closed') {
        msg.error(e, { text: e.code === 'sold_out' ? 'Sold out: every seat of this sale has been sold.' : 'The waiting room of this sale is not open.' });
        await poll();
      } else {
        msg.error(e, { button });
      }
    }
    if (!left) paint(reverified); // after a refresh, list what is missing anew
  }

  // ---- Pieces ---------------------------------------------------------------------------
  function nidForm() {
    const nid = field({
      label: 'National ID number',
      name: 'nid',
      inputmode: 'numeric',
      autocomplete: 'off',
      required: true,
      maxlength: '21',
      hint: 'The 10 or 17 digits of your NID card. It is checked once and never shown again.',
    });
    const submit = h('button', { type: 'submit', class: 'secondary' }, 'Verify NID');
    return h(
      'form',
      {
        class: 'stack',
        'aria-label': 'Verify your national ID',
        onsubmit: async (e) => {
          e.preventDefault();
          msg.clear();
          const problem = nidProblem(nid.control.value);
          nid.setError(problem);
          if (problem) return nid.control.focus();
          try {
            await busy(submit, () => verifyNid(normalNid(nid.control.value)));
            if (left) return;
            announce('Your national ID is verified.');
            msg.notice('Your national ID is verified.');
            paint(true);
          } catch (err) {
            if (left) return;
            if (err.status === 400) nid.setError('No citizen has this national ID number. Check it and try again.');
            else if (err.code === 'nid_in_use') nid.setError('This national ID is already verified on another account.');
            else if (err.code === 'nid_already_verified') nid.setError('This account already has another national ID verified.');
            else msg.error(err, { button: submit });
            nid.control.focus();
          }
        },
      },
      nid.wrapper,
      submit,
    );
  }

  function joinPart() {
    if (!signedIn()) {
      return h(
        'div',
        { class: 'stack', 'data-testid': 'queue-signin' },
        h('p', {}, 'Sign in to join the waiting room. Joining needs a verified phone and national ID.'),
        h('p', {}, h('a', { href: `#/login?next=${encodeURIComponent(ctx.current)}`, class: 'button primary' }, 'Log in'), ' ', h('a', { href: `#/register?next=${encodeURIComponent(ctx.current)}` }, 'Create an account')),
      );
    }
    const missing = missingVerification(currentUser());
    const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'join', onclick: () => join(button) }, model.phase() === 'expired' ? 'Join again' : 'Join the waiting room');
    const before = model.secondsToOpen() > 0;
    return h(
      'div',
      { class: 'stack', 'data-testid': 'queue-join' },
      missing.length
        ? h(
            'div',
            { class: 'stack', 'data-testid': 'verification' },
            h('h3', {}, 'Before you can join'),
            h('ul', {}, missing.map((m) => h('li', { 'data-missing': m }, m === 'nid' ? NID_TEXT : PHONE_TEXT))),
            missing.includes('phone') ? h('p', {}, h('a', { href: `#/login?next=${encodeURIComponent(ctx.current)}` }, 'Log in with a one-time code')) : null,
            missing.includes('nid') ? nidForm() : null,
          )
        : null,
      h('p', {}, before ? 'Everyone who joins before the opening gets a random place in line at the opening; after it, places go in the order people join.' : 'Places go in the order people join.'),
      missing.length ? null : button,
    );
  }

  function lineParts() {
    const opens = h('p', { class: 'big-figure', 'data-testid': 'opens-in' });
    const position = figure('Your place in line', 'position');
    const ahead = figure('People ahead of you', 'ahead');
    const wait = figure('Estimated wait', 'estimated-wait');
    const bar = h('progress', { max: '100', value: '0', 'aria-label': 'Your progress in line', 'data-testid': 'progress', class: 'queue-progress' });
    const el = h(
      'div',
      { class: 'stack' },
      opens,
      h('p', { 'data-testid': 'queue-state' }),
      h('dl', { class: 'queue-figures' }, position.el, ahead.el, wait.el),
      bar,
      h('p', { class: 'hint' }, 'Keep this page open: it checks your place by itself. A place that nobody asks about for 3 minutes is given up.'),
    );
    const update = () => {
      const now = Date.now();
      const toOpen = model.secondsToOpen(now);
      opens.hidden = toOpen <= 0;
      opens.textContent = `Opens in ${countdown(toOpen)}`;
      el.querySelector('[data-testid="queue-state"]').textContent = model.summary();
      const p = model.position();
      position.value.textContent = p === null ? 'Given at the opening' : String(p);
      ahead.value.textContent = p === null ? '–' : String(model.ahead());
      const w = model.estimatedWait(now);
      wait.value.textContent = w === null ? '–' : `about ${inWords(w)}`;
      const pct = Math.round(model.progress() * 100);
      bar.value = pct;
      bar.setAttribute('aria-valuetext', p === null ? 'Waiting for the opening' : `${pct}%: ${plural(model.ahead(), 'person', 'people')} ahead`);
    };
    return { el, update };
  }

  function admittedPart() {
    const place = model.place;
    keepPass(place);
    const go = h('button', { type: 'button', class: 'primary', 'data-testid': 'choose-seats', onclick: again }, 'Choose your seats');
    return {
      el: h(
        'div',
        { class: 'stack', 'data-testid': 'queue-admitted' },
        h('p', { class: 'big-figure' }, 'It is your turn!'),
        h('p', {}, `Choose and confirm your seats before ${when(place.pass_expires_at)}; after that your turn passes.`),
        h('progress', { max: '100', value: '100', 'aria-label': 'Your progress in line', class: 'queue-progress' }),
        go,
      ),
      focus: go,
    };
  }

  function endPart(phase) {
    if (phase === 'expired') {
      return h('div', { class: 'stack', 'data-testid': 'queue-expired' }, h('p', {}, 'Your place in line has expired: it was not checked for a while, or your turn passed without a booking. You can join again, at the back of the line.'), joinPart());
    }
    const text = phase === 'sold_out' ? 'Sold out: every seat of this sale has been sold. Seats given back go on sale again, so look again later.' : 'This sale is closed.';
    return h('div', { class: 'stack', 'data-testid': `queue-${phase.replace('_', '-')}` }, h('p', { class: 'big-figure' }, phase === 'sold_out' ? 'Sold out' : 'Closed'), h('p', {}, text), h('p', {}, h('a', { href: '#/search' }, 'Search other trains')));
  }

  /** Paints the current phase (rebuilt when it changed, or when `rebuild`), then its figures. */
  function paint(rebuild = false) {
    const phase = model.phase();
    card.dataset.phase = phase;
    if (phase === 'free') {
      stop();
      return again(); // the room ended: the seat map needs no pass now
    }
    if (phase !== shown || rebuild) {
      shown = phase;
      parts = null;
      let focus = null;
      if (phase === 'join') mount(body, joinPart());
      else if (phase === 'pre_queue' || phase === 'waiting') {
        parts = lineParts();
        mount(body, parts.el);
      } else if (phase === 'admitted') {
        const a = admittedPart();
        mount(body, a.el);
        focus = a.focus;
      } else mount(body, endPart(phase));
      if (model.isOver()) stop();
      if (focus) focus.focus();
    }
    parts?.update();
    const text = model.announcement();
    if (text) said.textContent = text;
  }

  // ---- Start --------------------------------------------------------------------------
  if (signedIn()) {
    await whoAmI().catch(() => null);
    try {
      await readPlace();
    } catch (e) {
      msg.error(e);
    }
  }
  if (left || ctx.stale()) return;
  paint();
  let last = Date.now();
  timer = window.setInterval(() => {
    if (Date.now() - last >= STATUS_EVERY_MS) {
      last = Date.now();
      poll();
    } else parts?.update();
  }, 1000);
}
