// The conductor's check of one trip: download for offline, the scanners (camera, an image, a
// pasted code), the result of the last scan, this phone's scans with the ones to sync and the
// flagged ones. Online, a scan boards at once (POST /api/tickets/board with this device's
// name); offline (or with the server out of reach), it is checked by its signature and the
// downloaded manifest (decide.js) and queued; the queue is sent when the browser is back
// online and with "Sync now" (queue.js).
import { h, field, mount } from '../dom.js';
import { boardedBy, resultCard, scanItem } from './render.js';
import { ApiError, api, boardTicket, describe, tripManifest } from '../api.js';
import { busy, messageBox, announce } from '../ui.js';
import { clock, date, when, plural } from '../format.js';
import { verifyTicket } from '../tickets/verify.js';
import { decideOffline, describeState } from './decide.js';
import { entryFor, flagged, localBoarding, pending, sync, upsert } from './queue.js';
import { cameraSupported, readImageFile, startCamera } from './scanner.js';

const isOnline = () => navigator.onLine !== false;

/** Renders the check of `tripId` into `root`; returns what to stop when leaving. */
export function tripPanel(root, { tripId, store }) {
  const box = messageBox();
  let manifest = store.manifest(tripId);
  let result = null;
  let syncing = false;
  let stopCamera = null;
  const scans = () => store.scans(tripId);

  const summary = h('div', { 'data-testid': 'trip-summary' });
  const network = h('p', { class: 'network', role: 'status', 'data-testid': 'network' });
  const downloaded = h('p', { 'data-testid': 'downloaded' });
  const resultEl = h('div', { 'aria-live': 'polite', 'data-testid': 'result' });
  const list = h('ul', { class: 'scans', 'data-testid': 'scans' });
  const counts = h('p', { 'data-testid': 'scan-counts' });

  const downloadButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'download' }, 'Download for offline');
  const syncButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'sync' }, 'Sync now');

  const device = field({ label: 'This device’s name', hint: 'Sent with every boarding; kept in this browser.', value: store.device(), maxlength: 100, autocomplete: 'off' });
  device.control.addEventListener('change', () => {
    device.control.value = store.setDevice(device.control.value);
  });

  const paste = field({ label: 'Paste a ticket code', hint: 'The text of the QR code (RRT1.…)', rows: 3, spellcheck: 'false', 'data-testid': 'paste' }, 'textarea');
  const checkButton = h('button', { type: 'submit', class: 'primary' }, 'Check ticket');
  const pasteForm = h('form', { class: 'paste-form', novalidate: true }, paste.wrapper, checkButton);

  const fileInput = h('input', { type: 'file', accept: 'image/*', capture: 'environment', id: `scan-image-${tripId}`, 'data-testid': 'scan-image' });
  const video = h('video', { class: 'camera', hidden: true, 'aria-label': 'Camera view' });
  const cameraButton = h('button', { type: 'button', class: 'secondary', disabled: !cameraSupported() }, 'Start camera');

  // The journey: the manifest's, else train-service's (read once, online).
  let journey = manifest?.trip || null;
  if (!journey && isOnline()) {
    api('GET', `/api/trains/trips/${encodeURIComponent(tripId)}`)
      .then((t) => {
        journey = journey || { train: t.train, from: t.from, to: t.to, departs_at: t.departs_at };
        paint();
      })
      .catch(() => {});
  }

  function paint() {
    const m = manifest;
    const j = m?.trip || journey;
    mount(
      summary,
      h('p', { class: 'lead' }, j ? `${j.train.name} (${j.train.number}), ${j.from} → ${j.to}, ${date(j.departs_at)} ${clock(j.departs_at)}` : `Trip ${tripId}`),
    );
    network.textContent = isOnline() ? 'Online: scans board at once.' : 'Offline: scans are checked on this phone and queued.';
    network.dataset.online = String(isOnline());
    if (m) {
      const boarded = m.tickets.filter((t) => t.boarded_at).length;
      downloaded.textContent = `Downloaded for offline at ${when(m.generated_at)}: ${plural(m.tickets.length, 'ticket')}, ${boarded} boarded then.`;
      downloaded.dataset.generatedAt = m.generated_at;
    } else {
      downloaded.textContent = 'Not downloaded yet: offline checks need the trip’s list of tickets.';
      delete downloaded.dataset.generatedAt;
    }
    mount(resultEl, resultCard(result));
    const all = scans();
    const waiting = pending(all).length;
    const flags = flagged(all).length;
    counts.textContent = `${plural(all.length, 'boarding')} on this phone; ${waiting} waiting to sync${flags ? `; ${flags} flagged` : ''}.`;
    counts.dataset.pending = String(waiting);
    syncButton.disabled = waiting === 0 || syncing || !isOnline();
    mount(list, all.slice().reverse().map(scanItem));
  }

  async function download() {
    const m = await tripManifest(tripId);
    manifest = m;
    if (!store.saveManifest(m)) box.error(null, { text: 'This browser refused to keep the download: offline checks will not work.' });
    else box.notice(`Downloaded ${plural(m.tickets.length, 'ticket')} of this trip for offline checks.`);
    paint();
  }

  function show(state, ticket, detail = null) {
    result = { state, ticket, detail };
    paint();
    announce(describeState(state));
  }

  async function boardOnline(text, ticket) {
    const name = store.device();
    try {
      const r = await boardTicket(text, name, tripId);
      store.saveScans(tripId, upsert(scans(), entryFor(ticket, text, { state: 'boarded', device: name, boardedAt: r.boarded_at })));
      show('boarded', ticket, `Boarded at ${clock(r.boarded_at)}.`);
      return true;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.status === 0 || e.status >= 500) return false; // out of reach: check offline
      if (e.code === 'already_boarded') show('already_boarded', ticket, `Boarded before${boardedBy(e.details)}.`);
      else if (e.code === 'not_boardable') show(e.details.state || 'expired', ticket);
      else if (e.code === 'invalid_ticket') show('invalid', null, e.message);
      else box.error(e);
      return true;
    }
  }

  async function check(raw) {
    box.clear();
    const text = String(raw || '').trim();
    if (!text) return show('invalid', null, 'No code was read.');
    if (!manifest && !isOnline()) {
      box.error(null, { text: 'You are offline and this trip is not downloaded: the ticket cannot be checked.' });
      return undefined;
    }
    const keys = manifest ? { keys: manifest.keys } : await api('GET', '/api/tickets/keys');
    const verified = await verifyTicket(text, keys);
    if (!verified.ok) return show('invalid', null, verified.reason === 'unknown_key' ? 'Signed with a key this phone does not know: download the trip again.' : null);
    const ticket = verified.ticket;
    if (ticket.trip_id !== Number(tripId)) return show('wrong_trip', ticket, `This ticket is for trip ${ticket.trip_id}.`);
    const local = localBoarding(scans(), ticket.booking_id);
    if (local) return show('already_boarded', ticket, `Boarded before${boardedBy(local)}.`);
    if (isOnline() && (await boardOnline(text, ticket))) return undefined;
    if (!manifest) {
      box.error(null, { text: 'The server is out of reach and this trip is not downloaded: the ticket cannot be checked.' });
      return undefined;
    }
    const decision = decideOffline(ticket, manifest);
    if (decision.state !== 'valid') {
      return show(decision.state, ticket, decision.state === 'already_boarded' ? `Boarded before${boardedBy(decision)}.` : null);
    }
    store.saveScans(tripId, upsert(scans(), entryFor(ticket, text, { state: 'queued', device: store.device() })));
    show('queued', ticket, 'Valid. Let the passenger board; the boarding is sent when this phone is online.');
    return undefined;
  }

  async function syncNow() {
    if (syncing || pending(scans()).length === 0 || !isOnline()) return;
    syncing = true;
    paint();
    try {
      const name = store.device();
      const r = await sync({
        load: scans,
        save: (s) => store.saveScans(tripId, s),
        board: (qr) => boardTicket(qr, name, tripId),
      });
      const parts = [`Synced ${plural(r.synced, 'boarding')}`];
      if (r.conflicts) parts.push(`${r.conflicts} boarded before by another device (flagged)`);
      if (r.refused) parts.push(`${r.refused} refused by the server (flagged)`);
      if (r.error) box.error(r.error, { text: `${parts.join('; ')}. ${r.left} left to sync: ${describe(r.error)}` });
      else box.notice(`${parts.join('; ')}.`);
    } finally {
      syncing = false;
      paint();
    }
  }

  const guarded = (button, work) => async () => {
    try {
      await busy(button, work);
    } catch (e) {
      box.error(e);
    }
  };

  downloadButton.addEventListener('click', guarded(downloadButton, download));
  // syncNow disables the button itself while it runs (and while nothing is queued).
  syncButton.addEventListener('click', () => syncNow().catch((e) => box.error(e)));
  pasteForm.addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(checkButton, async () => {
      await check(paste.control.value);
      paste.control.value = '';
    })();
  });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    try {
      const text = await readImageFile(file);
      if (text) await check(text);
      else show('invalid', null, 'No QR code was found in that image.');
    } catch (e) {
      box.error(e, { text: 'That image could not be read.' });
    } finally {
      fileInput.value = '';
    }
  });
  cameraButton.addEventListener('click', async () => {
    if (stopCamera) {
      stopCamera();
      stopCamera = null;
      video.hidden = true;
      cameraButton.textContent = 'Start camera';
      return;
    }
    try {
      stopCamera = await startCamera(video, (text) => check(text).catch((e) => box.error(e)));
      video.hidden = false;
      cameraButton.textContent = 'Stop camera';
    } catch (e) {
      box.error(e, { text: `The camera is not available (${e.name || 'refused'}): scan an image or paste the code.` });
    }
  });

  const onNetwork = () => {
    paint();
    if (isOnline()) syncNow().catch((e) => box.error(e));
  };
  window.addEventListener('online', onNetwork);
  window.addEventListener('offline', onNetwork);

  mount(
    root,
    summary,
    network,
    box.el,
    h('section', { class: 'card conductor-block', 'aria-labelledby': 'offline-h' }, h('h2', { id: 'offline-h' }, 'Offline'), downloaded, downloadButton, device.wrapper),
    h(
      'section',
      { class: 'card conductor-block', 'aria-labelledby': 'scan-h' },
      h('h2', { id: 'scan-h' }, 'Scan a ticket'),
      h('div', { class: 'scan-buttons' }, cameraButton, h('label', { class: 'button secondary file-button', for: fileInput.id }, 'Scan an image', fileInput)),
      video,
      pasteForm,
      resultEl,
    ),
    h('section', { class: 'card conductor-block', 'aria-labelledby': 'scans-h' }, h('h2', { id: 'scans-h' }, 'Boardings on this phone'), counts, syncButton, list),
  );
  paint();
  if (isOnline()) syncNow().catch((e) => box.error(e));

  return () => {
    window.removeEventListener('online', onNetwork);
    window.removeEventListener('offline', onNetwork);
    if (stopCamera) stopCamera();
  };
}
