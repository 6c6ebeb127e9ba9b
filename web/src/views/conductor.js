// The conductor's page (#/conductor, conductors and admins): pick a trip (the ones downloaded
// on this phone, or find one by stations and date), then check its tickets
// (#/conductor?trip=ID, conductor/panel.js). The page keeps working offline once loaded: the
// downloaded trips are listed from this browser's storage.
import { h, field, mount, options } from '../dom.js';
import { api, isStaff, whoAmI } from '../api.js';
import { busy, loading, messageBox, pageTitle } from '../ui.js';
import { clock, date, dhakaDate, plural, when } from '../format.js';
import { conductorStore, localStore, memoryStorage } from '../conductor/store.js';
import { tripPanel } from '../conductor/panel.js';

const store = conductorStore(localStore() || memoryStorage());

function tripLink(tripId, text) {
  return h('a', { href: `#/conductor?trip=${tripId}`, 'data-trip-id': tripId }, text);
}

function downloadedList() {
  const trips = store.trips();
  if (trips.length === 0) return h('p', { class: 'muted' }, 'No trip is downloaded on this phone yet.');
  return h(
    'ul',
    { class: 'conductor-trips', 'data-testid': 'downloaded-trips' },
    trips.map((t) =>
      h(
        'li',
        {},
        tripLink(t.trip_id, `${t.trip?.train?.name || 'Trip'} ${t.trip?.from || ''} → ${t.trip?.to || ''}, ${t.trip ? `${date(t.trip.departs_at)} ${clock(t.trip.departs_at)}` : t.trip_id}`),
        h('span', { class: 'muted' }, ` (downloaded ${when(t.generated_at)})`),
      ),
    ),
  );
}

async function finder(ctx, results, msg) {
  const { query, navigate } = ctx;
  const stations = (await api('GET', '/api/trains/stations')).stations;
  const choices = stations.map((s) => ({ value: s.code, label: `${s.name} (${s.code})` }));
  const from = query.get('from') || stations[0]?.code || '';
  const to = query.get('to') || stations.find((s) => s.code !== from)?.code || '';
  const fromField = field({ label: 'From', name: 'from' }, 'select');
  mount(fromField.control, options(choices, from));
  const toField = field({ label: 'To', name: 'to' }, 'select');
  mount(toField.control, options(choices, to));
  const dateField = field({ label: 'Date', name: 'date', type: 'date', value: query.get('date') || dhakaDate(0) });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Find trips');
  const form = h(
    'form',
    {
      class: 'card search-form conductor-find',
      'aria-label': 'Find a trip',
      onsubmit: (e) => {
        e.preventDefault();
        const q = new URLSearchParams({ from: fromField.control.value, to: toField.control.value, date: dateField.control.value });
        navigate(`/conductor?${q}`);
      },
    },
    h('div', { class: 'search-fields' }, fromField.wrapper, toField.wrapper, dateField.wrapper),
    submit,
  );
  if (query.get('date')) {
    mount(results, loading('Finding trips…'));
    try {
      const q = new URLSearchParams({ from, to, date: query.get('date') });
      const body = await busy(submit, () => api('GET', `/api/trains/search?${q}`));
      if (ctx.stale()) return form;
      mount(
        results,
        h('p', { role: 'status', class: 'muted' }, `${plural(body.trips.length, 'trip')} found.`),
        h(
          'ul',
          { class: 'conductor-trips', 'data-testid': 'found-trips' },
          body.trips.map((t) =>
            h('li', {}, tripLink(t.trip_id, `${t.train.name} (${t.train.number}) ${clock(t.departs_at)} ${t.from} → ${t.to}`)),
          ),
        ),
      );
    } catch (e) {
      mount(results);
      msg.error(e, { button: submit });
    }
  }
  return form;
}

export async function conductorView(ctx) {
  const { main, query } = ctx;
  let user = null;
  try {
    user = await whoAmI();
  } catch (e) {
    // Offline: the roles cannot be read now; the server checks them on every call anyway.
    if (e.status !== 0) throw e;
  }
  if (ctx.stale()) return;
  if (user && !isStaff(user)) {
    mount(main, pageTitle('Conductor'), h('p', { role: 'alert' }, 'This page is for the railway’s conductors and admins.'));
    return;
  }
  store.prune();
  const tripId = Number(query.get('trip'));
  if (Number.isInteger(tripId) && tripId > 0) {
    const root = h('div', { class: 'conductor' });
    mount(main, pageTitle('Check tickets'), h('p', {}, h('a', { href: '#/conductor' }, '← All trips')), root);
    ctx.onLeave(tripPanel(root, { tripId, store }));
    return;
  }
  const msg = messageBox();
  const results = h('div', { class: 'results' });
  mount(main, pageTitle('Conductor', 'Choose the trip whose tickets you check.'), msg.el, loading());
  let form = null;
  try {
    form = await finder(ctx, results, msg);
  } catch (e) {
    msg.error(e);
  }
  if (ctx.stale()) return;
  mount(
    main,
    pageTitle('Conductor', 'Choose the trip whose tickets you check.'),
    msg.el,
    h('section', { 'aria-labelledby': 'downloaded-h' }, h('h2', { id: 'downloaded-h' }, 'Downloaded on this phone'), downloadedList()),
    h('section', { 'aria-labelledby': 'find-h' }, h('h2', { id: 'find-h' }, 'Find a trip'), form, results),
  );
}
