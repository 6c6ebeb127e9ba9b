// A trip's seat map page: wires the SeatMap model (seatmap/model.js) to the grid of seats
// (seatmap/grid.js), the hold panel (seatmap/panel.js) and the live feed (seatmap/live.js),
// and makes the calls: select (hold), release, confirm (which starts the payment saga,
// followed on the booking page) and the seat map read after every (re)connection. Every
// rule it shows comes from the API: the hold's length from its `expires_at`, the seat limit
// from a `seat_limit_reached` answer.
import { h, mount } from '../dom.js';
import { api, signedIn } from '../api.js';
import { announce, busy, messageBox, pageTitle, loading } from '../ui.js';
import { className, clock, date, duration, inWords, notOnSale, plural, taka } from '../format.js';
import { STATUS_TEXT, SeatMap, limitFrom } from '../seatmap/model.js';
import { saveHold, savedHold, secondsLeft } from '../seatmap/hold.js';
import { liveFeed } from '../seatmap/live.js';
import { seatGrid } from '../seatmap/grid.js';
import { holdPanel } from '../seatmap/panel.js';
import { CONFIRM_GRACE_MS, dropPass, keptPass, needsPass, saleIdOf } from '../waiting/room.js';
import { saleCountdown, saleStatus, waitingRoom } from './waiting.js';

const EXPIRED = 'Your hold expired and the seats were released. Choose seats again.';
const PASS_REFUSED = 'Your turn from the waiting room has ended or is not valid here. Join the waiting room again to choose seats.';
// Why the next trip page opens on the waiting room (a pass refused by select or confirm).
let refusedPass = null;

const LIVE_TEXT = {
  on: 'Live: seats update as others book.',
  off: 'Live updates paused; reconnecting…',
};

