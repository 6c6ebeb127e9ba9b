// A trip's seat map: one grid per coach, statuses live from the trip's event stream, up to 4
// seats selected and held, a visible hold countdown, passenger names and the card token,
// then confirm (which starts the payment saga, followed on the booking page).
import { h, field, mount } from '../dom.js';
import { api, newKey, signedIn } from '../api.js';
import { announce, busy, messageBox, pageTitle, loading } from '../ui.js';
import { className, clock, date, duration, minutesSeconds, plural, seatParts, taka } from '../format.js';

const MAX_SEATS = 4;
const holdKey = (tripId) => `railrush.hold.${tripId}`;

function savedHold(tripId) {
  try {
    const hold = JSON.parse(window.sessionStorage.getItem(holdKey(tripId)) || 'null');
    return hold && new Date(hold.expires_at) > new Date() ? hold : null;
  } catch {
    return null;
  }
}

function saveHold(tripId, hold) {
  try {
    if (hold) window.sessionStorage.setItem(holdKey(tripId), JSON.stringify(hold));
    else window.sessionStorage.removeItem(holdKey(tripId));
  } catch {
    // Without storage the hold lasts as long as the page.
  }
}

const STATUS_TEXT = {
  available: 'available',
  held: 'held by another passenger',
  booked: 'booked',
  mine: 'held by you',
  selected: 'selected',
};

