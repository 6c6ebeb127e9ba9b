// One booking followed live through the saga (confirmed → paid, or expired / payment failed
// and retried) ending in the e-ticket with its QR code; and the list of the user's bookings
// with cancel.
import { h, field, mount } from '../dom.js';
import { api } from '../api.js';
import { announce, busy, messageBox, pageTitle, loading } from '../ui.js';
import { bookingStatus, clock, date, plural, taka, when } from '../format.js';
import { qrSvg } from '../qr.js';

const FINAL = new Set(['paid', 'expired', 'cancelled']);
const trips = new Map();

/** TripDetail of `tripId`, once per page load (labels of seats, train, times). */
async function trip(tripId) {
  if (!trips.has(tripId)) {
    trips.set(tripId, api('GET', `/api/trains/trips/${tripId}`).catch((e) => {
      trips.delete(tripId);
      throw e;
    }));
  }
  return trips.get(tripId);
}

function seatLabels(detail, ids) {
  const byId = new Map();
  for (const c of detail?.coaches || []) for (const s of c.seats) byId.set(s.seat_id, s.label);
  return ids.map((id) => byId.get(id) || `#${id}`);
}

function statusBadge(status) {
  return h('span', { class: `badge badge-${status}`, 'data-testid': 'booking-status', 'data-status': status }, bookingStatus(status));
}

/** Two-step cancel: the first press asks, the second cancels. */
function cancelControl(booking, onDone, msg) {
  const wrap = h('div', { class: 'actions' });
  const ask = h('button', { type: 'button', class: 'secondary danger' }, 'Cancel booking');
  ask.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger' }, booking.status === 'paid' ? 'Yes, cancel and refund' : 'Yes, cancel');
    const no = h('button', { type: 'button', class: 'secondary' }, 'Keep booking');
    no.addEventListener('click', () => {
      mount(wrap, ask);
      ask.focus();
    });
    yes.addEventListener('click', async () => {
      msg.clear();
      try {
        const updated = await busy(yes, () => api('POST', `/api/bookings/${booking.booking_id}/cancel`, { auth: true }));
        announce(updated.status === 'cancelled' ? 'Booking cancelled.' : `Booking is ${bookingStatus(updated.status)}.`);
        onDone(updated);
      } catch (e) {
        msg.error(e, {
          button: yes,
          text: e.code === 'not_cancellable' ? 'This booking can no longer be cancelled.' : undefined,
        });
      }
    });
    mount(wrap, h('p', { class: 'confirm-question', id: `cancel-q-${booking.booking_id}` }, 'Cancel this booking?'), yes, no);
    yes.focus();
  });
  mount(wrap, ask);
  return wrap;
}

function ticket(booking, detail) {
  const labels = seatLabels(detail, booking.seat_ids);
  return h(
    'article',
    { class: 'ticket card', 'aria-labelledby': 'ticket-title', 'data-testid': 'ticket' },
    h('h2', { id: 'ticket-title' }, 'Your e-ticket'),
    h(
      'div',
      { class: 'ticket-body' },
      h(
        'figure',
        { class: 'ticket-qr' },
        qrSvg(booking.ticket_code, { label: `QR code of ticket ${booking.ticket_code}` }),
        h('figcaption', {}, 'Show this code at the gate'),
      ),
      h(
        'dl',
        { class: 'ticket-facts' },
        h('dt', {}, 'Ticket code'),
        h('dd', { class: 'ticket-code', 'data-testid': 'ticket-code' }, booking.ticket_code),
        detail ? [h('dt', {}, 'Train'), h('dd', {}, `${detail.train.name} (${detail.train.number})`)] : null,
        detail ? [h('dt', {}, 'Journey'), h('dd', {}, `${detail.from} ${clock(detail.departs_at)} → ${detail.to} ${clock(detail.arrives_at)}, ${date(detail.departs_at)}`)] : null,
        h('dt', {}, 'Passengers'),
        h('dd', {}, h('ul', { class: 'plain' }, booking.passengers.map((p, i) => h('li', {}, `${p.name} · seat ${labels[i] || ''}`)))),
        h('dt', {}, 'Paid'),
        h('dd', {}, taka(booking.amount)),
      ),
    ),
  );
}

const STEPS = [
  ['held', 'Seats held'],
  ['confirmed', 'Booking confirmed'],
  ['charging', 'Payment processing'],
  ['paid', 'Paid, ticket issued'],
];

function progress(booking, payment) {
  let current = 'confirmed';
  if (booking.status === 'paid') current = 'paid';
  else if (payment && payment.status === 'pending') current = 'charging';
  const index = STEPS.findIndex(([k]) => k === current);
  return h(
    'ol',
    { class: 'steps', 'aria-label': 'Booking progress' },
    STEPS.map(([, text], i) =>
      h('li', { class: i < index ? 'done' : i === index ? 'current' : 'todo', 'aria-current': i === index ? 'step' : null }, text),
    ),
  );
}

