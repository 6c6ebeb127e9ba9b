// The console's sales panel: a date, the trips departing that day with live numbers (sold,
// held and free per class, sold in the last minute, boarded, the waiting room) read every
// 2 s without reloading; per trip, the sales control (move the opening, close and reopen
// sales) and the trip's cancellation with its progress. Each trip's card is built once and
// painted from every answer, so a field being typed in keeps its text and focus.
import { h, field, mount } from '../dom.js';
import { admin } from '../api.js';
import { announce, busy, messageBox } from '../ui.js';
import { className, clock, date as longDate, dhakaDate, when } from '../format.js';
import {
  cancellationProgress,
  count,
  figures,
  fromDhakaInput,
  lastMinute,
  shownClosed,
  stamp,
  toDhakaInput,
  waitingRoomText,
} from './model.js';

export const POLL_MS = 2000;

/** The opening and closing of one trip's sales, and its cancellation. */
function salesControl(card) {
  const opening = field({
    label: 'Opening (Bangladesh time)',
    type: 'datetime-local',
    name: 'sales_open_at',
    'data-testid': 'opening-input',
  });
  const move = h('button', { type: 'submit', class: 'secondary', 'data-testid': 'move-opening' }, 'Move opening');
  const openingForm = h('form', { class: 'console-inline', novalidate: true }, opening.wrapper, move);
  openingForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const at = fromDhakaInput(opening.control.value);
    if (!at) {
      opening.setError('Enter a date and time.');
      return;
    }
    opening.setError(null);
    card.msg.clear();
    try {
      const trip = await busy(move, () => admin.setSales(card.tripId, { sales_open_at: at }));
      opening.control.dataset.dirty = '';
      card.msg.notice(`Sales of trip ${card.tripId} now open at ${when(trip.sales_open_at)}.`);
      card.poll();
    } catch (err) {
      if (err.details?.field === 'sales_open_at') opening.setError(err.message);
      else card.msg.error(err, { button: move });
    }
  });
  opening.control.addEventListener('input', () => {
    opening.control.dataset.dirty = 'true';
  });

  const toggle = h('button', { type: 'button', class: 'secondary', 'data-testid': 'sales-toggle' }, 'Close sales');
  toggle.addEventListener('click', async () => {
    const closing = toggle.dataset.closed !== 'true';
    card.msg.clear();
    try {
      const trip = await busy(toggle, () => admin.setSales(card.tripId, { sales_closed: closing }));
      const closed = typeof trip?.sales_closed === 'boolean' ? trip.sales_closed : closing;
      card.pending = { sales_closed: closed, at: Date.now() };
      card.paint();
      announce(closed ? `Sales of trip ${card.tripId} closed.` : `Sales of trip ${card.tripId} reopened.`);
      card.poll();
    } catch (err) {
      card.msg.error(err, { button: toggle });
    }
  });

  const reason = field({
    label: 'Reason for the passengers',
    name: 'reason',
    maxlength: 500,
    required: true,
    'data-testid': 'cancel-reason',
    hint: 'Every passenger of the trip is told this. 1 to 500 characters.',
  }, 'input');
  const ask = h('button', { type: 'submit', class: 'secondary danger', 'data-testid': 'cancel-trip' }, 'Cancel trip…');
  const confirmRow = h('div', { class: 'actions', hidden: true });
  const cancelForm = h('form', { class: 'stack', novalidate: true }, reason.wrapper, h('div', { class: 'actions' }, ask), confirmRow);
  cancelForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = reason.control.value.trim();
    if (!text) {
      reason.setError('Give the passengers a reason.');
      reason.control.focus();
      return;
    }
    reason.setError(null);
    const yes = h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel-trip-yes' }, 'Yes, cancel the trip and refund');
    const no = h('button', { type: 'button', class: 'secondary' }, 'Keep the trip');
    no.addEventListener('click', () => {
      confirmRow.hidden = true;
      mount(confirmRow);
      ask.focus();
    });
    yes.addEventListener('click', async () => {
      card.msg.clear();
      try {
        const progress = await busy(yes, () => admin.cancelTrip(card.tripId, text));
        confirmRow.hidden = true;
        mount(confirmRow);
        card.cancellation = progress;
        card.paint();
        announce(`Trip ${card.tripId} is being cancelled.`);
        card.poll();
      } catch (err) {
        card.msg.error(err, { button: yes });
      }
    });
    mount(
      confirmRow,
      h('p', { class: 'confirm-question' }, `Cancel trip ${card.tripId}? Every booking is cancelled and every paid one refunded.`),
      yes,
      no,
    );
    confirmRow.hidden = false;
    yes.focus();
  });

  const el = h(
    'details',
    { class: 'console-control', 'data-testid': 'sales-control' },
    h('summary', {}, 'Sales control and cancellation'),
    h('div', { class: 'stack' }, openingForm, h('div', { class: 'actions' }, toggle, h('span', { class: 'muted', 'data-testid': 'toggle-state' })), cancelForm),
  );
  return {
    el,
    paint(trip, closed) {
      if (document.activeElement !== opening.control && opening.control.dataset.dirty !== 'true') {
        opening.control.value = toDhakaInput(trip.sales_open_at);
      }
      toggle.dataset.closed = String(closed.closed);
      toggle.textContent = closed.closed ? 'Reopen sales' : 'Close sales';
      el.querySelector('[data-testid="toggle-state"]').textContent = closed.applying
        ? 'train-service took the change; the booking service applies it within seconds'
        : '';
    },
  };
}

