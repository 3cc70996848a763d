import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBalancer } from '../../../src/balancer/memory.js';
import { parseRegistration, type Origin } from '../../../src/balancer/origin.js';
import { reportingRegistrations } from '../../../src/health/balancer-events.js';
import { HealthMonitor } from '../../../src/health/monitor.js';
import { ProbeError, type ProbeDialer } from '../../../src/health/probe-dialer.js';
import { LocalHealthShare } from '../../../src/health/shared.js';
import { createLogger } from '../../../src/log.js';
import { RelayRegistry } from '../../../src/routing/relays.js';
import { FakeTime, flush } from './fake-time.js';

/** Ports listed in `dead` refuse; every other probe succeeds at once. */
class SwitchDialer implements ProbeDialer {
  dead = new Set<number>();
  calls = 0;
  async tcp(_host: string, port: number): Promise<void> {
    this.calls++;
    if (this.dead.has(port)) throw new ProbeError(`connect to 127.0.0.1:${port}: ECONNREFUSED`);
  }
  async httpGet(): Promise<number> {
    return 200;
  }
}

const EXPIRE = 30_000;

function setup(opts: { intervalMs?: number } = {}) {
  const time = new FakeTime();
  const balancer = new MemoryBalancer({ originExpireMs: EXPIRE, sessionTtlMs: 60_000, maxStreamPins: 100, now: time.now });
  const relays = new RelayRegistry();
  const dialer = new SwitchDialer();
  const monitor = new HealthMonitor({
    balancer,
    intervalMs: opts.intervalMs ?? 2000,
    fails: 2,
    originExpireMs: EXPIRE,
    dialer,
    share: new LocalHealthShare(),
    relays,
    log: createLogger({ level: 'silent', format: 'json' }),
    now: time.now,
    timers: time,
  });
  const api = reportingRegistrations(balancer, monitor);
  const register = async (server: string, port: number, extra: Record<string, unknown> = {}, pid = '1'): Promise<Origin> => {
    const o = parseRegistration({ ip: '127.0.0.1', server, service: 'svc', pid, rtmp: [String(port)], ...extra }, time.t);
    await api.register(o);
    return o;
  };
  /** A live relay to `server` whose close is counted. */
  const relay = (server: string, stream = `live/${server}-${relays.size}`) => {
    const r = { closed: 0 };
    relays.register({ originServerId: server, streamKey: stream, close: () => r.closed++ });
    return r;
  };
  /** Advances time in sync-sized steps, letting probes and syncs settle. */
  const run = async (ms: number) => {
    for (let left = ms; left > 0; left -= 100) {
      time.advance(Math.min(100, left));
      await flush();
    }
  };
  return { time, balancer, relays, dialer, monitor, api, register, relay, run };
}

