// The seat map on the page: the coach picker, the colour legend and one grid of seat buttons
// per coach, painted from the SeatMap model (buttons never hold state of their own). Arrow
// keys move between the seats of a coach; Enter or Space presses one (onToggle).
import { h } from '../dom.js';
import { className, taka } from '../format.js';
import { SEATS_PER_ROW, STATUS_TEXT, nextSeatIndex } from './model.js';

const LEGEND = [
  ['available', 'available'],
  ['selected', 'selected'],
  ['mine', 'held by you'],
  ['held', 'held by others'],
  ['booked', 'booked'],
];

/** Returns { coachPicker, legend, grids, paintSeat(id), paint() } for `model`. */
export function seatGrid(model, { onToggle }) {
  const buttons = new Map(); // seat_id → its button
  let coachCode = model.coaches[0]?.code;

  function paintSeat(id) {
    const button = buttons.get(id);
    if (!button) return;
    const seat = model.seat(id);
    const shown = model.shown(id);
    button.dataset.status = model.statusOf(id);
    button.dataset.shown = shown;
    button.className = `seat seat-${shown}`;
    button.setAttribute('aria-pressed', String(shown === 'selected' || shown === 'mine'));
    if (model.isUnavailable(id)) button.setAttribute('aria-disabled', 'true');
    else button.removeAttribute('aria-disabled');
    button.setAttribute('aria-label', `Coach ${seat.coach} seat ${seat.number}, ${STATUS_TEXT[shown]}, ${taka(seat.fare)}`);
    button.title = `${seat.label}: ${STATUS_TEXT[shown]}`;
  }

  const grids = model.coaches.map((coach) => {
    const rows = [];
    coach.seatIds.forEach((id, index) => {
      const button = h(
        'button',
        {
          type: 'button',
          'data-seat-id': id,
          onclick: () => onToggle(id),
          onkeydown: (e) => {
            const next = nextSeatIndex(e.key, index, coach.seatIds.length);
            if (next === null) return;
            e.preventDefault();
            buttons.get(coach.seatIds[next]).focus();
          },
        },
        model.seat(id).number,
      );
      buttons.set(id, button);
      if (index % SEATS_PER_ROW === 0) rows.push([]);
      const row = rows[rows.length - 1];
      if (row.length === SEATS_PER_ROW / 2) row.push(h('span', { class: 'aisle', 'aria-hidden': 'true' }));
      row.push(button);
    });
    return h(
      'div',
      {
        class: 'coach',
        role: 'group',
        'aria-label': `Coach ${coach.code}, ${className(coach.class)} seats`,
        'data-coach': coach.code,
        hidden: coach.code !== coachCode,
      },
      h('p', { class: 'coach-front', 'aria-hidden': 'true' }, `Coach ${coach.code} · front`),
      h('div', { class: 'seat-grid' }, rows.map((r) => h('div', { class: 'seat-row' }, r))),
    );
  });

  const coachLabels = new Map(); // coach code → the text of its radio button
  const coachPicker = h(
    'fieldset',
    { class: 'segmented coaches' },
    h('legend', {}, 'Coach'),
    model.coaches.map((coach) => {
      const text = h('span', {});
      coachLabels.set(coach.code, text);
      return h(
        'label',
        { class: 'segment' },
        h('input', {
          type: 'radio',
          name: 'coach',
          value: coach.code,
          checked: coach.code === coachCode,
          onchange: () => {
            coachCode = coach.code;
            for (const g of grids) g.hidden = g.dataset.coach !== coachCode;
          },
        }),
        text,
      );
    }),
  );

  function paintCoaches() {
    for (const coach of model.coaches) {
      coachLabels.get(coach.code).textContent = `${coach.code} · ${className(coach.class)} · ${model.free(coach.code)} free`;
    }
  }

  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Seat colours' },
    LEGEND.map(([status, text]) => h('li', {}, h('span', { class: `swatch seat-${status}`, 'aria-hidden': 'true' }), text)),
  );

  return {
    coachPicker,
    legend,
    grids,
    /** One seat changed (and so, perhaps, its coach's free count). */
    paintSeat(id) {
      paintSeat(id);
      paintCoaches();
    },
    paint() {
      for (const id of buttons.keys()) paintSeat(id);
      paintCoaches();
    },
  };
}
