// The console's booking lookup: by booking id, ticket code, phone or email (the last two
// through auth-service's account lookup, then the bookings of each account), each booking
// with its history (its own steps and booking-service's outbox events), its payment and
// payment attempts, and the notifications sent about it.
import { h, field, mount } from '../dom.js';
import { admin, describe } from '../api.js';
import { busy, messageBox } from '../ui.js';
import { bookingStatus, plural, taka } from '../format.js';
import { historyText, lookupPlan, queryOf, stamp } from './model.js';

function facts(pairs) {
  return h(
    'dl',
    { class: 'ticket-facts' },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v, testid]) => [h('dt', {}, k), h('dd', { 'data-testid': testid || null }, v)]),
  );
}

function historyList(history) {
  if (!history?.length) return h('p', { class: 'muted' }, 'No history recorded.');
  return h(
    'ol',
    { class: 'console-history', 'data-testid': 'history' },
    history.map((e) =>
      h('li', { 'data-kind': e.kind }, h('time', { datetime: e.at }, stamp(e.at)), ' ', h('span', {}, historyText(e))),
    ),
  );
}

function attemptsTable(attempts) {
  if (!attempts.length) return h('p', { class: 'muted' }, 'No charge or refund attempted yet.');
  return h(
    'table',
    { class: 'classes', 'data-testid': 'attempts' },
    h('caption', { class: 'visually-hidden' }, 'Payment attempts'),
    h('thead', {}, h('tr', {}, ['Kind', 'Status', 'Amount', 'Reason', 'Started', 'Last change'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      attempts.map((a) =>
        h(
          'tr',
          { 'data-kind': a.kind, 'data-status': a.status },
          h('th', { scope: 'row' }, a.kind),
          h('td', {}, a.status),
          h('td', {}, a.currency === 'BDT' ? taka(a.amount) : `${a.amount} ${a.currency}`),
          h('td', {}, a.reason || '—'),
          h('td', {}, stamp(a.created_at)),
          h('td', {}, stamp(a.updated_at)),
        ),
      ),
    ),
  );
}

function notificationList(notifications) {
  if (!notifications.length) return h('p', { class: 'muted' }, 'No message sent about this booking.');
  return h(
    'ul',
    { class: 'plain console-notes', 'data-testid': 'notifications' },
    notifications.map((n) =>
      h(
        'li',
        { 'data-kind': n.kind },
        h('span', { class: `badge badge-${n.kind}` }, n.kind),
        ' ',
        `${n.channel} to ${n.to}: ${n.subject || ''} · `,
        h('time', { datetime: n.created_at }, stamp(n.created_at)),
      ),
    ),
  );
}

/** Payment, attempts and notifications of `booking`, into `box`. */
async function loadMore(booking, box) {
  mount(box, h('p', { class: 'loading', role: 'status' }, 'Loading payment and messages…'));
  const part = (p) => p.then((v) => ({ v }), (e) => ({ e }));
  const [payment, attempts, notes] = await Promise.all([
    part(admin.payment(booking.booking_id)),
    part(admin.attempts(booking.booking_id)),
    part(admin.notifications(booking.booking_id)),
  ]);
  const failed = (r, what) => h('p', { class: 'muted' }, r.e.status === 404 ? `No ${what}.` : `${what}: ${describe(r.e)}`);
  mount(
    box,
    h('h4', {}, 'Payment'),
    payment.e
      ? failed(payment, 'payment record')
      : h('p', { 'data-testid': 'payment-status', 'data-status': payment.v.status }, `${payment.v.status} · ${taka(payment.v.amount)}`),
    attempts.e ? failed(attempts, 'payment attempts') : attemptsTable(attempts.v.attempts || []),
    h('h4', {}, 'Notifications'),
    notes.e ? failed(notes, 'notifications') : notificationList(notes.v.notifications || []),
  );
}

function bookingCard(booking, user, { expand }) {
  const more = h('div', { class: 'console-more' });
  const button = h('button', { type: 'button', class: 'secondary' }, 'Payment and messages');
  button.addEventListener('click', () => busy(button, () => loadMore(booking, more)).then(() => button.remove()));
  const passengers = (booking.passengers || []).map((p) => p.name).join(', ');
  const el = h(
    'li',
    { class: 'card console-booking', 'data-booking-id': booking.booking_id, 'data-status': booking.status },
    h(
      'article',
      { 'aria-label': `Booking ${booking.booking_id}` },
      h(
        'div',
        { class: 'trip-head' },
        h('h3', {}, 'Booking ', h('code', {}, booking.booking_id.slice(0, 8))),
        h('span', { class: `badge badge-${booking.status}`, 'data-testid': 'booking-status' }, bookingStatus(booking.status)),
      ),
      facts([
        ['Booking id', h('code', {}, booking.booking_id)],
        ['Ticket code', booking.ticket_code ? h('code', {}, booking.ticket_code) : null, 'ticket-code'],
        ['Trip', String(booking.trip_id)],
        ['Seats', (booking.seat_ids || []).join(', ')],
        ['Passengers', passengers],
        ['Amount', taka(booking.amount)],
        ['Account', user ? `${user.name} · ${user.phone || user.email}` : h('code', {}, booking.user_id)],
        ['Created', stamp(booking.created_at)],
        ['Last change', booking.updated_at ? stamp(booking.updated_at) : null],
        ['Payment due', booking.status === 'confirmed' ? stamp(booking.payment_due_at) : null],
        ['Paid', booking.paid_at ? stamp(booking.paid_at) : null],
        ['Payment failed', booking.payment_failure || null],
        ['Refunded', booking.refunded_at ? stamp(booking.refunded_at) : null],
        ['Boarded', booking.boarded_at ? `${stamp(booking.boarded_at)}${booking.boarded_by_device ? ` (${booking.boarded_by_device})` : ''}` : 'Not boarded'],
      ]),
      h('h4', {}, 'History'),
      historyList(booking.history),
      expand ? null : button,
      more,
    ),
  );
  if (expand) loadMore(booking, more);
  return el;
}

/** Runs the plan's attempts in order until one finds bookings: [{booking, user}]. */
async function run(plan) {
  for (const attempt of plan.attempts) {
    if (attempt.bookings) {
      const { bookings } = await admin.bookings(queryOf(attempt.bookings));
      if (bookings.length) return { found: bookings.map((b) => ({ booking: b, user: null })), users: [] };
    } else {
      const { users } = await admin.users(queryOf(attempt.users));
      const found = [];
      for (const user of users) {
        const { bookings } = await admin.bookings(queryOf({ user_id: user.id }));
        for (const b of bookings) found.push({ booking: b, user });
      }
      if (found.length || users.length) return { found, users };
    }
  }
  return { found: [], users: [] };
}

/** The lookup panel in `root`; `initial` is searched at once (a link's `?q=`). */
export function lookupPanel(ctx, root) {
  const msg = messageBox();
  const q = field({
    label: 'Booking id, ticket code, phone or email',
    name: 'q',
    autocomplete: 'off',
    spellcheck: 'false',
    value: ctx.query.get('q') || '',
    hint: 'For example RR-7K2M-Q9XD-4TPA-H3WB, +8801712345678 or a booking’s UUID.',
  });
  const find = h('button', { type: 'submit', class: 'primary' }, 'Find');
  const results = h('ul', { class: 'booking-list', 'data-testid': 'lookup-results' });
  const form = h('form', { class: 'console-inline', role: 'search', novalidate: true }, q.wrapper, find);

  async function search() {
    const plan = lookupPlan(q.control.value);
    if (plan.error) {
      q.setError(plan.error);
      q.control.focus();
      return;
    }
    q.setError(null);
    msg.clear();
    mount(results);
    try {
      const { found, users } = await busy(find, () => run(plan));
      if (ctx.stale()) return;
      if (!found.length) {
        msg.notice(users.length ? `${plan.label}: ${plural(users.length, 'account')}, no booking.` : `Nothing found for ${plan.label}.`);
        return;
      }
      msg.notice(`${plural(found.length, 'booking')} for ${plan.label}${found.length === 50 ? ' (the newest 50)' : ''}.`);
      mount(results, found.map(({ booking, user }) => bookingCard(booking, user, { expand: found.length === 1 })));
    } catch (err) {
      msg.error(err, { button: find });
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    search();
  });
  mount(root, h('h2', { id: 'lookup-heading' }, 'Find a booking'), form, msg.el, results);
  if (q.control.value) search();
}