describe('health monitor: states and transitions', () => {
  test('a new origin is up; two failed probes make it down and close its relays; one success brings it back', async () => {
    const { monitor, register, relay, dialer, run, time } = setup();
    const a = await register('a', 1001);
    const b = await register('b', 1002);
    await monitor.start();
    assert.equal(monitor.state(a, time.t), 'up');
    const ra = relay('a');
    const rb = relay('b');
    dialer.dead.add(1001);
    await run(2000);
    assert.equal(monitor.state(a, time.t), 'suspect', 'one failure: suspect, not down');
    assert.equal(ra.closed, 0);
    await run(2000);
    assert.equal(monitor.state(a, time.t), 'down');
    assert.equal(monitor.statusOf(a, time.t).state, 'down');
    assert.match(monitor.statusOf(a, time.t).reason, /ECONNREFUSED/);
    assert.equal(ra.closed, 1, 'the relay to the down origin was closed');
    assert.equal(rb.closed, 0, 'the healthy origin keeps its relays');
    assert.equal(monitor.state(b, time.t), 'up');
    dialer.dead.delete(1001);
    await run(2000);
    assert.equal(monitor.state(a, time.t), 'up');
    await monitor.stop();
  });

  test('missed heartbeats: down after the expiry, relays closed at the next sync', async () => {
    const { monitor, register, relay, run, time } = setup({ intervalMs: 0 });
    const a = await register('a', 1001);
    await monitor.start();
    const r = relay('a');
    await run(EXPIRE - 200);
    assert.equal(monitor.state(a, time.t), 'up');
    assert.equal(r.closed, 0);
    await run(1000);
    const s = monitor.statusOf(a, time.t);
    assert.equal(s.state, 'down');
    assert.match(s.reason, /no heartbeat/);
    assert.equal(s.since, a.updatedAt + EXPIRE);
    assert.equal(r.closed, 1);
    await monitor.stop();
  });

  test('DELETE closes the relays at once', async () => {
    const { monitor, register, relay, api } = setup();
    await register('a', 1001);
    await monitor.start();
    const r = relay('a');
    assert.equal(await api.deregister('a'), true);
    assert.equal(r.closed, 1);
    await monitor.stop();
  });

  test('a restart (same server, new pid) closes the old relays at once', async () => {
    const { monitor, register, relay } = setup();
    await register('a', 1001, {}, '1');
    await monitor.start();
    const r = relay('a');
    await register('a', 1001, {}, '2');
    assert.equal(r.closed, 1);
    await monitor.stop();
  });

  test('a heartbeat without change closes nothing', async () => {
    const { monitor, register, relay, run } = setup();
    await register('a', 1001);
    await monitor.start();
    const r = relay('a');
    for (let i = 0; i < 5; i++) {
      await register('a', 1001);
      await run(1000);
    }
    assert.equal(r.closed, 0);
    await monitor.stop();
  });

  test('drain: no new streams, running relays continue; undrain restores; unknown origin is refused', async () => {
    const { monitor, register, relay, run, time } = setup();
    const a = await register('a', 1001);
    await monitor.start();
    const r = relay('a');
    assert.equal(await monitor.drain('a'), true);
    assert.equal(monitor.state(a, time.t), 'draining');
    const s = monitor.statusOf(a, time.t);
    assert.equal(s.reason, 'drained by API');
    await run(3000);
    assert.equal(monitor.state(a, time.t), 'draining', 'the drain outlives syncs');
    assert.equal(r.closed, 0, 'draining closes nothing');
    assert.equal(await monitor.undrain('a'), true);
    assert.equal(monitor.state(a, time.t), 'up');
    await run(1000);
    assert.equal(monitor.state(a, time.t), 'up');
    assert.equal(await monitor.drain('nope'), false);
    assert.equal(await monitor.undrain('nope'), false);
    await monitor.stop();
  });

  test('a drained origin that goes down is down (and its relays are closed)', async () => {
    const { monitor, register, relay, run, dialer, time } = setup();
    const a = await register('a', 1001);
    await monitor.start();
    const r = relay('a');
    await monitor.drain('a');
    dialer.dead.add(1001);
    await run(4100);
    assert.equal(monitor.state(a, time.t), 'down');
    assert.equal(r.closed, 1);
    await monitor.stop();
  });

  test('probes off (interval 0): nothing is dialled', async () => {
    const { monitor, register, dialer, run } = setup({ intervalMs: 0 });
    await register('a', 1001);
    await monitor.start();
    await run(10_000);
    assert.equal(dialer.calls, 0);
    await monitor.stop();
  });

  test('an origin flapping (3 s down, 3 s up): relays are closed exactly once per down verdict, never while up', async () => {
    const { monitor, register, relays, run, dialer, time } = setup({ intervalMs: 1000 });
    const a = await register('a', 1001);
    await monitor.start();
    const closedIn: string[] = [];
    const reconnect = () => relays.register({ originServerId: 'a', streamKey: 'live/a', close: () => closedIn.push(monitor.state(a, time.t)) });
    reconnect();
    let downs = 0;
    let last = monitor.state(a, time.t);
    await run(500);
    for (let s = 0; s < 30; s++) {
      if (s % 6 < 3) dialer.dead.add(1001);
      else dialer.dead.delete(1001);
      await run(1000);
      const now = monitor.state(a, time.t);
      if (now === 'down' && last !== 'down') downs++;
      last = now;
      if (relays.countByOrigin('a') === 0) reconnect(); // the encoder comes back
    }
    assert.ok(downs >= 4, `the flapping origin was judged down each cycle (${downs})`);
    assert.equal(closedIn.length, downs);
    assert.deepEqual(new Set(closedIn), new Set(['down']));
    await monitor.stop();
  });

  test('load score: relays and reported CPU order origins; weight divides', async () => {
    const { monitor, register, relay, run } = setup();
    const idle = await register('idle', 1001);
    const busy = await register('busy', 1002, { summaries: { data: { ok: true, system: { cpu_percent: 0.9 } } } });
    const heavy = await register('heavy', 1003, { weight: 4 });
    await monitor.start();
    relay('idle');
    relay('heavy');
    await run(600);
    assert.ok(monitor.loadOf(busy) > 5 * monitor.loadOf(idle));
    assert.ok(monitor.loadOf(heavy) < monitor.loadOf(idle));
    const view = monitor.describe({ origin: busy, alive: true, ageMs: 0 });
    assert.equal(view.state, 'up');
    assert.deepEqual(view.load, { cpu: 0.9 });
    await monitor.stop();
  });

  test('a new stream counts in the load at once, then fades as the slower signals catch up', async () => {
    const { time, monitor, register } = setup({ intervalMs: 0 });
    const a = await register('a', 1001);
    const b = await register('b', 1002);
    await monitor.start();
    const base = monitor.loadOf(a);
    assert.equal(monitor.loadOf(b), base);
    // A burst of three new streams on a: b must now look less loaded, or every pick of the burst goes to a.
    for (let i = 0; i < 3; i++) monitor.noteNewStream(a, time.t);
    assert.ok(monitor.loadOf(a) > monitor.loadOf(b) + 2.5, `${monitor.loadOf(a)} vs ${monitor.loadOf(b)}`);
    time.advance(60_000);
    assert.ok(monitor.loadOf(a) - base < 0.01, 'the placements have faded a minute later');
    await monitor.stop();
  });
});

