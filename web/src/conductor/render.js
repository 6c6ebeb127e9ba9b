// The pieces of the conductor's page painted from data: the last scan's result and one
// boarding of the phone's list.
import { h } from '../dom.js';
import { clock, when } from '../format.js';
import { describeState, REFUSED } from './decide.js';

/** The card of the last scan: `{state, ticket, detail}` or null. */
export function resultCard(result) {
  if (!result) return h('p', { class: 'muted' }, 'Scan a ticket to check it.');
  const t = result.ticket;
  const refused = REFUSED.has(result.state);
  return h(
    'div',
    { class: ['scan-result', refused ? 'refused' : 'accepted'], 'data-state': result.state },
    h('p', { class: 'scan-verdict' }, describeState(result.state)),
    result.detail ? h('p', {}, result.detail) : null,
    t
      ? h(
          'dl',
          { class: 'scan-ticket' },
          h('dt', {}, 'Passengers'),
          h('dd', {}, (t.passengers || []).join(', ')),
          h('dt', {}, 'Seats'),
          h('dd', {}, (t.seats || []).map((s) => s.label).join(', ')),
          h('dt', {}, 'Ticket'),
          h('dd', {}, t.ticket_code || t.booking_id),
        )
      : null,
  );
}

/** " by <device> at <time>" of a boarding, or nothing. */
export function boardedBy(b) {
  if (!b?.boarded_at) return '';
  return ` by ${b.device || 'a device without a name'} at ${when(b.boarded_at)}`;
}

/** One boarding of the phone's list (queue.js's entry). */
export function scanItem(s) {
  const text = {
    queued: 'Waiting to sync',
    boarded: `Boarded at ${clock(s.boarded_at)}`,
    conflict: `Flagged: boarded before${boardedBy(s.other)}`,
    refused: `Flagged: the server refused it (${s.other?.state || 'error'})`,
  }[s.state];
  return h(
    'li',
    { class: ['scan', s.state === 'conflict' || s.state === 'refused' ? 'flagged' : null], 'data-booking-id': s.booking_id, 'data-state': s.state },
    h('strong', {}, s.seats.join(', ') || s.booking_id),
    ` ${s.passengers.join(', ')} `,
    h('span', { class: 'scan-state' }, text || s.state),
  );
}