function retryForm(booking, msg, onRetry) {
  const token = field({ label: 'Card token', name: 'payment_token', required: true, value: 'tok_visa', hint: 'Test cards: tok_visa succeeds, tok_chargeDeclined is declined.' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Retry payment');
  return h(
    'form',
    {
      class: 'stack',
      'aria-label': 'Retry the payment',
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        try {
          await busy(submit, () => api('POST', `/api/payments/${booking.booking_id}/retry`, { auth: true, body: { payment_token: token.control.value.trim() } }));
          announce('Payment retried.');
          onRetry();
        } catch (err) {
          msg.error(err, { button: submit, text: err.code === 'not_retryable' ? 'This payment can no longer be retried.' : undefined });
        }
      },
    },
    token.wrapper,
    submit,
  );
}

export async function bookingView(ctx) {
  const id = ctx.params[0];
  const msg = messageBox();
  mount(ctx.main, loading('Loading your booking…'));
  let booking = await api('GET', `/api/bookings/${id}`, { auth: true });
  const detail = await trip(booking.trip_id).catch(() => null);
  if (ctx.stale()) return;
  const statusLine = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite', 'data-testid': 'status-line' });
  const body = h('div', {});
  let timer = null;
  let stopped = false;
  let lastSaid = '';
  ctx.onLeave(() => {
    stopped = true;
    if (timer) window.clearTimeout(timer);
  });

  function say(text) {
    if (text !== lastSaid) {
      statusLine.textContent = text;
      lastSaid = text;
    }
  }

  function render(payment) {
    const labels = seatLabels(detail, booking.seat_ids);
    const items = [
      h('p', {}, statusBadge(booking.status), ' ', `${plural(booking.seat_ids.length, 'seat')}: ${labels.join(', ')} · ${taka(booking.amount)}`),
    ];
    if (booking.status === 'paid' && booking.ticket_code) {
      say('Payment received. Your ticket is ready.');
      items.push(ticket(booking, detail));
    } else if (booking.status === 'confirmed') {
      items.push(progress(booking, payment));
      if (payment && payment.status === 'failed') {
        say(`The payment was declined. Retry with another card before ${clock(booking.payment_due_at)} or the seats are released.`);
        items.push(retryForm(booking, msg, () => poll(true)));
      } else {
        say(`Booking confirmed. Charging your card… (pay by ${clock(booking.payment_due_at)})`);
      }
    } else if (booking.status === 'expired') {
      say('This booking expired because no payment arrived in time. The seats were released.');
    } else if (booking.status === 'cancelled') {
      say(payment && payment.status === 'refunded' ? 'This booking is cancelled and the payment was refunded.' : 'This booking is cancelled.');
    }
    if (booking.status === 'confirmed' || booking.status === 'paid') {
      items.push(cancelControl(booking, (updated) => {
        booking = updated;
        poll(true);
      }, msg));
    }
    mount(body, items);
  }

  async function poll(force = false) {
    if (stopped) return;
    if (timer) window.clearTimeout(timer);
    let payment;
    try {
      if (force || !FINAL.has(booking.status)) booking = await api('GET', `/api/bookings/${id}`, { auth: true });
      payment = await api('GET', `/api/payments/${id}`, { auth: true }).catch((e) => (e.status === 404 ? null : Promise.reject(e)));
    } catch (e) {
      if (stopped) return;
      msg.error(e);
      timer = window.setTimeout(() => poll(), Math.max(2000, (e.retryAfter || 0) * 1000));
      return;
    }
    if (stopped) return;
    render(payment);
    const waiting = booking.status === 'confirmed' || (booking.status === 'cancelled' && payment && payment.status === 'succeeded');
    if (waiting) timer = window.setTimeout(() => poll(), 1000);
  }

  mount(
    ctx.main,
    pageTitle('Your booking', detail ? `${detail.train.name} · ${detail.from} → ${detail.to} · ${when(detail.departs_at)}` : undefined),
    statusLine,
    msg.el,
    body,
    h('p', {}, h('a', { href: '#/bookings' }, 'All my bookings')),
  );
  render(null);
  await poll();
}

export async function bookingsView(ctx) {
  const msg = messageBox();
  mount(ctx.main, loading('Loading your bookings…'));
  const { bookings } = await api('GET', '/api/bookings', { auth: true });
  const details = new Map();
  await Promise.all(
    [...new Set(bookings.map((b) => b.trip_id))].map(async (t) => details.set(t, await trip(t).catch(() => null))),
  );
  if (ctx.stale()) return;

  function row(booking) {
    const li = h('li', { class: 'card booking-card', 'data-booking-id': booking.booking_id });
    const paint = () => {
      const detail = details.get(booking.trip_id);
      const title = detail ? `${detail.train.name}: ${detail.from} → ${detail.to}` : `Trip ${booking.trip_id}`;
      mount(
        li,
        h(
          'article',
          { 'aria-label': `${title}, ${bookingStatus(booking.status)}` },
          h('div', { class: 'trip-head' }, h('h2', {}, title), statusBadge(booking.status)),
          detail ? h('p', {}, when(detail.departs_at)) : null,
          h('p', {}, `Seats ${seatLabels(detail, booking.seat_ids).join(', ')} · ${taka(booking.amount)}`),
          booking.ticket_code ? h('p', {}, 'Ticket ', h('code', {}, booking.ticket_code)) : null,
          h(
            'div',
            { class: 'actions' },
            h('a', { class: 'button secondary', href: `#/booking/${booking.booking_id}` }, booking.status === 'paid' ? 'View ticket' : 'View booking'),
            booking.status === 'confirmed' || booking.status === 'paid'
              ? cancelControl(booking, (updated) => {
                  booking = updated;
                  paint();
                }, msg)
              : null,
          ),
        ),
      );
    };
    paint();
    return li;
  }

  mount(
    ctx.main,
    pageTitle('My bookings'),
    msg.el,
    bookings.length
      ? h('ul', { class: 'booking-list' }, bookings.map(row))
      : h('p', {}, 'You have no bookings yet. ', h('a', { href: '#/search' }, 'Find a train')),
  );
}
