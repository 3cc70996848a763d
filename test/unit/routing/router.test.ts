// The router over a real MemoryBalancer with an injected clock: protocol-aware picks, passive
// backoff and failover targets, refusals, leases, and the pin cap under a flood.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBalancer } from '../../../src/balancer/memory.js';
import { parseRegistration } from '../../../src/balancer/origin.js';
import { createLogger } from '../../../src/log.js';
import { BalancerUnavailableError, NoOriginError } from '../../../src/balancer/balancer.js';
import { RouteRefusal, REFUSAL_WIRE, refusalHttpError } from '../../../src/routing/refusal.js';
import { RelayRegistry } from '../../../src/routing/relays.js';
import { parseCidrList } from '../../../src/net/address-policy.js';
import { dialInOrder, refusalOf, Router } from '../../../src/routing/router.js';

function setup(maxStreamPins = 1000) {
  const clock = { t: 1_000_000 };
  const relays = new RelayRegistry();
  const balancer = new MemoryBalancer({
    originExpireMs: 30_000,
    sessionTtlMs: 120_000,
    maxStreamPins,
    now: () => clock.t,
    isLive: (k) => relays.countByStream(k) > 0,
  });
  const router = new Router({ balancer, relays, log: createLogger({ level: 'silent', format: 'json' }), now: () => clock.t, originExpireMs: 30_000 });
  const register = (server: string, extra: Record<string, unknown> = {}) =>
    balancer.register(parseRegistration({ ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: [`${19350 + server.length}`], ...extra }, clock.t));
  return { clock, relays, balancer, router, register };
}

const refusal = (kind: string) => (err: unknown) => err instanceof RouteRefusal && err.kind === kind;

describe('Router: a stream this proxy relays whose pin was lost (Redis restarted empty)', () => {
  test('is pinned again to the origin of its live relays, not to a fresh pick', async () => {
    const { router, relays, balancer, register } = setup();
    await register('a');
    await register('b');
    // Live relays of 20 streams to b, with no pins in the balancer (as after a Redis restart): a fresh
    // pick between two equal origins would put about half of them on a.
    for (let i = 0; i < 20; i++) {
      const stream = `live/x${i}`;
      const handle = relays.register({ originServerId: 'b', streamKey: stream, close: () => undefined });
      const route = await router.route(stream, 'rtmp', 'play');
      assert.equal(route.origin.serverId, 'b', stream);
      route.commit(route.targets[0]!);
      await new Promise((r) => setImmediate(r)); // the pin is written in the background
      assert.equal((await balancer.pins(100)).find((p) => p.streamKey === stream)?.serverId, 'b');
      handle.release();
    }
  });

  test('a relayed origin that is no longer registered does not hold the stream', async () => {
    const { router, relays, register } = setup();
    await register('a');
    const handle = relays.register({ originServerId: 'gone', streamKey: 'live/y', close: () => undefined });
    const route = await router.route('live/y', 'rtmp', 'play');
    assert.equal(route.origin.serverId, 'a');
    route.release();
    handle.release();
  });
});

describe('Router: protocol-aware routes and refusals', () => {
  test('SRT goes only to the origin with an SRT endpoint; WebRTC needs rtc and api', async () => {
    const { router, register } = setup();
    await register('nginx');
    await register('srs', { srt: ['10080'], rtc: ['8000'], api: ['1985'], http: ['8080'] });
    for (let i = 0; i < 30; i++) {
      const route = await router.route(`live/s${i}`, 'srt', 'publish');
      assert.equal(route.origin.serverId, 'srs');
      assert.deepEqual(
        route.targets.map((t) => [t.port, t.transport]),
        [[10080, 'udp']],
      );
      route.release();
    }
    const rtc = await router.route('live/w', 'rtc', 'publish');
    assert.deepEqual(
      rtc.targets.map((t) => t.port),
      [1985],
      'WebRTC dials the API',
    );
  });

  test('no origin, no origin for the protocol, and a pin on an origin without it: typed refusals', async () => {
    const { router, register } = setup();
    await assert.rejects(router.route('live/a', 'rtmp', 'play'), refusal('no-origin'));
    await register('nginx');
    await assert.rejects(router.route('live/a', 'srt', 'publish'), refusal('no-service'));
    const r = await router.route('live/a', 'rtmp', 'publish');
    r.commit(r.targets[0]!);
    await register('srs', { srt: ['10080'] });
    await assert.rejects(router.route('live/a', 'srt', 'play'), (err: unknown) => refusal('no-service')(err) && /nginx/.test((err as RouteRefusal).detail));
  });

  test('client-facing texts of every refusal name no address, port or origin', () => {
    for (const wire of Object.values(REFUSAL_WIRE)) {
      assert.doesNotMatch(wire.text, /\d+\.\d+|:\d+|nginx|srs/);
      assert.ok(wire.httpStatus >= 500);
    }
    assert.equal(REFUSAL_WIRE['balancer-unavailable'].httpStatus, 503);
  });

  test('every balancer error becomes its refusal (Redis unreachable: 503 everywhere); other errors pass through', () => {
    const unavailable = refusalOf(new BalancerUnavailableError('pick', 'ECONNREFUSED'));
    assert.ok(unavailable instanceof RouteRefusal && unavailable.kind === 'balancer-unavailable');
    assert.equal(refusalHttpError(unavailable).status, 503);
    assert.equal((refusalOf(new NoOriginError('k')) as RouteRefusal).kind, 'no-origin');
    const other = new Error('bug');
    assert.equal(refusalOf(other), other);
  });
});

