// Shared page pieces: the error/notice box, screen-reader announcements, loading states.
import { h, mount } from './dom.js';
import { ApiError, describe } from './api.js';

/** Says `text` through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after clearing makes screen readers read it even when it repeats.
  window.setTimeout(() => {
    region.textContent = text;
  }, 50);
}

// Buttons counting down a 429's wait → the text each gets back when its wait is over.
const waiting = new WeakMap();

/** Whether `button` is disabled until the wait named by a 429 is over. */
export const coolingDown = (button) => waiting.has(button);

/**
 * Sets the text of `button`; while it counts down a wait, the text it gets back afterwards.
 * Its owner can repaint on the `waitover` event the button receives when the wait ends.
 */
export function setLabel(button, text) {
  if (waiting.has(button)) waiting.set(button, text);
  else button.textContent = text;
}

/**
 * A message box: errors are role="alert" (read at once), notices role="status". For a 429
 * it names the seconds to wait and, given the button that failed, keeps it disabled with a
 * countdown until the wait is over.
 */
export function messageBox() {
  const alert = h('div', { class: 'message message-error', role: 'alert', 'data-testid': 'error' });
  const notice = h('div', { class: 'message message-notice', role: 'status', 'data-testid': 'notice' });
  const el = h('div', { class: 'messages' }, alert, notice);
  let timer = null;
  let cooling = null; // the button of this box that counts down, if any

  function endWait() {
    if (timer) window.clearInterval(timer);
    timer = null;
    if (!cooling) return;
    const button = cooling;
    cooling = null;
    button.textContent = waiting.get(button);
    waiting.delete(button);
    button.disabled = false;
    button.dispatchEvent(new Event('waitover'));
  }

  function holdButton(button, seconds) {
    if (!button) return;
    if (cooling !== button) endWait();
    if (!waiting.has(button)) waiting.set(button, button.textContent);
    cooling = button;
    let left = seconds;
    button.disabled = true;
    button.textContent = `Try again in ${left} s`;
    if (timer) window.clearInterval(timer);
    timer = window.setInterval(() => {
      left -= 1;
      if (left <= 0 || !button.isConnected) endWait();
      else button.textContent = `Try again in ${left} s`;
    }, 1000);
  }

  return {
    el,
    error(err, { button, text } = {}) {
      mount(notice);
      mount(alert, h('p', {}, text || describe(err)));
      alert.dataset.status = err instanceof ApiError ? String(err.status) : '';
      if (err instanceof ApiError && err.status === 429) holdButton(button, err.retryAfter || 1);
    },
    notice(text) {
      mount(alert);
      mount(notice, h('p', {}, text));
    },
    clear() {
      mount(alert);
      mount(notice);
      delete alert.dataset.status;
    },
  };
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

/** Runs `work` with `button` disabled and marked busy. */
export async function busy(button, work) {
  if (!button) return work();
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.removeAttribute('aria-busy');
    if (!coolingDown(button)) button.disabled = false;
  }
}

/** The page heading, focused after navigation so screen readers start there. */
export function pageTitle(text, sub) {
  document.title = `${text} · RailRush`;
  return h(
    'div',
    { class: 'page-title' },
    h('h1', { tabindex: '-1', id: 'page-heading' }, text),
    sub ? h('p', { class: 'lead' }, sub) : null,
  );
}
