// The origin lifecycle as an operator reads it in the logs: one info line per transition (first
// registration, restart, down, up, draining, forgotten), none per heartbeat, and no token in any line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBalancer } from '../../../src/balancer/memory.js';
import { parseRegistration } from '../../../src/balancer/origin.js';
import { reportingRegistrations } from '../../../src/health/balancer-events.js';
import { HealthMonitor } from '../../../src/health/monitor.js';
import { ProbeError, type ProbeDialer } from '../../../src/health/probe-dialer.js';
import { LocalHealthShare } from '../../../src/health/shared.js';
import { createLogger } from '../../../src/log.js';
import { FakeTime, flush } from './fake-time.js';

class SwitchDialer implements ProbeDialer {
  dead = new Set<number>();
  async tcp(_host: string, port: number): Promise<void> {
    if (this.dead.has(port)) throw new ProbeError(`connect to 127.0.0.1:${port}: ECONNREFUSED`);
  }
  async httpGet(): Promise<number> {
    return 200;
  }
}

const EXPIRE = 30_000;

interface Line {
  level: string;
  msg: string;
  server?: string;
  origin?: string;
  state?: string;
  was?: string;
  replaced?: string;
  reason?: string;
  version?: string;
}

function setup() {
  const time = new FakeTime();
  const lines: Line[] = [];
  // pino writes each line to the destination synchronously: the test reads them as they come.
  const log = createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) } });
  const balancer = new MemoryBalancer({ originExpireMs: EXPIRE, sessionTtlMs: 60_000, maxStreamPins: 100, now: time.now });
  const dialer = new SwitchDialer();
  const monitor = new HealthMonitor({
    balancer,
    intervalMs: 2000,
    fails: 2,
    originExpireMs: EXPIRE,
    dialer,
    share: new LocalHealthShare(),
    log,
    now: time.now,
    timers: time,
  });
  const api = reportingRegistrations(balancer, monitor);
  const heartbeat = async (server: string, port: number, pid = '1', extra: Record<string, unknown> = {}) =>
    api.register(parseRegistration({ ip: '127.0.0.1', server, service: 'svc', pid, rtmp: [String(port)], ...extra }, time.t, 'SRS/7.0.48(Kai)'));
  const run = async (ms: number) => {
    for (let left = ms; left > 0; left -= 100) {
      time.advance(Math.min(100, left));
      await flush();
    }
  };
  const lifecycle = () => lines.filter((l) => l.msg.startsWith('origin '));
  return { time, lines, lifecycle, balancer, dialer, monitor, api, heartbeat, run };
}

test('each origin transition is one info line; heartbeats add none', async () => {
  const { lifecycle, dialer, monitor, api, heartbeat, run } = setup();
  await monitor.start();
  await heartbeat('a', 1001);
  for (let i = 0; i < 5; i++) {
    await run(1000);
    await heartbeat('a', 1001);
  }
  let got = lifecycle();
  assert.equal(got.length, 1, JSON.stringify(got));
  assert.deepEqual(
    { msg: got[0]!.msg, level: got[0]!.level, server: got[0]!.server, origin: got[0]!.origin, state: got[0]!.state, version: got[0]!.version },
    { msg: 'origin registered', level: 'info', server: 'a', origin: 'a-svc-1', state: 'up', version: '7.0.48' },
  );

  // A restart: same server id, new pid.
  await heartbeat('a', 1001, '2');
  got = lifecycle();
  assert.equal(got.length, 2, JSON.stringify(got));
  assert.equal(got[1]!.msg, 'origin restarted: record replaced');
  assert.equal(got[1]!.origin, 'a-svc-2');
  assert.equal(got[1]!.replaced, 'a-svc-1');

  // Down (probes fail twice), then up again: one line each, however many probes run meanwhile.
  dialer.dead.add(1001);
  for (let i = 0; i < 6; i++) {
    await run(1000);
    await heartbeat('a', 1001, '2');
  }
  dialer.dead.delete(1001);
  for (let i = 0; i < 6; i++) {
    await run(1000);
    await heartbeat('a', 1001, '2');
  }
  got = lifecycle().slice(2);
  assert.deepEqual(
    got.map((l) => [l.msg, l.state, l.was]),
    [
      ['origin state changed', 'down', 'up'],
      ['origin state changed', 'up', 'down'],
    ],
  );
  assert.match(got[0]!.reason ?? '', /ECONNREFUSED/);

  // Draining: the API's line and the state change.
  assert.equal(await monitor.drain('a'), true);
  await run(1000);
  got = lifecycle().slice(4);
  assert.deepEqual(
    got.map((l) => [l.msg, l.state]),
    [
      ['origin draining: no new streams', undefined],
      ['origin state changed', 'draining'],
    ],
  );

  // Removed by the API: forgotten.
  assert.equal(await api.deregister('a'), true);
  got = lifecycle().slice(6);
  assert.deepEqual(
    got.map((l) => [l.msg, l.server, l.reason]),
    [['origin forgotten', 'a', 'removed by API']],
  );
  assert.ok(
    lifecycle().every((l) => l.level === 'info'),
    'all at info',
  );
  await monitor.stop();
});

test('an origin that stops heartbeating goes down once, and is forgotten once its record is gone', async () => {
  const { lifecycle, balancer, monitor, heartbeat, run, time } = setup();
  await monitor.start();
  await heartbeat('b', 1002);
  await run(EXPIRE + 1000);
  assert.deepEqual(
    lifecycle().map((l) => [l.msg, l.state]),
    [
      ['origin registered', 'up'],
      ['origin state changed', 'down'],
    ],
  );
  // The balancer forgets the long-dead record; the monitor says so once it stays gone for the expiry.
  time.advance(EXPIRE * 10);
  await flush();
  balancer.sweep();
  await run(EXPIRE + 2000);
  const got = lifecycle();
  assert.equal(got.length, 3, JSON.stringify(got));
  assert.deepEqual([got[2]!.msg, got[2]!.server, got[2]!.origin, got[2]!.reason], ['origin forgotten', 'b', 'b-svc-1', 'no longer registered']);
  await monitor.stop();
});