/** The state of a trip's sales in a word, and its badge. */
function salesState(trip, closed, now = Date.now()) {
  if (trip.cancellation) return { key: 'cancelled', text: 'Cancelled' };
  if (closed.closed) return { key: 'closed', text: closed.applying ? 'Sales closing' : 'Sales closed' };
  if (trip.sales_open_at && Date.parse(trip.sales_open_at) > now) return { key: 'upcoming', text: `Opens ${when(trip.sales_open_at)}` };
  return { key: 'open', text: 'On sale' };
}

function classTable(trip) {
  return h(
    'table',
    { class: 'classes console-classes' },
    h('caption', { class: 'visually-hidden' }, `Seats per class of trip ${trip.trip_id}`),
    h(
      'thead',
      {},
      h('tr', {}, ['Class', 'Seats', 'Sold', 'Held', 'Free'].map((t) => h('th', { scope: 'col' }, t))),
    ),
    h(
      'tbody',
      {},
      (trip.classes || []).map((c) =>
        h(
          'tr',
          { 'data-class': c.class },
          h('th', { scope: 'row' }, className(c.class)),
          h('td', {}, count(c.total)),
          h('td', { 'data-testid': 'class-sold' }, count(c.sold)),
          h('td', {}, count(c.held)),
          h('td', {}, count(c.free)),
        ),
      ),
    ),
  );
}

function cancellationView(progress) {
  const p = cancellationProgress(progress);
  return h(
    'section',
    {
      class: `console-cancellation phase-${p.phase}`,
      'data-testid': 'cancellation',
      'data-phase': p.phase,
      'aria-label': 'Cancellation progress',
    },
    h('p', { class: 'summary' }, p.headline),
    h('progress', { class: 'queue-progress', max: 1, value: p.fraction, 'aria-label': 'Bookings cancelled' }),
    h(
      'dl',
      { class: 'queue-figures' },
      h('dt', {}, 'Bookings cancelled'),
      h('dd', { 'data-testid': 'cancelled' }, `${count(progress.cancelled)} of ${count(progress.bookings_total)}`),
      h('dt', {}, 'Left to cancel'),
      h('dd', { 'data-testid': 'left' }, count(progress.left)),
      h('dt', {}, 'Refunds requested'),
      h('dd', { 'data-testid': 'refunds-requested' }, count(progress.refunds_requested)),
      h('dt', {}, 'Refunds completed'),
      h('dd', { 'data-testid': 'refunds-completed' }, count(progress.refunds_completed)),
    ),
    h('p', { class: 'muted' }, p.bookings, '. ', p.refunds, '.'),
    h(
      'p',
      { class: 'muted' },
      `Reason: “${progress.reason}”, asked at ${stamp(progress.requested_at)}`,
      progress.finished_at ? `, bookings done at ${stamp(progress.finished_at)}` : '',
      '.',
    ),
  );
}

