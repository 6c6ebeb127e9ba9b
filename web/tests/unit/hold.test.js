import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { URGENT_AT, WARN_AT, newWarnings, saveHold, savedHold, secondsLeft } from '../../src/seatmap/hold.js';
import { hold } from './fixtures.js';

const at = (iso) => Date.parse(iso);

/** A Storage with getItem/setItem/removeItem over a Map. */
function memoryStorage() {
  const items = new Map();
  return {
    items,
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
  };
}

describe('the hold countdown', () => {
  it("counts whole seconds to the API's expires_at, whatever the hold's length", () => {
    const h = hold([1], '2030-01-01T10:05:00Z');
    assert.equal(secondsLeft(h, at('2030-01-01T10:00:00Z')), 300);
    assert.equal(secondsLeft(h, at('2030-01-01T10:03:00Z')), 120);
    assert.equal(secondsLeft(hold([1], '2030-01-01T10:00:45Z'), at('2030-01-01T10:00:00Z')), 45);
  });

  it('rounds a part second up, so 0 means lapsed', () => {
    const h = hold([1], '2030-01-01T10:05:00Z');
    assert.equal(secondsLeft(h, at('2030-01-01T10:04:59.001Z')), 1);
    assert.equal(secondsLeft(h, at('2030-01-01T10:05:00Z')), 0);
    assert.ok(secondsLeft(h, at('2030-01-01T10:06:00Z')) < 0);
  });

  it('warns once at each mark, and at every mark passed at once', () => {
    assert.deepEqual(WARN_AT, [60, 10]);
    assert.equal(URGENT_AT, 60);
    const warned = new Set();
    assert.deepEqual(newWarnings(120, warned), []);
    assert.deepEqual(newWarnings(60, warned), [60]);
    assert.deepEqual(newWarnings(59, warned), []);
    assert.deepEqual(newWarnings(10, warned), [10]);
    assert.deepEqual(newWarnings(3, warned), []);
    assert.deepEqual(newWarnings(5, new Set()), [60, 10]);
  });
});

describe('a hold kept in sessionStorage', () => {
  const now = at('2030-01-01T10:01:00Z');

  it('comes back until it lapses', () => {
    const storage = memoryStorage();
    const h = hold([1, 2], '2030-01-01T10:05:00Z');
    saveHold(42, h, { storage });
    assert.deepEqual(savedHold(42, { storage, now }), h);
    assert.equal(savedHold(43, { storage, now }), null, 'per trip');
    assert.equal(savedHold(42, { storage, now: at('2030-01-01T10:05:00Z') }), null);
  });

  it('is forgotten on request', () => {
    const storage = memoryStorage();
    saveHold(42, hold([1]), { storage });
    saveHold(42, null, { storage });
    assert.equal(storage.items.size, 0);
  });

  it('is null when what is stored is not a hold', () => {
    const storage = memoryStorage();
    storage.setItem('railrush.hold.42', '{not json');
    assert.equal(savedHold(42, { storage, now }), null);
    storage.setItem('railrush.hold.42', JSON.stringify({ hold_id: 'x', expires_at: '2030-01-01T10:05:00Z' }));
    assert.equal(savedHold(42, { storage, now }), null);
  });

  it('is null, and saving is a no-op, without storage', () => {
    const refusing = {
      getItem() {
        throw new Error('SecurityError');
      },
      setItem() {
        throw new Error('QuotaExceededError');
      },
    };
    assert.equal(savedHold(42, { storage: refusing, now }), null);
    assert.doesNotThrow(() => saveHold(42, hold([1]), { storage: refusing }));
    assert.equal(savedHold(42, { storage: null, now }), null);
    assert.doesNotThrow(() => saveHold(42, hold([1]), { storage: null }));
  });
});
