// A tiny DOM builder: h('button', { class: 'primary', onclick: f, 'aria-pressed': 'true' }, 'Text').
// Strings become text nodes (never parsed as HTML), null/false/undefined are skipped, arrays
// are flattened. No innerHTML anywhere, so nothing from the API can inject markup.

const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'readOnly']);

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (PROPERTIES.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function id(prefix = 'rr') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: <div class="field"><label/><input/><p hint/><p error/></div>. */
export function field({ label, hint, ...inputProps }, tag = 'input') {
  const inputId = inputProps.id || id('f');
  const hintId = hint ? `${inputId}-hint` : null;
  const errorId = `${inputId}-error`;
  const control = h(tag, {
    ...inputProps,
    id: inputId,
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
  });
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const wrapper = h(
    'div',
    { class: 'field' },
    h('label', { for: inputId }, label),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    error,
  );
  return { wrapper, control, setError: (msg) => fieldError(control, error, msg) };
}

function fieldError(control, error, message) {
  if (message) {
    control.setAttribute('aria-invalid', 'true');
    error.textContent = message;
    error.hidden = false;
  } else {
    control.removeAttribute('aria-invalid');
    error.textContent = '';
    error.hidden = true;
  }
}

/** Native <select> options from [{value, label}]. */
export function options(list, selected) {
  return list.map((o) => h('option', { value: o.value, selected: o.value === selected }, o.label));
}