describe('Router: passive health', () => {
  test('a failed endpoint is skipped for its backoff: new streams go elsewhere, its targets come last', async () => {
    const { router, register, clock } = setup();
    await register('a');
    await register('bb');
    const first = await router.route('live/x', 'rtmp', 'publish');
    assert.equal(first.targets.length, 2, 'own endpoint, then the other origin (failover)');
    assert.notEqual(first.targets[0]!.origin.serverId, first.targets[1]!.origin.serverId);
    const dead = first.targets[0]!;
    first.report(dead, 'fail');
    first.release();
    for (let i = 0; i < 10; i++) {
      const r = await router.route(`live/n${i}`, 'rtmp', 'publish');
      assert.notEqual(r.origin.serverId, dead.origin.serverId, 'no new stream on the failed origin');
      assert.ok(
        r.targets.every((t) => t.port !== dead.port),
        'the failed endpoint is not offered',
      );
      r.release();
    }
    clock.t += 1000;
    const back = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await router.route(`live/m${i}`, 'rtmp', 'publish');
      back.add(r.origin.serverId);
      r.release();
    }
    assert.equal(back.size, 2, 'after 1 s the endpoint is tried again');
  });

  test('every endpoint in backoff: endpoints-down, until the backoff ends', async () => {
    const { router, register, clock } = setup();
    await register('a');
    const r = await router.route('live/x', 'rtmp', 'publish');
    r.report(r.targets[0]!, 'fail');
    r.release();
    await assert.rejects(router.route('live/x', 'rtmp', 'publish'), refusal('endpoints-down'));
    clock.t += 1000;
    assert.equal((await router.route('live/x', 'rtmp', 'publish')).targets.length, 1);
  });

  test("failover: a commit through another origin's target moves the pin there", async () => {
    const { router, register, balancer } = setup();
    await register('a');
    await register('bb');
    const r = await router.route('live/f', 'rtmp', 'publish');
    r.report(r.targets[0]!, 'fail');
    r.commit(r.targets[1]!);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await balancer.lookup('live/f'))?.serverId, r.targets[1]!.origin.serverId);
  });
});

