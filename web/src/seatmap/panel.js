// The panel beside the seat map. Without a hold: the selection, its fare and "Hold N seats".
// With one: the held seats, the time left to confirm (counted down to the Hold's
// `expires_at`), and the passenger form. Painted from the SeatMap model; the view does the
// calls (onHold, and the form's onConfirm and onRelease) and ends the hold (onExpire).
import { h, mount } from '../dom.js';
import { announce, coolingDown, setLabel } from '../ui.js';
import { minutesSeconds, plural, taka } from '../format.js';
import { URGENT_AT, newWarnings, secondsLeft } from './hold.js';
import { passengerForm } from './confirm-form.js';

/** Returns { el, paint(), focusForm(), stop() }. */
export function holdPanel(model, { signedIn, onHold, onConfirm, onRelease, onExpire }) {
  const el = h('section', { class: 'card panel', 'aria-labelledby': 'panel-title' });
  // Selection mode; changes are announced by the view.
  const summary = h('p', { class: 'summary' });
  const loginHint = h('p', { class: 'hint' }, 'You will be asked to log in to hold seats.');
  const holdButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'hold', onclick: () => onHold(holdButton) }, 'Hold seats');
  holdButton.addEventListener('waitover', () => paint());
  // Hold mode.
  let form = null;
  let countdown = null;
  let timer = null;
  let warned = new Set();
  let shown = null; // the hold on show, or 'selection'

  function stopClock() {
    if (timer) window.clearInterval(timer);
    timer = null;
  }

  function tick() {
    if (!model.hold) return;
    const secs = secondsLeft(model.hold);
    countdown.textContent = minutesSeconds(secs);
    el.classList.toggle('urgent', secs <= URGENT_AT);
    if (newWarnings(secs, warned).length > 0 && secs > 0) announce(`${plural(secs, 'second')} left to confirm your seats.`);
    if (secs <= 0) {
      stopClock();
      onExpire();
    }
  }

  function showHold() {
    const ids = model.heldIds();
    countdown = h('strong', { 'data-testid': 'countdown' });
    form = passengerForm(model, { onConfirm, onRelease });
    mount(
      el,
      h('h2', { id: 'panel-title' }, 'Your seats are held'),
      h('p', { class: 'summary', 'data-testid': 'held-seats' }, `${plural(ids.length, 'seat')}: ${model.labels(ids)} · ${taka(model.fare(ids))}`),
      h('p', { class: 'countdown', role: 'timer', 'aria-live': 'off', id: 'hold-countdown' }, 'Time left to confirm: ', countdown),
      form.el,
    );
    warned = new Set();
    tick();
    if (model.hold) timer = window.setInterval(tick, 1000);
  }

  function showSelection() {
    form = null;
    el.classList.remove('urgent');
    mount(el, h('h2', { id: 'panel-title' }, 'Your selection'), summary, loginHint, holdButton);
  }

  function paintSelection() {
    const ids = model.selectedIds();
    summary.textContent = ids.length
      ? `${plural(ids.length, 'seat')}: ${model.labels(ids)} · ${taka(model.fare(ids))}`
      : `No seats selected. Choose up to ${model.maxSeats} available seats.`;
    loginHint.hidden = signedIn();
    setLabel(holdButton, ids.length ? `Hold ${plural(ids.length, 'seat')}` : 'Hold seats');
    holdButton.disabled = ids.length === 0 || model.pending.size > 0 || coolingDown(holdButton);
  }

  function paint() {
    const want = model.hold || 'selection';
    if (want !== shown) {
      stopClock();
      shown = want;
      if (model.hold) showHold();
      else showSelection();
    }
    if (!model.hold) paintSelection();
  }

  return {
    el,
    paint,
    focusForm: () => form?.focus(),
    stop: stopClock,
  };
}
