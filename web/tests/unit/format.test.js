import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { className, clock, date, duration, inWords, minutesSeconds, notOnSale, plural, seatParts, taka } from '../../src/format.js';

describe('format', () => {
  it('writes poisha as taka', () => {
    assert.equal(taka(139800), 'Tk 1,398');
    assert.equal(taka(5050), 'Tk 50.5');
    assert.equal(taka(0), 'Tk 0');
  });

  it('says when a trip goes on sale, only before it does', () => {
    const trip = { sales_open_at: '2030-03-03T02:00:00Z' };
    const before = Date.parse('2030-03-03T01:59:59Z');
    assert.equal(notOnSale(trip, before), 'On sale from 3 Mar, 08:00');
    assert.equal(notOnSale(trip, Date.parse('2030-03-03T02:00:00Z')), null);
    assert.equal(notOnSale({}, before), null);
    assert.equal(notOnSale(null, before), null);
  });

  it('writes seconds as m:ss, never below zero', () => {
    assert.equal(minutesSeconds(300), '5:00');
    assert.equal(minutesSeconds(185), '3:05');
    assert.equal(minutesSeconds(9.7), '0:09');
    assert.equal(minutesSeconds(-4), '0:00');
  });

  it('writes a length of time in words', () => {
    assert.equal(inWords(300), '5 minutes');
    assert.equal(inWords(299.2), '5 minutes');
    assert.equal(inWords(60), '1 minute');
    assert.equal(inWords(45), '45 seconds');
    assert.equal(inWords(1), '1 second');
    assert.equal(inWords(-3), '0 seconds');
  });

  it('counts with plurals', () => {
    assert.equal(plural(1, 'seat'), '1 seat');
    assert.equal(plural(2, 'seat'), '2 seats');
    assert.equal(plural(0, 'child', 'children'), '0 children');
  });

  it('splits seat labels at the last dash', () => {
    assert.deepEqual(seatParts('KA-12'), { coach: 'KA', number: '12' });
    assert.deepEqual(seatParts('SC-A-3'), { coach: 'SC-A', number: '3' });
    assert.deepEqual(seatParts('7'), { coach: '', number: '7' });
  });

  it('names classes, keeping unknown codes', () => {
    assert.equal(className('S_CHAIR'), 'Shovan chair');
    assert.equal(className('FIRST'), 'FIRST');
  });

  it('shows times in Bangladesh time', () => {
    assert.equal(clock('2030-01-01T18:30:00Z'), '00:30');
    assert.match(date('2030-01-01T18:30:00Z'), /2 Jan 2030/);
    assert.equal(duration('2030-01-01T01:00:00Z', '2030-01-01T06:20:00Z'), '5 h 20 min');
    assert.equal(duration('2030-01-01T01:00:00Z', '2030-01-01T01:45:00Z'), '45 min');
  });
});
