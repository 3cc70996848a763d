// The behaviour every Balancer must show (spec 3.4-3.6, 9.2 #3/#4; scenarios 18-24, 52), run against
// the memory balancer (test/unit/memory-balancer.test.ts) and the Redis balancer on a real
// redis-server (test/unit/redis-balancer.test.ts), so both implement the same semantics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NoOriginError, type Balancer } from '../../src/balancer/balancer.js';
import { parseRegistration, type Origin } from '../../src/balancer/origin.js';
import type { HealthState, OriginHealth } from '../../src/routing/health.js';
import { NoServiceError } from '../../src/routing/policy.js';

export const EXPIRE = 30_000;

export interface BalancerHarness {
  b: Balancer;
  /** The clock origins' heartbeat times and liveness are judged by. */
  clock: { t: number };
  origin(server: string, rtmp?: string, service?: string, pid?: string): Origin;
  /** Less than the session TTL, more than half of it (memory: TTL - 10 ms exactly). */
  nearlyTtlMs: number;
  /** More than the session TTL (memory: TTL + 1 ms exactly; Redis: with a margin for real time). */
  pastTtlMs: number;
  /** Lets session time pass (a fake clock for memory, real time for Redis, whose TTLs Redis enforces). */
  elapseSessions(ms: number): Promise<void>;
  /** Runs expiry housekeeping, where the implementation has any. */
  sweep(): void;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Uniform [0, 1); by default picks rotate deterministically over the candidates. */
  random?: () => number;
}

export type MakeHarness = (opts?: HarnessOptions) => Promise<BalancerHarness>;

