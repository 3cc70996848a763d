import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NoOriginError } from '../../src/balancer/balancer.js';
import { FORGET_AFTER_EXPIRIES, MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration, type Origin } from '../../src/balancer/origin.js';
import { TtlMap } from '../../src/balancer/ttl-map.js';

const EXPIRE = 30_000;
const TTL = 120_000;

function setup(opts: { maxStreamPins?: number; random?: () => number } = {}) {
  const clock = { t: 1_000_000 };
  let seq = 0;
  const b = new MemoryBalancer({
    originExpireMs: EXPIRE,
    sessionTtlMs: TTL,
    maxStreamPins: opts.maxStreamPins ?? 1000,
    now: () => clock.t,
    randomInt: opts.random ? (n) => Math.floor(opts.random!() * n) : (n) => (seq++ % n),
    newId: () => (0x1000000 + seq++).toString(16).slice(-7),
  });
  const origin = (server: string, rtmp = '1935', service = 'svc', pid = '1'): Origin =>
    parseRegistration({ ip: '127.0.0.1', server, service, pid, rtmp: [rtmp] }, clock.t);
  return { b, clock, origin };
}

describe('MemoryBalancer.pick (spec 3.4, 9.2 #4)', () => {
  test('scenario 19: no origin → NoOriginError', async () => {
    const { b } = setup();
    await assert.rejects(b.pick('__defaultVhost__/live/s'), NoOriginError);
  });

  test('sticky: the same stream always gets the same origin', async () => {
    const { b, origin } = setup({ random: Math.random });
    await b.register(origin('a'));
    await b.register(origin('b'));
    const first = await b.pick('k');
    for (let i = 0; i < 50; i++) assert.equal((await b.pick('k')).id, first.id);
  });

  test('scenario 20: many streams spread over both origins', async () => {
    const { b, origin } = setup({ random: Math.random });
    await b.register(origin('a'));
    await b.register(origin('b'));
    const used = new Set<string>();
    for (let i = 0; i < 100; i++) used.add((await b.pick(`__defaultVhost__/live/s${i}`)).serverId);
    assert.deepEqual([...used].sort(), ['a', 'b']);
  });

  test('scenario 22: a silent origin is not picked for a new stream', async () => {
    const { b, clock, origin } = setup();
    await b.register(origin('fo1'));
    clock.t += EXPIRE + 1;
    await b.register(origin('fo2'));
    for (let i = 0; i < 20; i++) assert.equal((await b.pick(`new${i}`)).serverId, 'fo2');
  });

  test('scenario 23: only stale origins → still used (fallback)', async () => {
    const { b, clock, origin } = setup();
    await b.register(origin('fo1'));
    clock.t += EXPIRE * 5;
    assert.equal((await b.pick('s')).serverId, 'fo1');
  });

  test('scenario 24: a pin to a dead origin moves to a live one', async () => {
    const { b, clock, origin } = setup();
    await b.register(origin('fo1'));
    assert.equal((await b.pick('A')).serverId, 'fo1');
    clock.t += EXPIRE + 1;
    // fo1 stale but nothing better: the pin holds.
    assert.equal((await b.pick('A')).serverId, 'fo1');
    await b.register(origin('fo2'));
    assert.equal((await b.pick('A')).serverId, 'fo2');
    // fo1 comes back: A stays on fo2 (no flapping).
    await b.register(origin('fo1'));
    assert.equal((await b.pick('A')).serverId, 'fo2');
  });

  test('scenario 18: the same id registered again with another port → picks see the later port', async () => {
    const { b, origin } = setup();
    await b.register(origin('srs1', '1935'));
    assert.equal((await b.pick('x')).endpoints.rtmp![0], '1935');
    await b.register(origin('srs1', '1936'));
    assert.equal((await b.pick('x')).endpoints.rtmp![0], '1936');
    assert.equal((await b.pick('new')).endpoints.rtmp![0], '1936');
    assert.equal((await b.origins()).length, 1);
  });

  test('an origin restart (new service id) replaces the old record at once and re-picks its pins', async () => {
    const { b, origin } = setup();
    await b.register(origin('srs1', '1935', 'svcA', '10'));
    await b.register(origin('other'));
    const before = await b.pick('k1');
    const { replaced } = await b.register(origin(before.serverId, '1935', 'svcB', '11'));
    if (before.serverId === 'srs1') assert.equal(replaced?.id, 'srs1-svcA-10');
    assert.equal((await b.origins()).length, 2);
    const after = await b.pick('k1');
    assert.notEqual(after.id, before.id, 'pin to the dead incarnation is dropped');
  });

  test('deregister removes the origin and its pins move', async () => {
    const { b, origin } = setup();
    await b.register(origin('a'));
    await b.register(origin('b'));
    const first = await b.pick('k');
    assert.ok(await b.deregister(first.serverId));
    assert.ok(!(await b.deregister(first.serverId)));
    assert.notEqual((await b.pick('k')).serverId, first.serverId);
  });

  test('pins are capped (least recently used forgotten first)', async () => {
    const { b, origin } = setup({ maxStreamPins: 3 });
    await b.register(origin('a'));
    for (const k of ['k1', 'k2', 'k3', 'k4']) await b.pick(k);
    assert.deepEqual((await b.pins(10)).map((p) => p.streamKey), ['k2', 'k3', 'k4']);
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
});

describe('MemoryBalancer sessions', () => {
  test('scenario 52: the spbhid is stable per stream while in use', async () => {
    const { b, clock } = setup();
    const s1 = await b.hlsSession('k', 'http://h/live/k.m3u8');
    assert.match(s1.spbhid, /^[0-9a-f]{7}$/);
    clock.t += TTL - 1;
    const s2 = await b.hlsSession('k', 'http://h/live/k.m3u8');
    assert.equal(s2.spbhid, s1.spbhid);
    assert.deepEqual(await b.hlsSessionById(s1.spbhid), s1);
    const other = await b.hlsSession('k2', 'http://h/live/k2.m3u8');
    assert.notEqual(other.spbhid, s1.spbhid);
  });

  test('HLS sessions expire after the TTL without use, and segment requests keep them alive', async () => {
    const { b, clock } = setup();
    const s = await b.hlsSession('k', 'u');
    clock.t += TTL - 10;
    assert.ok(await b.hlsSessionById(s.spbhid)); // refreshes both indexes
    clock.t += TTL - 10;
    assert.equal((await b.hlsSession('k', 'u')).spbhid, s.spbhid);
    clock.t += TTL + 1;
    b.sweep();
    assert.equal(await b.hlsSessionById(s.spbhid), undefined);
    assert.notEqual((await b.hlsSession('k', 'u')).spbhid, s.spbhid);
  });

  test('WebRTC sessions by ufrag with TTL and delete', async () => {
    const { b, clock } = setup();
    await b.putRtcSession({ ufrag: 'ans:off', streamKey: 'k' });
    assert.equal((await b.rtcSession('ans:off'))?.streamKey, 'k');
    await b.deleteRtcSession('ans:off');
    assert.equal(await b.rtcSession('ans:off'), undefined);
    await b.putRtcSession({ ufrag: 'u2', streamKey: 'k' });
    clock.t += TTL + 1;
    assert.equal(await b.rtcSession('u2'), undefined);
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
});

describe('MemoryBalancer.lookup', () => {
  test('finds a pinned stream without pinning new ones', async () => {
    const { b, clock, origin } = setup();
    await b.register(origin('a'));
    assert.equal(await b.lookup('k'), undefined);
    assert.equal((await b.pins(10)).length, 0, 'lookup pins nothing');
    const picked = await b.pick('k');
    assert.equal((await b.lookup('k'))?.id, picked.id);
    clock.t += EXPIRE + 1;
    await b.register(origin('b'));
    assert.equal(await b.lookup('k'), undefined, 'a pin to a dead origin is not offered while another is alive');
  });
});