describe('health monitor: the routing state agrees with the listed state', () => {
  test('for up, suspect, down by probe, down by expiry, draining, undrained', async () => {
    const { monitor, register, dialer, run, time } = setup();
    const a = await register('a', 1001);
    await monitor.start();
    const both = () => [monitor.state(a, time.t), monitor.statusOf(a, time.t).state];
    assert.deepEqual(both(), ['up', 'up']);
    dialer.dead.add(1001);
    await run(2000);
    assert.deepEqual(both(), ['suspect', 'up']);
    await run(2000);
    assert.deepEqual(both(), ['down', 'down']);
    dialer.dead.delete(1001);
    await run(2000);
    assert.deepEqual(both(), ['up', 'up']);
    await monitor.drain('a');
    assert.deepEqual(both(), ['draining', 'draining']);
    await run(1000);
    assert.deepEqual(both(), ['draining', 'draining']);
    await monitor.undrain('a');
    assert.deepEqual(both(), ['up', 'up']);
    await run(EXPIRE);
    assert.deepEqual(both(), ['down', 'down']);
    await monitor.stop();
  });
});

describe('health monitor: drains shared between proxies', () => {
  test('a drain undone by another proxy before this one synced is not kept alive by this one', async () => {
    const time = new FakeTime();
    const balancer = new MemoryBalancer({ originExpireMs: EXPIRE, sessionTtlMs: 60_000, maxStreamPins: 100, now: time.now });
    const share = new LocalHealthShare(); // one shared store, two monitors: two proxies
    const make = () =>
      new HealthMonitor({
        balancer,
        intervalMs: 0,
        fails: 2,
        originExpireMs: EXPIRE,
        dialer: new SwitchDialer(),
        share,
        log: createLogger({ level: 'silent', format: 'json' }),
        now: time.now,
        timers: time,
      });
    const a = make();
    const b = make();
    const o = parseRegistration({ ip: '127.0.0.1', server: 's', service: 'svc', pid: '1', rtmp: ['1'] }, time.t);
    await balancer.register(o);
    assert.equal(await a.drain('s'), true);
    assert.equal(a.state(o, time.t), 'draining', 'at once on the proxy that drained');
    await b.sync();
    assert.equal(b.state(o, time.t), 'draining', 'the other proxy after its sync');
    assert.equal(await b.undrain('s'), true);
    await a.sync();
    assert.equal(a.state(o, time.t), 'up', 'the undrain by the other proxy wins');
    assert.equal(a.statusOf(o, time.t).state, 'up');
  });

  test('an origin gone from the list without a DELETE here (Redis restarted empty) keeps its relays while it comes back within the expiry', async () => {
    const { monitor, balancer, register, relay, run } = setup({ intervalMs: 0 });
    await register('a', 1001);
    await register('b', 1002);
    await monitor.start();
    const ra = relay('a');
    const rb = relay('b');
    await run(600);
    // Both records disappear behind the proxy's back (as when Redis restarts without persistence).
    await balancer.deregister('a');
    await balancer.deregister('b');
    await run(5000);
    assert.equal(ra.closed + rb.closed, 0, 'nothing closed while the origins may still come back');
    await register('a', 1001); // a's next heartbeat, 5 s after the records vanished
    await run(EXPIRE - 3000); // b has been gone for more than the expiry; a's heartbeat is still fresh
    assert.equal(ra.closed, 0, 'a came back: its relay lives on');
    assert.equal(rb.closed, 1, 'b stayed gone for the expiry: its relay is closed');
    await monitor.stop();
  });
});