/** Registers the shared behaviour tests under `name`. */
export function balancerContract(name: string, make: MakeHarness): void {
  const withHarness = (opts: HarnessOptions | undefined, fn: (h: BalancerHarness) => Promise<void>) => async () => {
    const h = await make(opts);
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };

  describe(`${name}: pick (spec 3.4, 9.2 #4)`, () => {
    test('scenario 19: no origin → NoOriginError', withHarness(undefined, async ({ b }) => {
      await assert.rejects(b.pick('__defaultVhost__/live/s'), NoOriginError);
    }));

    test('sticky: the same stream always gets the same origin', withHarness({ random: Math.random }, async ({ b, origin }) => {
      await b.register(origin('a'));
      await b.register(origin('b'));
      const first = await b.pick('k');
      for (let i = 0; i < 50; i++) assert.equal((await b.pick('k')).id, first.id);
    }));

    test('scenario 20: many streams spread over both origins', withHarness({ random: Math.random }, async ({ b, origin }) => {
      await b.register(origin('a'));
      await b.register(origin('b'));
      const used = new Set<string>();
      for (let i = 0; i < 100; i++) used.add((await b.pick(`__defaultVhost__/live/s${i}`)).serverId);
      assert.deepEqual([...used].sort(), ['a', 'b']);
    }));

    test('scenario 22: a silent origin is not picked for a new stream', withHarness(undefined, async ({ b, clock, origin }) => {
      await b.register(origin('fo1'));
      clock.t += EXPIRE + 1;
      await b.register(origin('fo2'));
      for (let i = 0; i < 20; i++) assert.equal((await b.pick(`new${i}`)).serverId, 'fo2');
    }));

    test('scenario 23: only stale origins → still used (fallback)', withHarness(undefined, async ({ b, clock, origin }) => {
      await b.register(origin('fo1'));
      clock.t += EXPIRE * 5;
      assert.equal((await b.pick('s')).serverId, 'fo1');
    }));

    test('scenario 24: a pin to a dead origin moves to a live one', withHarness(undefined, async ({ b, clock, origin }) => {
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
    }));

    test('scenario 18: the same id registered again with another port → picks see the later port', withHarness(undefined, async ({ b, origin }) => {
      await b.register(origin('srs1', '1935'));
      assert.equal((await b.pick('x')).endpoints.rtmp![0], '1935');
      await b.register(origin('srs1', '1936'));
      assert.equal((await b.pick('x')).endpoints.rtmp![0], '1936');
      assert.equal((await b.pick('new')).endpoints.rtmp![0], '1936');
      assert.equal((await b.origins()).length, 1);
    }));

    test('an origin restart (new service id) replaces the old record at once and re-picks its pins', withHarness(undefined, async ({ b, origin }) => {
      await b.register(origin('srs1', '1935', 'svcA', '10'));
      await b.register(origin('other'));
      const before = await b.pick('k1');
      const { replaced } = await b.register(origin(before.serverId, '1935', 'svcB', '11'));
      if (before.serverId === 'srs1') assert.equal(replaced?.id, 'srs1-svcA-10');
      else assert.equal(replaced?.id, 'other-svc-1');
      assert.equal((await b.origins()).length, 2);
      const after = await b.pick('k1');
      assert.notEqual(after.id, before.id, 'pin to the dead incarnation is dropped');
    }));

    test('a heartbeat of the same record replaces nothing', withHarness(undefined, async ({ b, origin }) => {
      await b.register(origin('a'));
      assert.equal((await b.register(origin('a'))).replaced, undefined);
      assert.equal((await b.origins()).length, 1);
    }));

    test('deregister removes the origin and its pins move', withHarness(undefined, async ({ b, origin }) => {
      await b.register(origin('a'));
      await b.register(origin('b'));
      const first = await b.pick('k');
      assert.ok(await b.deregister(first.serverId));
      assert.ok(!(await b.deregister(first.serverId)));
      assert.notEqual((await b.pick('k')).serverId, first.serverId);
      assert.deepEqual((await b.origins()).map((v) => v.origin.serverId), [first.serverId === 'a' ? 'b' : 'a']);
    }));

    test('origins: alive flag and age follow the heartbeat time', withHarness(undefined, async ({ b, clock, origin }) => {
      await b.register(origin('a'));
      clock.t += 1000;
      let [v] = await b.origins();
      assert.equal(v!.alive, true);
      assert.equal(v!.ageMs, 1000);
      clock.t += EXPIRE;
      [v] = await b.origins();
      assert.equal(v!.alive, false);
    }));

    test('pins: the cluster view names stream, record id and server id', withHarness(undefined, async ({ b, origin }) => {
      await b.register(origin('a', '1935', 'svc', '7'));
      await b.pick('__defaultVhost__/live/one');
      await b.pick('__defaultVhost__/live/two');
      const pins = (await b.pins(10)).sort((x, y) => x.streamKey.localeCompare(y.streamKey));
      assert.deepEqual(pins, [
        { streamKey: '__defaultVhost__/live/one', originId: 'a-svc-7', serverId: 'a' },
        { streamKey: '__defaultVhost__/live/two', originId: 'a-svc-7', serverId: 'a' },
      ]);
      assert.equal((await b.pins(1)).length, 1);
    }));
  });

  describe(`${name}: the shared routing policy`, () => {
    const withServices = (h: BalancerHarness, server: string, extra: Record<string, string[]>): Origin =>
      parseRegistration({ ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: ['1935'], ...extra }, h.clock.t);
    /** Health set per server id; loads likewise. */
    const healthOf = (states: Record<string, HealthState>, loads: Record<string, number> = {}): OriginHealth => ({
      state: (o) => states[o.serverId] ?? 'up',
      loadOf: (o) => loads[o.serverId] ?? 0,
    });

    test('a new stream is pinned only to an origin that registered the protocol\'s endpoints', withHarness({ random: Math.random }, async (h) => {
      await h.b.register(withServices(h, 'rtmp-only', {}));
      await h.b.register(withServices(h, 'with-srt', { srt: ['10080'] }));
      for (let i = 0; i < 20; i++) assert.equal((await h.b.pick(`srt${i}`, { needs: ['srt'] })).serverId, 'with-srt');
      await assert.rejects(h.b.pick('rtc', { needs: ['rtc', 'api'] }), (err: unknown) => err instanceof NoServiceError && err.pinnedTo === undefined);
    }));

    test('a stream pinned to an origin lacking the protocol is refused, naming that origin (not re-pinned)', withHarness(undefined, async (h) => {
      await h.b.register(withServices(h, 'rtmp-only', {}));
      assert.equal((await h.b.pick('k')).serverId, 'rtmp-only');
      await h.b.register(withServices(h, 'with-srt', { srt: ['10080'] }));
      await assert.rejects(h.b.pick('k', { needs: ['srt'] }), (err: unknown) => err instanceof NoServiceError && err.pinnedTo === 'rtmp-only');
      assert.equal((await h.b.pick('k')).serverId, 'rtmp-only', 'the pin is untouched');
    }));

    test('down and draining origins get no new streams; all draining → NoOriginError', withHarness({ random: Math.random }, async (h) => {
      for (const s of ['a', 'b', 'c']) await h.b.register(h.origin(s));
      const health = healthOf({ a: 'down', b: 'draining' });
      for (let i = 0; i < 20; i++) assert.equal((await h.b.pick(`n${i}`, { health })).serverId, 'c');
      await assert.rejects(h.b.pick('x', { health: healthOf({ a: 'draining', b: 'draining', c: 'draining' }) }), NoOriginError);
    }));

    test('a down origin\'s pins move on next use; a suspect or draining origin keeps a live stream\'s pin', withHarness(undefined, async (h) => {
      await h.b.register(h.origin('a'));
      assert.equal((await h.b.pick('live')).serverId, 'a');
      assert.equal((await h.b.pick('idle')).serverId, 'a');
      await h.b.register(h.origin('b'));
      for (const state of ['suspect', 'draining'] as const) {
        assert.equal((await h.b.pick('live', { health: healthOf({ a: state }), live: true })).serverId, 'a', `${state}: live stream stays`);
      }
      // Flapping between up and suspect never moves a live stream.
      for (let i = 0; i < 10; i++) {
        const state = i % 2 === 0 ? 'suspect' : 'up';
        assert.equal((await h.b.pick('live', { health: healthOf({ a: state }), live: true })).serverId, 'a');
      }
      assert.equal((await h.b.pick('idle', { health: healthOf({ a: 'draining' }) })).serverId, 'b', 'an idle stream leaves a draining origin');
      assert.equal((await h.b.pick('live', { health: healthOf({ a: 'down' }), live: true })).serverId, 'b', 'down: even a live stream moves');
    }));

    test('a down pinned origin with nothing better keeps its pin', withHarness(undefined, async (h) => {
      await h.b.register(h.origin('a'));
      assert.equal((await h.b.pick('k')).serverId, 'a');
      assert.equal((await h.b.pick('k', { health: healthOf({ a: 'down' }) })).serverId, 'a');
    }));

    test('load: of the two candidates the lower score gets the new stream', withHarness({ random: Math.random }, async (h) => {
      await h.b.register(h.origin('busy'));
      await h.b.register(h.origin('idle'));
      const health = healthOf({}, { busy: 90, idle: 5 });
      for (let i = 0; i < 20; i++) assert.equal((await h.b.pick(`l${i}`, { health })).serverId, 'idle');
    }));

    test('lease: a tentative pin released leaves nothing; a committed one stays', withHarness(undefined, async (h) => {
      await h.b.register(h.origin('a'));
      const claim = await h.b.claim('gone', { tentative: true });
      assert.equal(claim.created, true);
      await h.b.releasePin('gone', claim.origin);
      assert.deepEqual(await h.b.pins(10), [], 'a released lease leaves no pin');
      assert.equal(await h.b.lookup('gone'), undefined);
      const kept = await h.b.claim('kept', { tentative: true });
      await h.b.commitPin('kept', kept.origin);
      assert.deepEqual((await h.b.pins(10)).map((p) => p.streamKey), ['kept']);
      const again = await h.b.claim('kept', { tentative: true });
      assert.equal(again.created, false, 'a committed pin is not a new lease (nothing to release)');
      // A lease released while the stream has live relays here keeps the shared pin.
      const live = await h.b.claim('busy', { tentative: true });
      await h.b.releasePin('busy', live.origin, true);
      const busy = await h.b.claim('busy', { tentative: true });
      await h.b.commitPin('busy', busy.origin);
      assert.equal((await h.b.lookup('busy'))?.id, live.origin.id);
      assert.equal((await h.b.lookup('kept'))?.id, kept.origin.id);
    }));

    test('commitPin with a previous origin moves the pin there (failover within a request)', withHarness(undefined, async (h) => {
      await h.b.register(h.origin('a'));
      const claim = await h.b.claim('k', { tentative: true });
      await h.b.register(h.origin('b'));
      const b = (await h.b.origins()).find((v) => v.origin.serverId === 'b')!.origin;
      await h.b.commitPin('k', b, claim.origin);
      await h.b.releasePin('k', claim.origin, true);
      assert.equal((await h.b.pick('k')).serverId, 'b');
    }));
  });

  describe(`${name}: lookup`, () => {
    test('finds a pinned stream without pinning new ones', withHarness(undefined, async ({ b, clock, origin }) => {
      await b.register(origin('a'));
      assert.equal(await b.lookup('k'), undefined);
      assert.equal((await b.pins(10)).length, 0, 'lookup pins nothing');
      const picked = await b.pick('k');
      assert.equal((await b.lookup('k'))?.id, picked.id);
      clock.t += EXPIRE + 1;
      assert.equal((await b.lookup('k'))?.id, picked.id, 'a stale pin is offered while nothing else is alive');
      await b.register(origin('b'));
      assert.equal(await b.lookup('k'), undefined, 'a pin to a dead origin is not offered while another is alive');
    }));
  });

  describe(`${name}: sessions (spec 3.5, 3.6, 9.2 #3)`, () => {
    test('scenario 52: the spbhid is stable per stream while in use', withHarness(undefined, async (h) => {
      const { b } = h;
      const s1 = await b.hlsSession('k', 'http://h/live/k.m3u8');
      assert.match(s1.spbhid, /^[0-9a-f]{7}$/);
      assert.deepEqual(s1, { spbhid: s1.spbhid, streamKey: 'k', fullUrl: 'http://h/live/k.m3u8' });
      await h.elapseSessions(h.nearlyTtlMs);
      const s2 = await b.hlsSession('k', 'http://h/live/k.m3u8');
      assert.equal(s2.spbhid, s1.spbhid);
      assert.deepEqual(await b.hlsSessionById(s1.spbhid), s1);
      const other = await b.hlsSession('k2', 'http://h/live/k2.m3u8');
      assert.notEqual(other.spbhid, s1.spbhid);
      assert.equal(await b.hlsSessionById('0000000'), undefined);
    }));

    test('HLS sessions expire after the TTL without use, and segment requests keep them alive', withHarness(undefined, async (h) => {
      const { b } = h;
      const s = await b.hlsSession('k', 'u');
      await h.elapseSessions(h.nearlyTtlMs);
      assert.ok(await b.hlsSessionById(s.spbhid)); // refreshes both indexes
      await h.elapseSessions(h.nearlyTtlMs);
      assert.equal((await b.hlsSession('k', 'u')).spbhid, s.spbhid);
      await h.elapseSessions(h.pastTtlMs);
      h.sweep();
      assert.equal(await b.hlsSessionById(s.spbhid), undefined);
      assert.notEqual((await b.hlsSession('k', 'u')).spbhid, s.spbhid);
    }));

    test('WebRTC sessions by ufrag with TTL and delete; extra fields round-trip', withHarness(undefined, async (h) => {
      const { b } = h;
      const full = { ufrag: 'ans:off', streamKey: 'k', serverId: 'srs1', mediaHost: '127.0.0.1', mediaPort: 8000 };
      await b.putRtcSession(full);
      assert.deepEqual(await b.rtcSession('ans:off'), full);
      await b.deleteRtcSession('ans:off');
      assert.equal(await b.rtcSession('ans:off'), undefined);
      await b.deleteRtcSession('never-stored');
      await b.putRtcSession({ ufrag: 'u2', streamKey: 'k' });
      await h.elapseSessions(h.pastTtlMs);
      h.sweep();
      assert.equal(await b.rtcSession('u2'), undefined);
    }));
  });
}
