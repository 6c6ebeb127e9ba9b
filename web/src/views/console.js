// The railway's operator console (/#/console, role admin): sales (live), find a booking,
// parked messages; one panel at a time, chosen by `?tab=` so each is a link of its own.
import { h, mount } from '../dom.js';
import { hasRole, whoAmI } from '../api.js';
import { loading, pageTitle } from '../ui.js';
import { salesPanel } from '../console/sales.js';
import { lookupPanel } from '../console/lookup.js';
import { parkedPanel } from '../console/parked.js';

const TABS = [
  { key: 'sales', text: 'Sales', panel: salesPanel },
  { key: 'find', text: 'Find a booking', panel: lookupPanel },
  { key: 'parked', text: 'Parked messages', panel: parkedPanel },
];

export async function consoleView(ctx) {
  mount(ctx.main, loading('Loading the console…'));
  const me = await whoAmI();
  if (ctx.stale()) return;
  if (!hasRole(me, 'admin')) {
    mount(
      ctx.main,
      pageTitle('Operator console'),
      h('p', { role: 'alert', class: 'message message-error' }, 'The console is for the railway’s administrators only.'),
      h('p', {}, h('a', { href: '#/search' }, 'Search for trains')),
    );
    return;
  }
  const tab = TABS.find((t) => t.key === ctx.query.get('tab')) || TABS[0];
  const root = h('div', { class: 'console-panel', 'data-testid': `console-${tab.key}` });
  mount(
    ctx.main,
    pageTitle('Operator console', `Signed in as ${me.name}. Times are Bangladesh time.`),
    h(
      'nav',
      { class: 'console-tabs', 'aria-label': 'Console' },
      h(
        'ul',
        {},
        TABS.map((t) =>
          h('li', {}, h('a', { href: `#/console?tab=${t.key}`, 'aria-current': t === tab ? 'page' : null }, t.text)),
        ),
      ),
    ),
    root,
  );
  document.title = `${tab.text} · Operator console · RailRush`;
  await tab.panel(ctx, root);
}
