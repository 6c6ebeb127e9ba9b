// Register, and log in with a password or a one-time code sent by SMS.
import { h, field, mount } from '../dom.js';
import { loginWithOtp, loginWithPassword, register, requestOtp } from '../api.js';
import { announce, busy, messageBox, pageTitle } from '../ui.js';

/** Where to go after logging in: the `next` route if it is one of ours. */
function nextRoute(query) {
  const next = query.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/search';
}

function passwordForm(ctx, msg, prefill) {
  const login = field({ label: 'Email or phone', name: 'login', autocomplete: 'username', required: true, value: prefill || '' });
  const password = field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  return h(
    'form',
    {
      class: 'stack',
      'aria-label': 'Log in with password',
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        try {
          const user = await busy(submit, () => loginWithPassword(login.control.value.trim(), password.control.value));
          announce(`Welcome, ${user.name}.`);
          ctx.navigate(nextRoute(ctx.query));
        } catch (err) {
          msg.error(err, {
            button: submit,
            text: err.status === 401 ? 'That email/phone and password do not match an account.' : undefined,
          });
          password.control.focus();
        }
      },
    },
    login.wrapper,
    password.wrapper,
    submit,
  );
}

function otpForm(ctx, msg) {
  const phone = field({
    label: 'Phone number',
    name: 'phone',
    type: 'tel',
    autocomplete: 'tel',
    required: true,
    placeholder: '+8801712345678',
    hint: 'In international format, e.g. +8801712345678.',
  });
  const code = field({
    label: 'One-time code',
    name: 'code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]{6}',
    maxlength: '6',
    hint: 'The 6-digit code we sent by SMS.',
  });
  const dev = h('p', { class: 'dev-code', id: 'otp-dev-code', hidden: true });
  const send = h('button', { type: 'button', class: 'secondary' }, 'Send code');
  const verify = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Verify and log in');
  send.addEventListener('click', async () => {
    msg.clear();
    phone.setError(null);
    if (!phone.control.value.trim()) {
      phone.setError('Enter your phone number.');
      phone.control.focus();
      return;
    }
    try {
      const res = await busy(send, () => requestOtp(phone.control.value.trim()));
      msg.notice(`If this phone has an account, a code is on its way. It is valid for ${Math.round(res.expires_in / 60)} minutes.`);
      if (res.dev_code) {
        dev.textContent = `Development mode: your code is ${res.dev_code}.`;
        dev.dataset.code = res.dev_code;
        dev.hidden = false;
      }
      verify.disabled = false;
      code.control.required = true;
      code.control.focus();
    } catch (err) {
      msg.error(err, { button: send });
    }
  });
  return h(
    'form',
    {
      class: 'stack',
      'aria-label': 'Log in with a one-time code',
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        try {
          const user = await busy(verify, () => loginWithOtp(phone.control.value.trim(), code.control.value.trim()));
          announce(`Welcome, ${user.name}.`);
          ctx.navigate(nextRoute(ctx.query));
        } catch (err) {
          msg.error(err, {
            button: verify,
            text: err.code === 'invalid_otp' ? 'That code is not right or has expired. Check it or send a new one.' : undefined,
          });
          code.control.focus();
        }
      },
    },
    phone.wrapper,
    send,
    dev,
    code.wrapper,
    verify,
  );
}

export async function loginView(ctx) {
  const msg = messageBox();
  if (ctx.query.get('registered')) msg.notice('Your account is ready. Log in to continue.');
  const forms = {
    password: passwordForm(ctx, msg, ctx.query.get('login')),
    otp: otpForm(ctx, msg),
  };
  const holder = h('div', {});
  const choose = (mode, clear = true) => {
    if (clear) msg.clear();
    mount(holder, forms[mode]);
  };
  const radio = (mode, text, checked) =>
    h(
      'label',
      { class: 'segment' },
      h('input', { type: 'radio', name: 'login-mode', value: mode, checked, onchange: () => choose(mode) }),
      h('span', {}, text),
    );
  mount(
    ctx.main,
    pageTitle('Log in'),
    h(
      'section',
      { class: 'card narrow' },
      h(
        'fieldset',
        { class: 'segmented' },
        h('legend', {}, 'Log in with'),
        radio('password', 'Password', true),
        radio('otp', 'One-time code (SMS)', false),
      ),
      msg.el,
      holder,
      h('p', { class: 'muted' }, 'New to RailRush? ', h('a', { href: `#/register?next=${encodeURIComponent(ctx.query.get('next') || '')}` }, 'Create an account')),
    ),
  );
  choose('password', false);
}

const FIELD_OF = { name: 'name', email: 'email', phone: 'phone', password: 'password' };

export async function registerView(ctx) {
  const msg = messageBox();
  const fields = {
    name: field({ label: 'Full name', name: 'name', autocomplete: 'name', required: true, maxlength: '100' }),
    email: field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'email', required: true }),
    phone: field({
      label: 'Mobile phone',
      name: 'phone',
      type: 'tel',
      autocomplete: 'tel',
      required: true,
      pattern: '\\+[1-9][0-9]{7,14}',
      placeholder: '+8801712345678',
      hint: 'International format starting with +, e.g. +8801712345678.',
    }),
    password: field({
      label: 'Password',
      name: 'password',
      type: 'password',
      autocomplete: 'new-password',
      required: true,
      minlength: '8',
      hint: 'At least 8 characters.',
    }),
  };
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const form = h(
    'form',
    {
      class: 'stack',
      'aria-label': 'Create an account',
      onsubmit: async (e) => {
        e.preventDefault();
        msg.clear();
        for (const f of Object.values(fields)) f.setError(null);
        const body = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, k === 'password' ? f.control.value : f.control.value.trim()]));
        try {
          await busy(submit, () => register(body));
          const q = new URLSearchParams({ registered: '1', login: body.email });
          const next = ctx.query.get('next');
          if (next) q.set('next', next);
          ctx.navigate(`/login?${q}`);
        } catch (err) {
          const f = fields[FIELD_OF[err.details?.field]];
          if (err.status === 400 && f) {
            f.setError(err.message);
            f.control.focus();
          } else if (err.code === 'already_registered') {
            msg.error(err, { text: 'An account with this email or phone already exists. Log in instead.' });
          } else {
            msg.error(err, { button: submit });
          }
        }
      },
    },
    Object.values(fields).map((f) => f.wrapper),
    submit,
  );
  mount(
    ctx.main,
    pageTitle('Create your account'),
    h('section', { class: 'card narrow' }, msg.el, form, h('p', { class: 'muted' }, 'Already registered? ', h('a', { href: '#/login' }, 'Log in'))),
  );
}
