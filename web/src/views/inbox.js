// The user's notifications (one-time codes, tickets, expiry, cancellation, failed payments).
import { h, mount } from '../dom.js';
import { api } from '../api.js';
import { pageTitle, loading } from '../ui.js';
import { when } from '../format.js';

const KINDS = {
  otp: 'Login code',
  ticket: 'Ticket',
  booking_expired: 'Booking expired',
  booking_cancelled: 'Booking cancelled',
  payment_failed: 'Payment failed',
};

export async function inboxView(ctx) {
  mount(ctx.main, loading('Loading your inbox…'));
  const { notifications } = await api('GET', '/api/notifications', { auth: true });
  if (ctx.stale()) return;
  mount(
    ctx.main,
    pageTitle('Inbox', 'Messages we sent you by SMS and email.'),
    notifications.length
      ? h(
          'ul',
          { class: 'inbox' },
          notifications.map((n) =>
            h(
              'li',
              { class: 'card message-card', 'data-kind': n.kind },
              h(
                'article',
                { 'aria-labelledby': `n-${n.id}` },
                h(
                  'div',
                  { class: 'trip-head' },
                  h('h2', { id: `n-${n.id}` }, n.subject || KINDS[n.kind] || n.kind),
                  h('span', { class: `badge badge-${n.kind}` }, KINDS[n.kind] || n.kind),
                ),
                h('p', { class: 'muted' }, `${n.channel} to ${n.to} · `, h('time', { datetime: n.created_at }, when(n.created_at))),
                h('p', { class: 'message-body' }, n.body),
              ),
            ),
          ),
        )
      : h('p', {}, 'No messages yet.'),
  );
}
