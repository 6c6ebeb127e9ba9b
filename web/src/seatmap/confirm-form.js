// The form under a hold: one name per held seat, the card token, "Confirm and pay" and
// "Release seats". It only collects; the view sends (onConfirm, onRelease), with one
// Idempotency-Key for every try of the same hold's confirm.
import { h, field } from '../dom.js';
import { newKey } from '../api.js';
import { taka } from '../format.js';

/** Returns { el, focus() } for the hold of `model`. */
export function passengerForm(model, { onConfirm, onRelease }) {
  const ids = model.heldIds();
  const names = ids.map((id, i) =>
    field({
      label: `Passenger ${i + 1} name (seat ${model.seat(id)?.label})`,
      name: `passenger-${i + 1}`,
      autocomplete: i === 0 ? 'name' : 'off',
      required: true,
      maxlength: '100',
    }),
  );
  const token = field({
    label: 'Card token',
    name: 'payment_token',
    required: true,
    value: 'tok_visa',
    autocomplete: 'off',
    spellcheck: 'false',
    hint: 'Test cards: tok_visa is charged successfully, tok_chargeDeclined is declined.',
  });
  const confirm = h('button', { type: 'submit', class: 'primary', 'data-testid': 'confirm' }, `Confirm and pay ${taka(model.fare(ids))}`);
  const release = h('button', { type: 'button', class: 'secondary', onclick: () => onRelease(release) }, 'Release seats');
  const key = newKey();
  const holdId = model.hold.hold_id;

  const el = h(
    'form',
    {
      class: 'stack',
      'aria-label': 'Passengers and payment',
      onsubmit: (e) => {
        e.preventDefault();
        onConfirm({
          key,
          button: confirm,
          body: {
            hold_id: holdId,
            passengers: names.map((n) => ({ name: n.control.value.trim() })),
            payment_token: token.control.value.trim(),
          },
        });
      },
    },
    names.map((n) => n.wrapper),
    token.wrapper,
    h('div', { class: 'actions' }, confirm, release),
  );
  return { el, focus: () => (names[0] || token).control.focus() };
}
