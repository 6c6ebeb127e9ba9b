// Display formats: money in taka, times in Bangladesh time, class names.

export const TIME_ZONE = 'Asia/Dhaka';

const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 0, maximumFractionDigits: 2 });

/** `amount` in poisha → "Tk 1,250" (written out: not every device has a font with "৳"). */
export function taka(amount) {
  return `Tk ${money.format(amount / 100)}`;
}

const time = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});
const day = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});
const dayTime = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});

export const clock = (iso) => time.format(new Date(iso));
export const date = (iso) => day.format(new Date(iso));
export const when = (iso) => dayTime.format(new Date(iso));

/**
 * "On sale from 3 Mar, 08:00" while a trip's seats are not on sale yet at `now` (ms), else
 * null (also when the answer has no `sales_open_at`: such a trip is on sale).
 */
export function notOnSale(trip, now = Date.now()) {
  const opens = trip?.sales_open_at ? new Date(trip.sales_open_at) : null;
  return opens && opens.getTime() > now ? `On sale from ${when(opens)}` : null;
}

export function duration(fromIso, toIso) {
  const minutes = Math.round((new Date(toIso) - new Date(fromIso)) / 60000);
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
}

/** Today's date in Bangladesh as YYYY-MM-DD, plus `days`. */
export function dhakaDate(days = 0) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: TIME_ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(Date.now() + days * 86400000));
  return parts; // en-CA formats as YYYY-MM-DD
}

const CLASSES = {
  AC_B: 'AC berth',
  AC_S: 'AC seat',
  SNIGDHA: 'Snigdha',
  S_CHAIR: 'Shovan chair',
  SHOVAN: 'Shovan',
};
export const className = (code) => CLASSES[code] || code;

/** "3:05" for 185 seconds. */
export function minutesSeconds(total) {
  const s = Math.max(0, Math.floor(total));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A length of time in words, to the minute from a minute up: "5 minutes", "45 seconds". */
export function inWords(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? plural(Math.round(s / 60), 'minute') : plural(s, 'second');
}

/** "KA-12" → { coach: "KA", number: "12" }. */
export function seatParts(label) {
  const i = label.lastIndexOf('-');
  return i > 0 ? { coach: label.slice(0, i), number: label.slice(i + 1) } : { coach: '', number: label };
}

const STATUS = {
  confirmed: 'Awaiting payment',
  paid: 'Paid',
  expired: 'Expired',
  cancelled: 'Cancelled',
};
export const bookingStatus = (s) => STATUS[s] || s;

/** A countdown: "1:02:03" from an hour up, "2:03" below, for `total` seconds. */
export function countdown(total) {
  const s = Math.max(0, Math.floor(total));
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${minutesSeconds(s % 3600).padStart(5, '0')}` : minutesSeconds(s);
}
