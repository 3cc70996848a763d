import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FORGET_AFTER_EXPIRIES, MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration, type Origin } from '../../src/balancer/origin.js';
import { TtlMap } from '../../src/balancer/ttl-map.js';
import { balancerContract, EXPIRE } from '../fixtures/balancer-contract.js';

const TTL = 120_000;

function setup(opts: { maxStreamPins?: number; random?: () => number } = {}) {
  const clock = { t: 1_000_000 };
  let seq = 0;
  const b = new MemoryBalancer({
    originExpireMs: EXPIRE,
    sessionTtlMs: TTL,
    maxStreamPins: opts.maxStreamPins ?? 1000,
    now: () => clock.t,
    randomInt: opts.random ? (n) => Math.floor(opts.random!() * n) : (n) => seq++ % n,
    newId: () => (0x1000000 + seq++).toString(16).slice(-7),
  });
  const origin = (server: string, rtmp = '1935', service = 'svc', pid = '1'): Origin =>
    parseRegistration({ ip: '127.0.0.1', server, service, pid, rtmp: [rtmp] }, clock.t);
  return { b, clock, origin };
}

balancerContract('MemoryBalancer', async (opts) => {
  const { b, clock, origin } = setup(opts?.random ? { random: opts.random } : {});
  return {
    b,
    clock,
    origin,
    nearlyTtlMs: TTL - 10,
    pastTtlMs: TTL + 1,
    elapseSessions: async (ms) => {
      clock.t += ms;
    },
    sweep: () => b.sweep(),
    close: () => b.close(),
  };
});

describe('MemoryBalancer only', () => {
  test('pins are capped (least recently used forgotten first)', async () => {
    const { b, origin } = setup({ maxStreamPins: 3 });
    await b.register(origin('a'));
    for (const k of ['k1', 'k2', 'k3', 'k4']) await b.pick(k);
    assert.deepEqual(
      (await b.pins(10)).map((p) => p.streamKey),
      ['k2', 'k3', 'k4'],
    );
  });

  test('long-dead origins are forgotten by the sweep', async () => {
    const { b, clock, origin } = setup();
    await b.register(origin('a'));
    clock.t += EXPIRE * FORGET_AFTER_EXPIRIES - 1;
    b.sweep();
    assert.equal((await b.origins()).length, 1);
    assert.equal((await b.origins())[0]!.alive, false);
    clock.t += 2;
    b.sweep();
    assert.equal((await b.origins()).length, 0);
  });

  test('the spbhid stays stable up to the last millisecond of the TTL', async () => {
    const { b, clock } = setup();
    const s1 = await b.hlsSession('k', 'http://h/live/k.m3u8');
    clock.t += TTL - 1;
    assert.equal((await b.hlsSession('k', 'http://h/live/k.m3u8')).spbhid, s1.spbhid);
  });
});

describe('TtlMap', () => {
  test('refresh on get, sweep stops at the first live entry, size cap', () => {
    const clock = { t: 0 };
    const m = new TtlMap<string, number>(100, 3, () => clock.t);
    m.set('a', 1);
    clock.t = 50;
    m.set('b', 2);
    clock.t = 90;
    assert.equal(m.get('a'), 1); // a refreshed to 190
    clock.t = 160;
    assert.equal(m.sweep(), 1); // b expired at 150
    assert.equal(m.get('b'), undefined);
    assert.equal(m.get('a'), 1);
    m.set('c', 3);
    m.set('d', 4);
    m.set('e', 5);
    assert.equal(m.size, 3);
    assert.equal(m.get('a'), undefined, 'least recently used evicted');
  });

  test('the most recently used entry is refreshed in place: TTL, sweep order and eviction stay exact', () => {
    const clock = { t: 0 };
    const m = new TtlMap<string, number>(100, 2, () => clock.t);
    m.set('a', 1);
    m.set('b', 2); // b is last
    clock.t = 60;
    assert.equal(m.get('b'), 2); // refreshed in place to 160
    assert.equal(m.get('b'), 2);
    clock.t = 99;
    assert.equal(m.get('b'), 2); // 199
    clock.t = 100;
    assert.equal(m.sweep(), 1, 'a expired at 100; b, still last, was not in its way');
    assert.equal(m.get('a'), undefined);
    clock.t = 198;
    assert.equal(m.get('b'), 2, 'b lives up to its last refresh + TTL');
    m.set('c', 3); // c last, b before it
    assert.equal(m.get('b'), 2); // b moves behind c
    m.set('d', 4); // over the cap: c is the least recently used
    assert.equal(m.get('c'), undefined, 'c evicted, not b');
    assert.equal(m.get('b'), 2);
    // Deleting the last entry forgets it as last; the next refresh moves its entry again.
    assert.equal(m.delete('b'), true);
    clock.t = 250;
    assert.equal(m.get('d'), 4); // 350, moved to the end
    clock.t = 299;
    assert.equal(m.sweep(), 0);
    clock.t = 350;
    assert.equal(m.sweep(), 1);
    assert.equal(m.size, 0);
  });
});