export async function tripView(ctx) {
  const tripId = Number(ctx.params[0]);
  const msg = messageBox();
  mount(ctx.main, loading('Loading the seat map…'));
  const detail = await api('GET', `/api/trains/trips/${tripId}`);
  if (ctx.stale()) return;
  // The trip's sale: while its waiting room is active, the seat map needs this tab's pass.
  const saleId = saleIdOf(detail.sales_open_at);
  const sale = await saleStatus(saleId);
  if (ctx.stale()) return;
  const title = () => pageTitle(`${detail.train.name} (${detail.train.number})`, `${detail.from} → ${detail.to} · ${date(detail.departs_at)} · ${clock(detail.departs_at)}–${clock(detail.arrives_at)}`);
  // A hold taken with the pass can be confirmed a while after the pass ran out.
  const passFor = (graceMs) => keptPass(saleId, { graceMs });
  if (sale && sale.waiting_room && !passFor(savedHold(tripId) ? CONFIRM_GRACE_MS : 0)) {
    const reason = refusedPass;
    refusedPass = null;
    await waitingRoom(ctx, { title: title(), saleId, status: sale, reason });
    return;
  }
  const opening = notOnSale(detail);
  if (opening) {
    saleCountdown(ctx, { title: title(), saleId, status: sale, opening });
    return;
  }
  /** `X-Queue-Pass` when this tab holds a pass for the trip's sale (confirm: with the grace). */
  const passHeader = (graceMs = 0) => {
    const pass = passFor(graceMs);
    return pass ? { 'X-Queue-Pass': pass } : {};
  };
  /** A refused pass: forget it and go through the waiting room again. */
  const backToQueue = () => {
    dropPass(saleId);
    refusedPass = PASS_REFUSED;
    ctx.navigate(ctx.current);
  };

  const model = new SeatMap(detail, { hold: savedHold(tripId) });
  const grid = seatGrid(model, { onToggle: toggle });
  const panel = holdPanel(model, { signedIn, onHold: takeHold, onConfirm: confirm, onRelease: release, onExpire: () => endHold(EXPIRED, { isError: true }) });
  const live = h('p', { class: 'live', 'data-live': 'off', role: 'status' }, 'Connecting to live updates…');
  let feed = null;
  let left = false;
  ctx.onLeave(() => {
    left = true;
    panel.stop();
    feed?.close();
  });

  const toLogin = () => ctx.navigate(`/login?next=${encodeURIComponent(ctx.current)}`);

  function paintAll() {
    grid.paint();
    panel.paint();
  }

  /** Tells the user about seats that someone else took out of their selection. */
  function tellTaken(ids) {
    for (const id of ids) {
      const text = `Seat ${model.seat(id).label} was just taken by another passenger and was removed from your selection.`;
      msg.notice(text);
      announce(text);
    }
  }

  function toggle(id) {
    const seat = model.seat(id);
    msg.clear();
    const outcome = model.toggle(id);
    const count = plural(model.selected.size, 'seat');
    if (outcome === 'holding') msg.notice('Your seats are held. Confirm them, or release them to choose different seats.');
    else if (outcome === 'unavailable') msg.notice(`Seat ${seat.label} is ${STATUS_TEXT[model.shown(id)]}. Choose an available seat.`);
    else if (outcome === 'limit') msg.notice(`You can choose at most ${model.maxSeats} seats per booking.`);
    else if (outcome === 'removed') announce(`Seat ${seat.label} removed. ${count} selected.`);
    else if (outcome === 'added') announce(`Seat ${seat.label} selected. ${count} selected.`);
    if (outcome !== 'added' && outcome !== 'removed') return;
    grid.paintSeat(id);
    panel.paint();
  }

  // ---- Live statuses --------------------------------------------------------------------
  async function resync() {
    const token = model.beginResync();
    try {
      const body = await api('GET', `/api/bookings/trips/${tripId}/seats`);
      if (left) return;
      tellTaken(model.applySnapshot(token, body.seats));
      paintAll();
    } catch (e) {
      model.abortResync(token);
      if (!left) msg.error(e);
    }
  }

  function onSeat(change) {
    const dropped = model.applyChange(change.seat_id, change.status);
    grid.paintSeat(change.seat_id);
    if (dropped) {
      tellTaken([change.seat_id]);
      panel.paint();
    }
  }

  function onState(state) {
    live.dataset.live = state;
    live.textContent = LIVE_TEXT[state];
  }

  // ---- Hold, release, confirm -----------------------------------------------------------
  async function takeHold(button) {
    const ids = model.selectedIds();
    if (ids.length === 0) return;
    if (!signedIn()) return toLogin();
    msg.clear();
    model.holding(ids);
    try {
      const hold = await busy(button, () =>
        api('POST', '/api/bookings/seats/select', { auth: true, idempotent: true, headers: passHeader(), body: { trip_id: tripId, seat_ids: ids } }),
      ).finally(() => model.holdSettled());
      if (left) return;
      model.setHold(hold);
      saveHold(tripId, hold);
      announce(`${plural(hold.seat_ids.length, 'seat')} held for you for ${inWords(secondsLeft(hold))}.`);
      paintAll();
      panel.focusForm();
    } catch (e) {
      if (left) return;
      if (e.status === 401) return toLogin();
      if (needsPass(e)) return backToQueue();
      if (e.code === 'seat_unavailable') {
        const taken = model.markTaken(e.details.seat_ids || []);
        const which = taken.length ? model.labels(taken) : 'One of your seats';
        msg.error(e, {
          text: `${taken.length > 1 ? `Seats ${which} were` : `Seat ${which} was`} just taken by another passenger. Choose another seat and try again.`,
        });
        paintAll();
      } else if (e.code === 'seat_limit_reached') {
        model.setMaxSeats(limitFrom(e));
        msg.error(e, { text: `You can hold or own at most ${model.maxSeats} seats on this train. Release a hold or cancel a booking first.` });
        panel.paint();
      } else {
        msg.error(e, { button });
      }
    }
  }

  async function release(button) {
    msg.clear();
    try {
      await busy(button, () => api('DELETE', `/api/bookings/holds/${model.hold.hold_id}`, { auth: true }));
    } catch (e) {
      if (e.status !== 404) {
        msg.error(e, { button });
        return;
      }
    }
    if (!left) endHold('Your seats were released.', { released: true });
  }

  async function confirm({ key, body, button }) {
    msg.clear();
    try {
      const booking = await busy(button, () => api('POST', '/api/bookings/seats/confirm', { auth: true, idempotent: key, headers: passHeader(CONFIRM_GRACE_MS), body }));
      saveHold(tripId, null);
      model.dropHold();
      ctx.navigate(`/booking/${booking.booking_id}`);
    } catch (err) {
      if (left) return;
      if (needsPass(err)) return backToQueue();
      if (err.code === 'hold_expired' || (err.status === 404 && err.code === 'not_found')) {
        endHold(EXPIRED, { isError: true });
      } else if (err.status === 400 && err.details?.field === 'passengers') {
        msg.error(err, { text: 'Enter a name for every passenger (1 to 100 characters).' });
      } else {
        model.setMaxSeats(limitFrom(err));
        msg.error(err, { button });
      }
    }
  }

  /** The hold is over (released, lapsed or refused): back to choosing seats. */
  function endHold(text, { released = false, isError = false } = {}) {
    model.dropHold({ released });
    saveHold(tripId, null);
    paintAll();
    if (isError) msg.error(null, { text });
    else msg.notice(text);
    announce(text);
  }

  // ---- Page -------------------------------------------------------------------------------
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
        grid.coachPicker,
        grid.legend,
        h('p', { class: 'hint' }, 'Use Tab to reach the seats and the arrow keys to move between them; Enter or Space selects.'),
        grid.grids,
      ),
      panel.el,
    ),
  );
  paintAll();
  feed = liveFeed(`/api/bookings/trips/${tripId}/events`, { onSeat, onResync: resync, onState });
}
