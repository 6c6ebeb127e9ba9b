// Search: station pickers and a date; results with availability and fare per class.
import { h, field, options, mount } from '../dom.js';
import { api } from '../api.js';
import { messageBox, pageTitle, loading, busy } from '../ui.js';
import { className, clock, date, dhakaDate, duration, notOnSale, taka, plural } from '../format.js';

let stationsCache = null;

async function stations() {
  if (!stationsCache) {
    const body = await api('GET', '/api/trains/stations');
    stationsCache = body.stations;
  }
  return stationsCache;
}

function tripCard(trip) {
  const headingId = `trip-${trip.trip_id}-title`;
  const total = trip.classes.reduce((n, c) => n + c.seats_available, 0);
  const opening = notOnSale(trip);
  return h(
    'li',
    { class: 'card trip-card', 'data-trip-id': trip.trip_id },
    h(
      'article',
      { 'aria-labelledby': headingId },
      h(
        'div',
        { class: 'trip-head' },
        h('h3', { id: headingId }, `${trip.train.name} `, h('span', { class: 'muted' }, `(${trip.train.number})`)),
        h('p', { class: 'seats-left' }, plural(total, 'seat'), ' available'),
      ),
      h(
        'p',
        { class: 'trip-times' },
        h('time', { datetime: trip.departs_at }, h('strong', {}, clock(trip.departs_at)), ` ${trip.from}`),
        h('span', { class: 'arrow', 'aria-hidden': 'true' }, ' → '),
        h('span', { class: 'visually-hidden' }, ' to '),
        h('time', { datetime: trip.arrives_at }, h('strong', {}, clock(trip.arrives_at)), ` ${trip.to}`),
        h('span', { class: 'muted' }, ` · ${duration(trip.departs_at, trip.arrives_at)}`),
      ),
      h(
        'table',
        { class: 'classes' },
        h('caption', { class: 'visually-hidden' }, `Fares and free seats on ${trip.train.name}`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Class'), h('th', { scope: 'col' }, 'Fare'), h('th', { scope: 'col' }, 'Available'))),
        h(
          'tbody',
          {},
          trip.classes.map((c) =>
            h(
              'tr',
              { class: c.seats_available === 0 ? 'sold-out' : null },
              h('th', { scope: 'row' }, className(c.class)),
              h('td', {}, taka(c.fare)),
              h('td', {}, c.seats_available === 0 ? 'Sold out' : `${c.seats_available} of ${c.seats_total}`),
            ),
          ),
        ),
      ),
      opening
        ? [
            h('p', { class: 'on-sale-from' }, opening),
            // The trip page counts down to the opening and holds the sale's waiting room.
            h(
              'a',
              {
                class: 'button secondary',
                href: `#/trip/${trip.trip_id}`,
                'aria-label': `Countdown and waiting room for ${trip.train.name} at ${clock(trip.departs_at)}`,
              },
              'Countdown and waiting room',
            ),
          ]
        : h(
            'a',
            {
              class: 'button primary',
              href: `#/trip/${trip.trip_id}`,
              'aria-label': `Choose seats on ${trip.train.name} at ${clock(trip.departs_at)}`,
            },
            'Choose seats',
          ),
    ),
  );
}

export async function searchView(ctx) {
  const { main, query, navigate } = ctx;
  const msg = messageBox();
  const list = await stations().catch((e) => {
    msg.error(e);
    return [];
  });
  if (ctx.stale()) return;
  const choices = list.map((s) => ({ value: s.code, label: `${s.name} (${s.code})` }));
  const from = query.get('from') || (list.find((s) => s.code === 'DHK') || list[0] || {}).code || '';
  const to = query.get('to') || (list.find((s) => s.code === 'CTG' && s.code !== from) || list[1] || {}).code || '';
  const today = dhakaDate(0);
  const when = query.get('date') || dhakaDate(1);

  const fromField = field({ label: 'From', name: 'from', required: true }, 'select');
  mount(fromField.control, options(choices, from));
  const toField = field({ label: 'To', name: 'to', required: true }, 'select');
  mount(toField.control, options(choices, to));
  const dateField = field({ label: 'Date of journey', name: 'date', type: 'date', required: true, min: today, value: when });
  const swap = h(
    'button',
    {
      type: 'button',
      class: 'swap',
      'aria-label': 'Swap from and to',
      onclick: () => {
        const a = fromField.control.value;
        fromField.control.value = toField.control.value;
        toField.control.value = a;
      },
    },
    '⇄',
  );
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Search trains');
  const form = h(
    'form',
    {
      class: 'search-form card',
      role: 'search',
      'aria-label': 'Find trains',
      onsubmit: (e) => {
        e.preventDefault();
        toField.setError(null);
        if (fromField.control.value === toField.control.value) {
          toField.setError('Choose a destination different from the departure station.');
          toField.control.focus();
          return;
        }
        const q = new URLSearchParams({ from: fromField.control.value, to: toField.control.value, date: dateField.control.value });
        navigate(`/search?${q}`);
      },
    },
    h('div', { class: 'search-fields' }, fromField.wrapper, swap, toField.wrapper, dateField.wrapper),
    submit,
  );
  const results = h('section', { 'aria-labelledby': 'results-title', class: 'results' });
  mount(
    main,
    pageTitle('Find a train', 'Pick your stations and date; seats update live as others book.'),
    form,
    msg.el,
    results,
  );

  if (!query.get('from') || !query.get('to') || !query.get('date')) return;
  const fromName = (list.find((s) => s.code === from) || { name: from }).name;
  const toName = (list.find((s) => s.code === to) || { name: to }).name;
  mount(results, loading('Searching trains…'));
  try {
    const body = await busy(submit, () => api('GET', `/api/trains/search?${new URLSearchParams({ from, to, date: when })}`));
    if (ctx.stale()) return;
    const trips = body.trips;
    mount(
      results,
      h('h2', { id: 'results-title' }, `${fromName} to ${toName}, ${date(`${when}T12:00:00+06:00`)}`),
      h('p', { role: 'status', class: 'muted' }, trips.length ? `${plural(trips.length, 'train')} found.` : 'No trains run on this route that day. Try another date.'),
      trips.length ? h('ol', { class: 'trip-list' }, trips.map(tripCard)) : null,
    );
  } catch (e) {
    if (ctx.stale()) return;
    mount(results, h('h2', { id: 'results-title', class: 'visually-hidden' }, 'Results'));
    msg.error(e, { button: submit });
  }
}
