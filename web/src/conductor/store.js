// What a conductor's phone keeps between visits, in localStorage (this browser, not only this
// tab: the phone may be offline when the page is opened again): the device's name, each
// downloaded trip's manifest (with its keys) and each trip's scans; a trip is forgotten two
// days after its departure (unless boardings are still to sync), so the storage stays small. Takes any Storage-like
// object (getItem/setItem/removeItem), so tests pass a Map-backed one; with none (a browser
// that refuses storage), an in-memory one that lasts as long as the page.

const PREFIX = 'railrush.conductor';

/** A Storage-like object in memory. */
export function memoryStorage() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
  };
}

/** This browser's localStorage, or null where it is refused. */
export function localStore() {
  try {
    const s = window.localStorage;
    s.getItem(`${PREFIX}.probe`);
    return s;
  } catch {
    return null;
  }
}

function read(storage, key, fallback) {
  try {
    const raw = storage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** A device name for a new phone: `phone-` and 6 random letters and digits. */
export function newDeviceName(random = Math.random) {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  let name = 'phone-';
  for (let i = 0; i < 6; i += 1) name += alphabet[Math.floor(random() * alphabet.length)];
  return name;
}

export function conductorStore(storage = memoryStorage()) {
  const key = (...parts) => [PREFIX, ...parts].join('.');
  const write = (k, value) => {
    try {
      storage.setItem(k, JSON.stringify(value));
      return true;
    } catch {
      return false; // full: the caller says the download could not be kept
    }
  };
  return {
    /** This browser's device name (made and kept on first use). */
    device() {
      let name = read(storage, key('device'), null);
      if (typeof name !== 'string' || !name.trim()) {
        name = newDeviceName();
        write(key('device'), name);
      }
      return name;
    },
    setDevice(name) {
      const clean = String(name || '').trim().slice(0, 100);
      if (clean) write(key('device'), clean);
      return this.device();
    },
    /** The downloaded manifest of a trip, or null. */
    manifest(tripId) {
      return read(storage, key('manifest', tripId), null);
    },
    /** Keeps a manifest; false when the storage refused it. */
    saveManifest(manifest) {
      if (!write(key('manifest', manifest.trip_id), manifest)) return false;
      const trips = this.trips().filter((t) => t.trip_id !== manifest.trip_id);
      trips.push({ trip_id: manifest.trip_id, trip: manifest.trip, generated_at: manifest.generated_at });
      trips.sort((a, b) => String(a.trip?.departs_at).localeCompare(String(b.trip?.departs_at)));
      return write(key('trips'), trips);
    },
    /** The trips with a downloaded manifest: `[{trip_id, trip, generated_at}]`. */
    trips() {
      const list = read(storage, key('trips'), []);
      return Array.isArray(list) ? list : [];
    },
    /**
     * Forgets the trips that departed more than `keepHours` ago (their manifests and scans),
     * except one with boardings still to sync. Returns the trip ids forgotten.
     */
    prune(now = Date.now(), keepHours = 48) {
      const gone = [];
      const kept = [];
      for (const t of this.trips()) {
        const departs = Date.parse(t.trip?.departs_at);
        const unsynced = this.scans(t.trip_id).some((s) => s.state === 'queued');
        if (departs + keepHours * 3600 * 1000 < now && !unsynced) {
          storage.removeItem(key('manifest', t.trip_id));
          storage.removeItem(key('scans', t.trip_id));
          gone.push(t.trip_id);
        } else {
          kept.push(t);
        }
      }
      if (gone.length) write(key('trips'), kept);
      return gone;
    },
    /** This phone's scans of a trip (see queue.js). */
    scans(tripId) {
      const list = read(storage, key('scans', tripId), []);
      return Array.isArray(list) ? list : [];
    },
    saveScans(tripId, scans) {
      return write(key('scans', tripId), scans);
    },
  };
}
