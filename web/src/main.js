// RailRush single-page app: hash routes (/#/search, /#/trip/42, ...) so the gateway only
// serves index.html at /. Each view renders into <main> and registers what to stop when the
// user leaves it (live streams, timers).
import './styles.css';
import { h, mount } from './dom.js';
import { currentUser, hasRole, isStaff, logout, onSessionChange, signedIn, whoAmI } from './api.js';
import { searchView } from './views/search.js';
import { loginView, registerView } from './views/auth.js';
import { tripView } from './views/trip.js';
import { bookingView, bookingsView } from './views/bookings.js';
import { inboxView } from './views/inbox.js';
import { consoleView } from './views/console.js';
import { announce } from './ui.js';

const ROUTES = [
  { path: /^\/(?:search)?$/, view: searchView, nav: 'search' },
  { path: /^\/login$/, view: loginView, nav: 'login' },
  { path: /^\/register$/, view: registerView, nav: 'register' },
  { path: /^\/trip\/(\d+)$/, view: tripView, nav: 'search' },
  { path: /^\/booking\/([0-9a-fA-F-]{36})$/, view: bookingView, nav: 'bookings', auth: true },
  { path: /^\/bookings$/, view: bookingsView, nav: 'bookings', auth: true },
  { path: /^\/inbox$/, view: inboxView, nav: 'inbox', auth: true },
  // Loaded on first use (it carries the QR decoder); once loaded it works offline.
  { path: /^\/conductor$/, view: (ctx) => import('./views/conductor.js').then((m) => m.conductorView(ctx)), nav: 'conductor', auth: true },
  { path: /^\/console$/, view: consoleView, nav: 'console', auth: true },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let generation = 0;
let cleanups = [];
let active = 'search';

function parseHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(qs), raw };
}

export function navigate(to) {
  const target = to.startsWith('#') ? to : `#${to}`;
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

function navLink(key, href, text) {
  return h(
    'li',
    {},
    h('a', { href, 'aria-current': active === key ? 'page' : null }, text),
  );
}

function renderNav() {
  const user = currentUser();
  const items = [navLink('search', '#/search', 'Search')];
  if (signedIn()) {
    items.push(navLink('bookings', '#/bookings', 'My bookings'), navLink('inbox', '#/inbox', 'Inbox'));
    if (isStaff(user)) items.push(navLink('conductor', '#/conductor', 'Conductor'));
    // The operator console's link only for an admin (the roles of /api/auth/me).
    if (hasRole(user, 'admin')) items.push(navLink('console', '#/console', 'Console'));
    items.push(
      h(
        'li',
        { class: 'nav-user' },
        user ? h('span', { class: 'user-name', 'data-testid': 'user-name' }, user.name) : null,
        h(
          'button',
          {
            type: 'button',
            class: 'link-button',
            onclick: async () => {
              await logout();
              announce('You are logged out.');
              navigate('/search');
            },
          },
          'Log out',
        ),
      ),
    );
  } else {
    items.push(navLink('login', '#/login', 'Log in'), navLink('register', '#/register', 'Register'));
  }
  mount(nav, items);
}

async function render() {
  for (const f of cleanups) f();
  cleanups = [];
  generation += 1;
  const mine = generation;
  const { path, query, raw } = parseHash();
  const route = ROUTES.find((r) => r.path.test(path));
  active = route ? route.nav : '';
  renderNav();
  const ctx = {
    main,
    query,
    params: route ? path.match(route.path).slice(1) : [],
    navigate,
    current: raw,
    stale: () => mine !== generation,
    onLeave: (f) => cleanups.push(f),
  };
  mount(main);
  if (!route) {
    mount(
      main,
      h('h1', { tabindex: '-1', id: 'page-heading' }, 'Page not found'),
      h('p', {}, h('a', { href: '#/search' }, 'Search for trains')),
    );
  } else if (route.auth && !signedIn()) {
    navigate(`/login?next=${encodeURIComponent(raw)}`);
    return;
  } else {
    try {
      await route.view(ctx);
    } catch (e) {
      if (ctx.stale()) return;
      if (e && e.status === 401) {
        navigate(`/login?next=${encodeURIComponent(raw)}`);
        return;
      }
      mount(main, h('h1', { tabindex: '-1', id: 'page-heading' }, 'Something went wrong'), h('p', { role: 'alert' }, e.message || String(e)));
    }
  }
  if (ctx.stale()) return;
  const heading = document.getElementById('page-heading');
  if (heading && document.activeElement !== heading && !main.contains(document.activeElement)) {
    heading.focus({ preventScroll: false });
  }
}

document.getElementById('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', render);
onSessionChange(renderNav);
render();
// Show the user's name in the header when a session survives a reload.
whoAmI().catch(() => {});