/** One trip's card: built once, painted from each answer. */
function tripCard(first, panel) {
  const headingId = `console-trip-${first.trip_id}`;
  const card = {
    tripId: first.trip_id,
    trip: first,
    pending: null,
    cancellation: null,
    msg: messageBox(),
    poll: panel.poll,
  };
  const badge = h('span', { class: 'badge', 'data-testid': 'sales-state' });
  const times = h('p', { class: 'trip-times' });
  const numbers = h('dl', { class: 'console-figures' });
  const recent = h('p', { class: 'console-recent', 'data-testid': 'sold-last-minute' });
  const classes = h('div', {});
  const room = h('p', { class: 'muted', 'data-testid': 'waiting-room' });
  const cancellation = h('div', {});
  const control = salesControl(card);
  card.el = h(
    'li',
    { class: 'card console-trip', 'data-trip-id': first.trip_id },
    h(
      'article',
      { 'aria-labelledby': headingId },
      h('div', { class: 'trip-head' }, h('h3', { id: headingId }, `${first.train_name} `, h('span', { class: 'muted' }, `${first.train_number ? `(${first.train_number}) ` : ''}trip ${first.trip_id}`)), badge),
      times,
      numbers,
      recent,
      classes,
      room,
      cancellation,
      card.msg.el,
      control.el,
    ),
  );

  card.paint = () => {
    const trip = card.trip;
    const progress = trip.cancellation || card.cancellation;
    const closed = shownClosed(trip.sales_closed, card.pending);
    if (!closed.applying) card.pending = null;
    const state = salesState({ ...trip, cancellation: progress }, closed);
    badge.textContent = state.text;
    badge.className = `badge badge-sales-${state.key}`;
    badge.dataset.state = state.key;
    card.el.dataset.sold = String(trip.sold);
    mount(
      times,
      h('time', { datetime: trip.departs_at }, h('strong', {}, clock(trip.departs_at)), ` ${trip.from}`),
      ' → ',
      `${trip.to}`,
      h('span', { class: 'muted' }, ` · ${longDate(trip.departs_at)} · sale ${trip.sale_id || '—'}`),
    );
    mount(
      numbers,
      figures(trip).map((f) =>
        h('div', { class: `console-figure figure-${f.key}` }, h('dt', {}, f.label), h('dd', { 'data-testid': f.key }, f.value), f.note ? h('dd', { class: 'muted' }, f.note) : null),
      ),
    );
    recent.textContent = `Sold ${lastMinute(trip.sold_last_minute)}`;
    mount(classes, classTable(trip));
    room.textContent = waitingRoomText(trip.waiting_room);
    mount(cancellation, progress ? cancellationView(progress) : null);
    control.el.hidden = Boolean(progress);
    control.paint(trip, closed);
  };
  card.update = (trip) => {
    card.trip = trip;
    if (trip.cancellation) card.cancellation = trip.cancellation;
    card.paint();
    // An overview without the cancellation's progress: follow it on its own call.
    if (trip.cancellation === undefined && card.cancellation && !cancellationProgress(card.cancellation).complete) {
      admin
        .cancellation(card.tripId)
        .then((progress) => {
          card.cancellation = progress;
          card.paint();
        })
        .catch((err) => card.msg.error(err));
    }
  };
  card.paint();
  return card;
}

/** The sales panel in `root`; polls until `onLeave`. */
export function salesPanel(ctx, root) {
  const msg = messageBox();
  const day = field({ label: 'Departure date', type: 'date', name: 'date', value: ctx.query.get('date') || dhakaDate(), required: true });
  const show = h('button', { type: 'submit', class: 'primary' }, 'Show trips');
  const form = h('form', { class: 'console-inline', 'aria-label': 'Trips of a day' }, day.wrapper, show);
  const updated = h('p', { class: 'muted', 'data-testid': 'sales-updated' }, 'Loading…');
  const list = h('ul', { class: 'console-trips' });
  const cards = new Map();
  let date = day.control.value;
  let timer = null;
  let running = false;
  let again = false;
  let stopped = false;

  async function poll() {
    if (stopped) return;
    if (running) {
      // A read is under way: read again right after it, so what the operator just did shows.
      again = true;
      return;
    }
    if (timer) window.clearTimeout(timer);
    timer = null;
    running = true;
    const asked = date;
    let wait = POLL_MS;
    try {
      const body = await admin.sales(asked);
      if (!stopped && asked === date) {
        msg.clear();
        render(body);
      }
    } catch (err) {
      if (!stopped) {
        msg.error(err);
        updated.textContent = `Not updated since the last answer; trying again every ${POLL_MS / 1000} s.`;
        wait = Math.max(POLL_MS, (err.retryAfter || 0) * 1000);
      }
    }
    running = false;
    if (stopped) return;
    if (again) {
      again = false;
      poll();
    } else {
      timer = window.setTimeout(poll, wait);
    }
  }

  function render(body) {
    const seen = new Set();
    const order = [];
    for (const trip of body.trips) {
      seen.add(trip.trip_id);
      let card = cards.get(trip.trip_id);
      if (card) card.update(trip);
      else {
        card = tripCard(trip, { poll });
        cards.set(trip.trip_id, card);
      }
      order.push(card.el);
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.el.remove();
        cards.delete(id);
      }
    }
    // Append in the answer's order; moving an element that is already in place keeps focus.
    order.forEach((el, i) => {
      if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
    });
    updated.textContent = body.trips.length
      ? `${body.trips.length === 1 ? '1 trip' : `${body.trips.length} trips`} departing ${body.date}; updated ${stamp(body.generated_at)}, every ${POLL_MS / 1000} s.`
      : `No trips depart on ${body.date}.`;
    updated.dataset.generatedAt = body.generated_at;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!day.control.value) {
      day.setError('Choose a date.');
      return;
    }
    day.setError(null);
    date = day.control.value;
    for (const card of cards.values()) card.el.remove();
    cards.clear();
    updated.textContent = 'Loading…';
    poll();
  });

  ctx.onLeave(() => {
    stopped = true;
    if (timer) window.clearTimeout(timer);
  });
  mount(
    root,
    h('h2', { id: 'sales-heading' }, 'Sales'),
    form,
    updated,
    msg.el,
    list,
  );
  poll();
}