describe('Router: leases and the pin cap', () => {
  test('a route released leaves no pin; a commit keeps it; a relay counts until released', async () => {
    const { router, register, balancer, relays } = setup();
    await register('a');
    const gone = await router.route('live/none', 'http', 'play').catch((e: unknown) => e);
    assert.ok(refusal('no-service')(gone), 'http needs an http endpoint');
    const r1 = await router.route('live/none', 'rtmp', 'play');
    r1.release();
    assert.deepEqual(await balancer.pins(10), []);
    const r2 = await router.route('live/real', 'rtmp', 'publish');
    let closed = 0;
    const handle = r2.commit(r2.targets[0]!, { close: () => closed++ });
    r2.release(); // after commit: nothing
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      (await balancer.pins(10)).map((p) => p.streamKey),
      ['live/real'],
    );
    assert.equal(relays.countByStream('live/real'), 1);
    assert.equal(relays.closeOrigin('a'), 1);
    assert.equal(closed, 1);
    handle.release();
    assert.equal(relays.countByOrigin('a'), 0);
  });

  test("flood: requests for missing streams and many idle pins never evict live streams' pins", async () => {
    const { router, register, balancer } = setup(3);
    await register('a');
    await register('bb');
    const live: string[] = [];
    for (const k of ['live/one', 'live/two']) {
      const r = await router.route(k, 'rtmp', 'publish');
      r.commit(r.targets[0]!, { close: () => undefined });
      live.push(`${k}=${r.origin.serverId}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
    // Attack 1: requests for streams that do not exist, some in flight at once.
    for (let wave = 0; wave < 20; wave++) {
      const routes = await Promise.all(Array.from({ length: 10 }, (_, i) => router.route(`live/missing-${wave}-${i}`, 'rtmp', 'play')));
      for (const r of routes) r.release();
    }
    // Attack 2: streams that answer once (committed, no relay), far more than the cap.
    for (let i = 0; i < 50; i++) {
      const r = await router.route(`live/once-${i}`, 'rtmp', 'play');
      r.commit(r.targets[0]!);
    }
    await new Promise((resolve) => setImmediate(resolve));
    const pins = await balancer.pins(100);
    assert.ok(pins.length <= 3, `cap kept: ${pins.length}`);
    for (const entry of live) {
      const [key, server] = entry.split('=');
      assert.ok(
        pins.some((p) => p.streamKey === key && p.serverId === server),
        `${key} still pinned to ${server}`,
      );
    }
    assert.ok(!pins.some((p) => p.streamKey.startsWith('live/missing')));
  });
});

describe('Router: one dial budget per origin', () => {
  /** Three silent endpoints on `slow`, one on `good`; a route whose origin (picked at random) is `slow`. */
  async function silentOriginRoute() {
    for (let i = 0; i < 64; i++) {
      const s = setup();
      await s.balancer.register(parseRegistration({ ip: '127.0.0.1', server: 'slow', service: 'svc', pid: '1', rtmp: ['1001', '1002', '1003'] }, s.clock.t));
      await s.register('good');
      const route = await s.router.route('live/b', 'rtmp', 'publish');
      if (route.origin.serverId === 'slow') return { ...s, route };
      route.release();
    }
    throw new Error('the slow origin was never picked in 64 tries');
  }

  test('an origin whose first endpoint used the whole dial time has its other endpoints skipped; the next origin gets its own', async () => {
    const { route, router, clock } = await silentOriginRoute();
    const dialled: { port: number; ms: number }[] = [];
    const { target } = await dialInOrder(
      route,
      async (t, ms) => {
        dialled.push({ port: t.port, ms });
        if (t.origin.serverId === 'slow') {
          clock.t += ms; // silent: the dial runs to its timeout
          throw new Error('timed out');
        }
        return 'ok';
      },
      { dialMs: 3000 },
    );
    assert.equal(target.origin.serverId, 'good');
    assert.deepEqual(
      dialled.map((d) => d.ms),
      [3000, 3000],
      'one full dial time for slow, a fresh one for good',
    );
    assert.deepEqual(router.stats().dials, { ok: 1, failed: 1, skipped: 2, refused: 0 });
  });

  test("refused endpoints cost nothing: the time left goes to the origin's next endpoint", async () => {
    const { router, clock, balancer } = setup();
    await balancer.register(parseRegistration({ ip: '127.0.0.1', server: 'multi', service: 'svc', pid: '1', rtmp: ['1001', '1002', '1003'] }, clock.t));
    const route = await router.route('live/c', 'rtmp', 'publish');
    const t = route.targets;
    assert.equal(route.dialTimeFor(t[0]!, 3000), 3000);
    clock.t += 10; // refused after 10 ms
    assert.equal(route.dialTimeFor(t[1]!, 3000), 2990);
    clock.t += 2000; // the second is slow and fails
    assert.equal(route.dialTimeFor(t[2]!, 3000), 990);
    clock.t += 990;
    assert.equal(route.dialTimeFor(t[2]!, 3000), 0, 'the budget is spent');
    assert.equal(router.stats().dials.skipped, 1);
  });

  test('a silent origin picked first: the request reaches the other origin after one dial time, whatever the endpoint count', async () => {
    const { route, router, clock } = await silentOriginRoute();
    const started = clock.t;
    let spentOnSlow = 0;
    await dialInOrder(
      route,
      async (t, ms) => {
        if (t.origin.serverId !== 'slow') return 'ok';
        clock.t += ms;
        spentOnSlow += ms;
        throw new Error('timed out');
      },
      { dialMs: 1000 },
    );
    assert.equal(spentOnSlow, 1000);
    assert.equal(clock.t - started, 1000);
    assert.deepEqual(router.stats().dials, { ok: 1, failed: 1, skipped: 2, refused: 0 });
  });
});

describe('Router: origin addresses checked again at dial time', () => {
  function withPolicy(answers: Map<string, string[]>, allow?: string) {
    const clock = { t: 1_000_000 };
    const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 1000, now: () => clock.t });
    const lookups: string[] = [];
    const router = new Router({
      balancer,
      log: createLogger({ level: 'silent', format: 'json' }),
      now: () => clock.t,
      originExpireMs: 30_000,
      addressPolicy: {
        allow: allow ? parseCidrList(allow) : undefined,
        lookup: async (host) => {
          lookups.push(host);
          const a = answers.get(host);
          if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
          return a;
        },
      },
    });
    const register = (server: string, ip: string, port: string) =>
      balancer.register(parseRegistration({ ip, server, service: 'svc', pid: '1', rtmp: [port] }, clock.t));
    return { router, register, lookups };
  }

  test('a host name is dialled at the address it resolves to now; once that address is refused, it is not dialled', async () => {
    const answers = new Map([['origin.example', ['127.0.0.7']]]);
    const { router, register, lookups } = withPolicy(answers);
    await register('named', 'origin.example', '1935');
    const first = await router.route('live/a', 'rtmp', 'publish');
    assert.deepEqual(
      first.targets.map((t) => `${t.host}:${t.port}`),
      ['127.0.0.7:1935'],
      'the vetted IP is dialled, not the name',
    );
    // A failed dial puts the endpoint as registered (the name) in backoff, not the address it resolved to.
    first.report(first.targets[0]!, 'fail');
    assert.equal(router.backoff.isDown({ transport: 'tcp', host: 'origin.example', port: 1935 }), true);
    first.release();
    assert.deepEqual(lookups, ['origin.example']);
    // The name now points at the cloud metadata service.
    router.backoff.succeed({ transport: 'tcp', host: 'origin.example', port: 1935 });
    answers.set('origin.example', ['169.254.169.254']);
    await assert.rejects(router.route('live/b', 'rtmp', 'publish'), refusal('unreachable'));
    assert.equal(router.stats().dials.refused, 1);
    // One bad record among good ones is enough (the dialler might pick it).
    answers.set('origin.example', ['127.0.0.7', '0.0.0.0']);
    await assert.rejects(router.route('live/c', 'rtmp', 'publish'), refusal('unreachable'));
    answers.delete('origin.example');
    await assert.rejects(router.route('live/d', 'rtmp', 'publish'), refusal('unreachable'), 'a name that no longer resolves is not dialled');
  });

  test('a refused origin is left out and the request fails over to an origin whose address passes', async () => {
    const answers = new Map([['bad.example', ['224.0.0.1']]]);
    const { router, register } = withPolicy(answers);
    await register('bad', 'bad.example', '1935');
    await register('good', '127.0.0.9', '1936');
    for (let i = 0; i < 12; i++) {
      const route = await router.route(`live/s${i}`, 'rtmp', 'publish');
      assert.deepEqual(
        route.targets.map((t) => `${t.origin.serverId} ${t.host}:${t.port}`),
        ['good 127.0.0.9:1936'],
      );
      route.release();
    }
  });

  test('verdicts on IP literals are kept, host names are resolved again at every route', async () => {
    const answers = new Map([['origin.example', ['127.0.0.7']]]);
    const { router, register, lookups } = withPolicy(answers);
    await register('named', 'origin.example', '1935');
    for (const s of ['a', 'b', 'c']) (await router.route(`live/${s}`, 'rtmp', 'play')).release();
    assert.deepEqual(lookups, ['origin.example', 'origin.example', 'origin.example']);
    await register('named', '224.0.0.1', '1935'); // the same origin, now at a refused literal
    for (const s of ['d', 'e']) await assert.rejects(router.route(`live/${s}`, 'rtmp', 'play'), refusal('unreachable'));
    assert.equal(router.stats().dials.refused, 2, 'a kept refusal is still counted each time');
    await register('named', '127.0.0.8', '1935');
    const route = await router.route('live/f', 'rtmp', 'play');
    assert.deepEqual(
      route.targets.map((t) => `${t.host}:${t.port}`),
      ['127.0.0.8:1935'],
    );
  });

  test('PROXY_ORIGIN_ALLOW_CIDRS applies at dial time too: an origin outside the list (e.g. written to Redis by another proxy) is not dialled', async () => {
    const { router, register } = withPolicy(new Map(), '127.0.0.2/32');
    await register('outside', '127.0.0.1', '1935');
    await assert.rejects(router.route('live/x', 'rtmp', 'play'), refusal('unreachable'));
    await register('inside', '127.0.0.2', '1935');
    const route = await router.route('live/y', 'rtmp', 'play');
    assert.deepEqual(
      route.targets.map((t) => t.origin.serverId),
      ['inside'],
    );
  });
});
