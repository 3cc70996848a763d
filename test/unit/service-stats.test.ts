import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SETUP_BUCKETS_S, SetupHistogram, emptyProtocolStats } from '../../src/net/service-stats.js';

describe('SetupHistogram', () => {
  test('puts each observation in the first bucket whose bound it does not exceed; cumulative counts grow to the total', () => {
    const h = new SetupHistogram();
    h.observe(0.005); // on the first bound: first bucket
    h.observe(0.006);
    h.observe(3);
    h.observe(60); // past the last bound: +Inf
    assert.equal(h.count, 4);
    assert.ok(Math.abs(h.sum - 63.011) < 1e-9);
    assert.equal(h.counts[0], 1);
    assert.equal(h.counts[1], 1);
    assert.equal(h.counts[SETUP_BUCKETS_S.indexOf(5)], 1);
    assert.equal(h.counts[SETUP_BUCKETS_S.length], 1);
    const cum = h.cumulative();
    assert.equal(cum.length, SETUP_BUCKETS_S.length + 1);
    assert.equal(cum.at(-1), 4);
    for (let i = 1; i < cum.length; i++) assert.ok(cum[i]! >= cum[i - 1]!);
  });

  test('ignores values that are not a duration (negative, NaN, infinite)', () => {
    const h = new SetupHistogram();
    for (const v of [-1, Number.NaN, Number.POSITIVE_INFINITY]) h.observe(v);
    assert.equal(h.count, 0);
    assert.equal(h.sum, 0);
  });

  test('empty stats start at zero with their own histogram', () => {
    const a = emptyProtocolStats();
    const b = emptyProtocolStats();
    a.setup.observe(1);
    assert.equal(b.setup.count, 0);
    assert.deepEqual(a.active, { publish: 0, play: 0, pending: 0 });
  });
});
