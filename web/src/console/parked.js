// The console's parked messages: for each consuming service (booking, payment,
// notification), its parked queues with the first 50 messages of each (type, reason, when,
// body); replay or drop the chosen messages or a whole queue (dropping asks first).
import { h, mount } from '../dom.js';
import { admin } from '../api.js';
import { announce, busy, messageBox } from '../ui.js';
import { SERVICES, parkedBody, parkedDone, parkedSummary, stamp } from './model.js';

function bodyText(body) {
  if (typeof body === 'string') return body;
  try {
    return JSON.stringify(body, null, 2);
  } catch {
    return String(body);
  }
}

function queueView(service, queue, reload, msg) {
  const chosen = new Set();
  const boxes = [];
  const rows = (queue.messages || []).map((m) => {
    // A message without an event id can only go with the whole queue.
    const box = h('input', {
      type: 'checkbox',
      'aria-label': m.message_id ? `Choose message ${m.message_id}` : 'A message without an id (replay or drop all)',
      value: m.message_id || '',
      disabled: !m.message_id,
    });
    box.addEventListener('change', () => {
      if (box.checked) chosen.add(m.message_id);
      else chosen.delete(m.message_id);
      paintButtons();
    });
    boxes.push(box);
    return h(
      'tr',
      { 'data-message-id': m.message_id },
      h('td', {}, box),
      h('td', {}, h('code', {}, m.type || '—')),
      h('td', {}, m.reason || '—'),
      h('td', {}, m.parked_at ? stamp(m.parked_at) : '—'),
      h(
        'td',
        {},
        h('details', {}, h('summary', {}, h('code', {}, m.message_id || 'no id'), m.times_parked > 1 ? ` · parked ${m.times_parked} times` : ''), h('pre', { class: 'console-body' }, bodyText(m.body))),
      ),
    );
  });
  const replay = h('button', { type: 'button', class: 'secondary', 'data-action': 'replay' }, 'Replay chosen');
  const drop = h('button', { type: 'button', class: 'secondary danger', 'data-action': 'drop' }, 'Drop chosen');
  const replayAll = h('button', { type: 'button', class: 'secondary', 'data-action': 'replay-all' }, `Replay all ${queue.count}`);
  const dropAll = h('button', { type: 'button', class: 'secondary danger', 'data-action': 'drop-all' }, `Drop all ${queue.count}`);
  const confirmRow = h('div', { class: 'actions', hidden: true });

  function paintButtons() {
    replay.disabled = chosen.size === 0;
    drop.disabled = chosen.size === 0;
    replayAll.disabled = queue.count === 0;
    dropAll.disabled = queue.count === 0;
  }

  async function act(action, all, button) {
    msg.clear();
    try {
      const answer = await busy(button, () => admin.parkedAction(service.key, queue.queue, action, parkedBody(chosen, all)));
      const n = action === 'replay' ? answer.replayed : answer.dropped;
      const text = parkedDone(action, n ?? 0, queue.queue);
      msg.notice(text);
      announce(text);
      await reload();
    } catch (err) {
      msg.error(err, { button });
    }
  }

  function askToDrop(all, button) {
    const n = all ? queue.count : chosen.size;
    const yes = h('button', { type: 'button', class: 'danger', 'data-action': 'drop-yes' }, `Yes, drop ${n}`);
    const no = h('button', { type: 'button', class: 'secondary' }, 'Keep them');
    no.addEventListener('click', () => {
      confirmRow.hidden = true;
      button.focus();
    });
    yes.addEventListener('click', () => {
      confirmRow.hidden = true;
      act('drop', all, yes);
    });
    mount(confirmRow, h('p', { class: 'confirm-question' }, `Drop ${n === 1 ? 'this message' : `these ${n} messages`} for good?`), yes, no);
    confirmRow.hidden = false;
    yes.focus();
  }

  replay.addEventListener('click', () => act('replay', false, replay));
  replayAll.addEventListener('click', () => act('replay', true, replayAll));
  drop.addEventListener('click', () => askToDrop(false, drop));
  dropAll.addEventListener('click', () => askToDrop(true, dropAll));
  paintButtons();

  return h(
    'section',
    { class: 'console-queue', 'data-queue': queue.queue, 'data-count': queue.count, 'aria-label': `Queue ${queue.queue}` },
    h('h4', {}, h('code', {}, queue.queue), ` · ${queue.count} parked`),
    rows.length
      ? h(
          'div',
          { class: 'console-scroll' },
          h(
            'table',
            { class: 'classes' },
            h('caption', { class: 'visually-hidden' }, `Parked messages of ${queue.queue}`),
            h('thead', {}, h('tr', {}, ['', 'Type', 'Reason', 'Parked', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows),
          ),
        )
      : h('p', { class: 'muted' }, 'Nothing parked.'),
    queue.count > rows.length ? h('p', { class: 'muted' }, `Showing the first ${rows.length} of ${queue.count}.`) : null,
    queue.count > 0 ? h('div', { class: 'actions' }, replay, drop, replayAll, dropAll) : null,
    confirmRow,
  );
}

function serviceView(service) {
  const msg = messageBox();
  const summary = h('p', { class: 'muted', 'data-testid': 'parked-summary' }, 'Loading…');
  const queues = h('div', { class: 'stack' });
  const el = h(
    'section',
    { class: 'card console-service', 'data-service': service.key, 'aria-labelledby': `parked-${service.key}` },
    h('h3', { id: `parked-${service.key}` }, service.name),
    summary,
    msg.el,
    queues,
  );
  async function load() {
    try {
      const body = await admin.parked(service.key);
      const list = body.queues || [];
      summary.textContent = parkedSummary(list);
      el.dataset.total = String(list.reduce((n, q) => n + (q.count || 0), 0));
      // Queues with messages in full; the empty ones in a line.
      const empty = list.filter((q) => !q.count);
      mount(
        queues,
        list.filter((q) => q.count > 0).map((q) => queueView(service, q, load, msg)),
        empty.length
          ? h('p', { class: 'muted', 'data-testid': 'empty-queues' }, 'Nothing parked in ', empty.map((q, i) => [i ? ', ' : '', h('code', {}, q.queue)]), '.')
          : null,
      );
    } catch (err) {
      summary.textContent = 'Could not read the parked messages.';
      msg.error(err);
    }
  }
  return { el, load };
}

/** The parked-messages panel in `root`. */
export function parkedPanel(_ctx, root) {
  const services = SERVICES.map(serviceView);
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');
  const loadAll = () => Promise.all(services.map((s) => s.load()));
  refresh.addEventListener('click', () => busy(refresh, loadAll));
  mount(
    root,
    h('h2', { id: 'parked-heading' }, 'Parked messages'),
    h(
      'p',
      { class: 'lead' },
      'Messages a consumer could not handle after its retries are parked, not lost. Replay sends them back to their queue; drop removes them.',
    ),
    h('div', { class: 'actions' }, refresh),
    h('div', { class: 'console-services' }, services.map((s) => s.el)),
  );
  return loadAll();
}