export async function tripView(ctx) {
  const tripId = Number(ctx.params[0]);
  const msg = messageBox();
  mount(ctx.main, loading('Loading the seat map…'));
  const detail = await api('GET', `/api/trains/trips/${tripId}`);
  if (ctx.stale()) return;

  const seats = new Map(); // seat_id -> { seat_id, label, fare, coach, class, number }
  for (const coach of detail.coaches) {
    for (const s of coach.seats) seats.set(s.seat_id, { ...s, coach: coach.code, class: coach.class, number: seatParts(s.label).number });
  }
  const status = new Map(); // seat_id -> available | held | booked
  const selected = new Set();
  const pending = new Set(); // seats of a hold request in flight: their change is ours
  const buttons = new Map();
  let hold = savedHold(tripId);
  let coachCode = detail.coaches[0]?.code;
  let timer = null;
  let stream = null;
  let retry = null;
  let left = false;
  ctx.onLeave(() => {
    left = true;
    if (timer) window.clearInterval(timer);
    if (retry) window.clearTimeout(retry);
    if (stream) stream.close();
  });

  const mine = (id) => Boolean(hold && hold.seat_ids.includes(id));
  const labels = (ids) => ids.map((id) => seats.get(id)?.label || `#${id}`).join(', ');
  const fareOf = (ids) => ids.reduce((sum, id) => sum + (seats.get(id)?.fare || 0), 0);

  // ---- Seat buttons ---------------------------------------------------------------------
  function shownStatus(id) {
    if (mine(id)) return 'mine';
    if (selected.has(id)) return 'selected';
    return status.get(id) || 'available';
  }

  function paintSeat(id) {
    const button = buttons.get(id);
    if (!button) return;
    const seat = seats.get(id);
    const shown = shownStatus(id);
    const raw = status.get(id) || 'unknown';
    button.dataset.status = raw;
    button.dataset.shown = shown;
    button.className = `seat seat-${shown}`;
    button.setAttribute('aria-pressed', String(shown === 'selected' || shown === 'mine'));
    const unavailable = shown === 'held' || shown === 'booked';
    if (unavailable) button.setAttribute('aria-disabled', 'true');
    else button.removeAttribute('aria-disabled');
    button.setAttribute('aria-label', `Coach ${seat.coach} seat ${seat.number}, ${STATUS_TEXT[shown]}, ${taka(seat.fare)}`);
    button.title = `${seat.label}: ${STATUS_TEXT[shown]}`;
  }

  function paintAll() {
    for (const id of seats.keys()) paintSeat(id);
    paintCoaches();
    paintPanel();
  }

  function onSeatKey(e, list, index) {
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 4, ArrowUp: -4 };
    let next = null;
    if (e.key in moves) next = index + moves[e.key];
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = list.length - 1;
    if (next === null || next < 0 || next >= list.length) return;
    e.preventDefault();
    buttons.get(list[next].seat_id).focus();
  }

  function toggle(id) {
    const seat = seats.get(id);
    const shown = shownStatus(id);
    msg.clear();
    if (hold) {
      msg.notice('Your seats are held. Confirm them, or release them to choose different seats.');
      return;
    }
    if (shown === 'held' || shown === 'booked') {
      msg.notice(`Seat ${seat.label} is ${STATUS_TEXT[shown]}. Choose an available seat.`);
      return;
    }
    if (selected.has(id)) {
      selected.delete(id);
      announce(`Seat ${seat.label} removed. ${plural(selected.size, 'seat')} selected.`);
    } else if (selected.size >= MAX_SEATS) {
      msg.notice(`You can choose at most ${MAX_SEATS} seats per booking.`);
      return;
    } else {
      selected.add(id);
      announce(`Seat ${seat.label} selected. ${plural(selected.size, 'seat')} selected.`);
    }
    paintSeat(id);
    paintPanel();
  }

  const grids = detail.coaches.map((coach) => {
    const rows = [];
    coach.seats.forEach((s, index) => {
      const button = h('button', {
        type: 'button',
        'data-seat-id': s.seat_id,
        onclick: () => toggle(s.seat_id),
        onkeydown: (e) => onSeatKey(e, coach.seats, index),
      }, seatParts(s.label).number);
      buttons.set(s.seat_id, button);
      if (index % 4 === 0) rows.push([]);
      const row = rows[rows.length - 1];
      if (row.length === 2) row.push(h('span', { class: 'aisle', 'aria-hidden': 'true' }));
      row.push(button);
    });
    return h(
      'div',
      {
        class: 'coach',
        role: 'group',
        'aria-label': `Coach ${coach.code}, ${className(coach.class)} seats`,
        'data-coach': coach.code,
        hidden: coach.code !== coachCode,
      },
      h('p', { class: 'coach-front', 'aria-hidden': 'true' }, `Coach ${coach.code} · front`),
      h('div', { class: 'seat-grid' }, rows.map((r) => h('div', { class: 'seat-row' }, r))),
    );
  });

  // ---- Coach picker ---------------------------------------------------------------------
  const coachLabels = new Map();
  const coachPicker = h(
    'fieldset',
    { class: 'segmented coaches' },
    h('legend', {}, 'Coach'),
    detail.coaches.map((coach) => {
      const text = h('span', {});
      coachLabels.set(coach.code, text);
      return h(
        'label',
        { class: 'segment' },
        h('input', {
          type: 'radio',
          name: 'coach',
          value: coach.code,
          checked: coach.code === coachCode,
          onchange: () => {
            coachCode = coach.code;
            for (const g of grids) g.hidden = g.dataset.coach !== coachCode;
          },
        }),
        text,
      );
    }),
  );

  function paintCoaches() {
    for (const coach of detail.coaches) {
      const free = coach.seats.filter((s) => (status.get(s.seat_id) || 'available') === 'available').length;
      coachLabels.get(coach.code).textContent = `${coach.code} · ${className(coach.class)} · ${free} free`;
    }
  }

  // ---- Selection and hold panel ---------------------------------------------------------
  const panel = h('section', { class: 'card panel', 'aria-labelledby': 'panel-title' });
  const summary = h('p', { class: 'summary' }); // changes are announced by toggle()
  const holdButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'hold' }, 'Hold seats');
  holdButton.addEventListener('click', () => takeHold());
  let holdForm = null;
  let countdown = null;

  function paintPanel() {
    if (hold) {
      if (!holdForm) renderHoldForm();
      return;
    }
    holdForm = null;
    const ids = [...selected].sort((a, b) => a - b);
    summary.textContent = ids.length
      ? `${plural(ids.length, 'seat')}: ${labels(ids)} · ${taka(fareOf(ids))}`
      : `No seats selected. Choose up to ${MAX_SEATS} available seats.`;
    holdButton.disabled = ids.length === 0 || holdButton.textContent.startsWith('Try again');
    holdButton.textContent = holdButton.textContent.startsWith('Try again')
      ? holdButton.textContent
      : ids.length ? `Hold ${plural(ids.length, 'seat')}` : 'Hold seats';
    mount(
      panel,
      h('h2', { id: 'panel-title' }, 'Your selection'),
      summary,
      signedIn() ? null : h('p', { class: 'hint' }, 'You will be asked to log in to hold seats.'),
      holdButton,
    );
  }

  async function takeHold() {
    const ids = [...selected].sort((a, b) => a - b);
    if (ids.length === 0) return;
    if (!signedIn()) {
      ctx.navigate(`/login?next=${encodeURIComponent(ctx.current)}`);
      return;
    }
    msg.clear();
    for (const id of ids) pending.add(id);
    try {
      const res = await busy(holdButton, () =>
        api('POST', '/api/bookings/seats/select', { auth: true, idempotent: true, body: { trip_id: tripId, seat_ids: ids } }),
      ).finally(() => pending.clear());
      if (left) return;
      hold = res;
      saveHold(tripId, hold);
      selected.clear();
      for (const id of hold.seat_ids) status.set(id, 'held');
      announce(`${plural(hold.seat_ids.length, 'seat')} held for you for 5 minutes.`);
      paintAll();
      holdForm?.querySelector('input')?.focus();
    } catch (e) {
      if (left) return;
      if (e.status === 401) {
        ctx.navigate(`/login?next=${encodeURIComponent(ctx.current)}`);
        return;
      }
      if (e.code === 'seat_unavailable') {
        const taken = (e.details.seat_ids || []).filter((id) => seats.has(id));
        for (const id of taken) {
          status.set(id, 'held');
          selected.delete(id);
        }
        const which = taken.length ? labels(taken) : 'One of your seats';
        msg.error(e, {
          text: `${taken.length > 1 ? `Seats ${which} were` : `Seat ${which} was`} just taken by another passenger. Choose another seat and try again.`,
        });
        paintAll();
      } else if (e.code === 'seat_limit_reached') {
        msg.error(e, { text: `You can hold or own at most ${MAX_SEATS} seats on this train. Release a hold or cancel a booking first.` });
      } else {
        msg.error(e, { button: holdButton });
      }
    }
  }

  function renderHoldForm() {
    const ids = [...hold.seat_ids].sort((a, b) => a - b);
    countdown = h('strong', { 'data-testid': 'countdown' });
    const timerEl = h('p', { class: 'countdown', role: 'timer', 'aria-live': 'off', id: 'hold-countdown' }, 'Time left to confirm: ', countdown);
    const names = ids.map((id, i) =>
      field({
        label: `Passenger ${i + 1} name (seat ${seats.get(id)?.label})`,
        name: `passenger-${i + 1}`,
        autocomplete: i === 0 ? 'name' : 'off',
        required: true,
        maxlength: '100',
      }),
    );
    const token = field({
      label: 'Card token',
      name: 'payment_token',
      required: true,
      value: 'tok_visa',
      autocomplete: 'off',
      spellcheck: 'false',
      hint: 'Test cards: tok_visa is charged successfully, tok_chargeDeclined is declined.',
    });
    const confirm = h('button', { type: 'submit', class: 'primary', 'data-testid': 'confirm' }, `Confirm and pay ${taka(fareOf(ids))}`);
    const release = h('button', { type: 'button', class: 'secondary' }, 'Release seats');
    const key = newKey();
    release.addEventListener('click', async () => {
      msg.clear();
      try {
        await busy(release, () => api('DELETE', `/api/bookings/holds/${hold.hold_id}`, { auth: true }));
      } catch (e) {
        if (e.status !== 404) {
          msg.error(e, { button: release });
          return;
        }
      }
      for (const id of ids) if (status.get(id) === 'held') status.set(id, 'available');
      dropHold('Your seats were released.');
    });
    holdForm = h(
      'form',
      {
        class: 'stack',
        'aria-label': 'Passengers and payment',
        onsubmit: async (e) => {
          e.preventDefault();
          msg.clear();
          try {
            const booking = await busy(confirm, () =>
              api('POST', '/api/bookings/seats/confirm', {
                auth: true,
                idempotent: key,
                body: {
                  hold_id: hold.hold_id,
                  passengers: names.map((n) => ({ name: n.control.value.trim() })),
                  payment_token: token.control.value.trim(),
                },
              }),
            );
            saveHold(tripId, null);
            hold = null;
            ctx.navigate(`/booking/${booking.booking_id}`);
          } catch (err) {
            if (left) return;
            if (err.code === 'hold_expired' || (err.status === 404 && err.code === 'not_found')) {
              dropHold('Your hold expired and the seats were released. Choose seats again.', true);
            } else if (err.status === 400 && err.details?.field === 'passengers') {
              msg.error(err, { text: 'Enter a name for every passenger (1 to 100 characters).' });
            } else {
              msg.error(err, { button: confirm });
            }
          }
        },
      },
      names.map((n) => n.wrapper),
      token.wrapper,
      h('div', { class: 'actions' }, confirm, release),
    );
    mount(
      panel,
      h('h2', { id: 'panel-title' }, 'Your seats are held'),
      h('p', { class: 'summary', 'data-testid': 'held-seats' }, `${plural(ids.length, 'seat')}: ${labels(ids)} · ${taka(fareOf(ids))}`),
      timerEl,
      holdForm,
    );
    tick();
    if (timer) window.clearInterval(timer);
    timer = window.setInterval(tick, 1000);
  }

  let warned = new Set();
  function tick() {
    if (!hold) return;
    const secs = Math.ceil((new Date(hold.expires_at) - Date.now()) / 1000);
    if (countdown) countdown.textContent = minutesSeconds(secs);
    panel.classList.toggle('urgent', secs <= 60);
    for (const mark of [60, 10]) {
      if (secs <= mark && !warned.has(mark)) {
        warned.add(mark);
        if (secs > 0) announce(`${plural(secs, 'second')} left to confirm your seats.`);
      }
    }
    if (secs <= 0) dropHold('Your hold expired and the seats were released. Choose seats again.', true);
  }

  function dropHold(text, isError = false) {
    if (timer) window.clearInterval(timer);
    timer = null;
    hold = null;
    warned = new Set();
    saveHold(tripId, null);
    holdForm = null;
    paintAll();
    if (isError) msg.error(null, { text });
    else msg.notice(text);
    announce(text);
  }

  // ---- Live statuses --------------------------------------------------------------------
  const live = h('p', { class: 'live', 'data-live': 'off', role: 'status' }, 'Connecting to live updates…');

  async function loadStatuses() {
    const body = await api('GET', `/api/bookings/trips/${tripId}/seats`);
    if (left) return;
    for (const s of body.seats) setStatus(s.seat_id, s.status, false);
    paintAll();
  }

  function setStatus(id, value, paint = true) {
    if (!seats.has(id)) return;
    status.set(id, value);
    if (value !== 'available' && selected.has(id) && !mine(id) && !pending.has(id)) {
      selected.delete(id);
      const text = `Seat ${seats.get(id).label} was just taken by another passenger and was removed from your selection.`;
      msg.notice(text);
      announce(text);
      if (paint) paintPanel();
    }
    if (paint) {
      paintSeat(id);
      paintCoaches();
    }
  }

  function connect() {
    stream = new EventSource(`/api/bookings/trips/${tripId}/events`);
    stream.addEventListener('open', () => {
      live.dataset.live = 'on';
      live.textContent = 'Live: seats update as others book.';
      // Whatever changed while (re)connecting is read from the seat map.
      loadStatuses().catch((e) => msg.error(e));
    });
    stream.addEventListener('seat', (e) => {
      try {
        const change = JSON.parse(e.data);
        setStatus(change.seat_id, change.status);
      } catch {
        // A malformed event is ignored; the next resync corrects the map.
      }
    });
    stream.addEventListener('resync', () => loadStatuses().catch(() => {}));
    stream.addEventListener('error', () => {
      live.dataset.live = 'off';
      live.textContent = 'Live updates paused; reconnecting…';
      if (stream.readyState === EventSource.CLOSED && !left) {
        retry = window.setTimeout(connect, 5000);
      }
    });
  }

  // ---- Page -------------------------------------------------------------------------------
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Seat colours' },
    ['available', 'selected', 'mine', 'held', 'booked'].map((s) =>
      h('li', {}, h('span', { class: `swatch seat-${s}`, 'aria-hidden': 'true' }), s === 'mine' ? 'held by you' : s === 'held' ? 'held by others' : s),
    ),
  );
  const classes = detail.classes.map((c) => `${className(c.class)} ${taka(c.fare)}`).join(' · ');
  mount(
    ctx.main,
    pageTitle(`${detail.train.name} (${detail.train.number})`, `${detail.from} → ${detail.to} · ${date(detail.departs_at)} · ${clock(detail.departs_at)}–${clock(detail.arrives_at)} (${duration(detail.departs_at, detail.arrives_at)})`),
    h('p', { class: 'muted' }, classes),
    msg.el,
    h(
      'div',
      { class: 'trip-layout' },
      h(
        'section',
        { class: 'card seatmap', 'aria-labelledby': 'seatmap-title' },
        h('div', { class: 'seatmap-head' }, h('h2', { id: 'seatmap-title' }, 'Choose your seats'), live),
        coachPicker,
        legend,
        h('p', { class: 'hint' }, 'Use Tab to reach the seats and the arrow keys to move between them; Enter or Space selects.'),
        grids,
      ),
      panel,
    ),
  );
  paintAll();
  connect();
}
