import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProbeError, type ProbeDialer } from '../../../src/health/probe-dialer.js';
import { Prober, PROBE_PATH, type ProbeTarget, type VerdictChange } from '../../../src/health/prober.js';
import { FakeTime, flush } from './fake-time.js';

/** A dialer whose every call waits until the test settles it. */
class ScriptedDialer implements ProbeDialer {
  calls: {
    kind: 'tcp' | 'http';
    host: string;
    port: number;
    path?: string;
    timeoutMs: number;
    ok: () => void;
    fail: (why: string) => void;
    status: (n: number) => void;
  }[] = [];
  tcp(host: string, port: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.calls.push({ kind: 'tcp', host, port, timeoutMs, ok: resolve, fail: (w) => reject(new ProbeError(w)), status: () => resolve() }),
    );
  }
  httpGet(host: string, port: number, path: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) =>
      this.calls.push({ kind: 'http', host, port, path, timeoutMs, ok: () => resolve(200), fail: (w) => reject(new ProbeError(w)), status: resolve }),
    );
  }
  pending(): number {
    return this.calls.length;
  }
  take() {
    const c = this.calls.shift();
    assert.ok(c, 'expected a probe call');
    return c;
  }
}

const target = (n: number, api = false): ProbeTarget => ({
  originId: `o${n}-svc-1`,
  serverId: `o${n}`,
  rtmp: { host: '127.0.0.1', port: 1000 + n },
  ...(api ? { api: { host: '127.0.0.1', port: 2000 + n } } : {}),
});

function setup(opts: { fails?: number; max?: number; interval?: number } = {}) {
  const time = new FakeTime();
  const dialer = new ScriptedDialer();
  const changes: VerdictChange[] = [];
  const prober = new Prober({
    intervalMs: opts.interval ?? 2000,
    fails: opts.fails ?? 2,
    dialer,
    now: time.now,
    timers: time,
    onChange: (c) => changes.push(c),
    ...(opts.max ? { maxConcurrent: opts.max } : {}),
  });
  return { time, dialer, changes, prober };
}

describe('health prober', () => {
  test('probes a new origin at once, then once per interval', async () => {
    const { time, dialer, prober } = setup();
    prober.setTargets([target(1)]);
    prober.tick();
    assert.equal(dialer.pending(), 1);
    const c = dialer.take();
    assert.deepEqual([c.kind, c.host, c.port, c.timeoutMs], ['tcp', '127.0.0.1', 1001, 2000]);
    c.ok();
    await flush();
    prober.tick();
    assert.equal(dialer.pending(), 0, 'not due again before the interval');
    time.advance(1999);
    prober.tick();
    assert.equal(dialer.pending(), 0);
    time.advance(1);
    prober.tick();
    assert.equal(dialer.pending(), 1);
  });

  test('two failures in a row mark down; one success marks up again', async () => {
    const { time, dialer, changes, prober } = setup();
    prober.setTargets([target(1)]);
    prober.tick();
    dialer.take().fail('connect ECONNREFUSED');
    await flush();
    assert.equal(prober.verdict('o1-svc-1')?.up, true, 'one failure is not enough');
    assert.equal(prober.verdict('o1-svc-1')?.fails, 1);
    time.advance(2000);
    prober.tick();
    dialer.take().fail('connect ECONNREFUSED');
    await flush();
    const down = prober.verdict('o1-svc-1');
    assert.equal(down?.up, false);
    assert.match(down!.reason, /ECONNREFUSED/);
    assert.equal(down!.since, time.t);
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.verdict.up, false);
    time.advance(2000);
    prober.tick();
    dialer.take().ok();
    await flush();
    assert.equal(prober.verdict('o1-svc-1')?.up, true);
    assert.equal(changes.length, 2);
    assert.equal(changes[1]!.verdict.up, true);
  });

  test('a success between failures resets the count', async () => {
    const { time, dialer, changes, prober } = setup({ fails: 2 });
    prober.setTargets([target(1)]);
    for (const outcome of ['fail', 'ok', 'fail', 'ok', 'fail']) {
      prober.tick();
      const c = dialer.take();
      if (outcome === 'ok') c.ok();
      else c.fail('refused');
      await flush();
      time.advance(2000);
    }
    assert.equal(changes.length, 0);
    assert.equal(prober.verdict('o1-svc-1')?.up, true);
  });

  test('a probe that never ends is cut at the interval and counts as a failure; probes never overlap', async () => {
    const { time, dialer, changes, prober } = setup({ fails: 1 });
    prober.setTargets([target(1)]);
    prober.tick();
    assert.equal(prober.inFlight, 1);
    dialer.take(); // never settled: an origin that accepts and says nothing
    time.advance(1000);
    prober.tick();
    assert.equal(dialer.pending(), 0, 'no second probe while the first runs');
    time.advance(1000); // the deadline fires
    await flush();
    assert.equal(prober.inFlight, 0);
    assert.equal(changes.length, 1);
    assert.match(changes[0]!.verdict.reason, /longer than 2000 ms/);
    prober.tick();
    assert.equal(dialer.pending(), 1, 'the next probe starts once the cut one ended');
  });

  test('HTTP API probe: GET /api/v1/versions after the TCP connect; a 5xx fails, a 404 passes', async () => {
    const { time, dialer, prober } = setup({ fails: 1 });
    prober.setTargets([target(1, true)]);
    prober.tick();
    dialer.take().ok();
    await flush();
    const http = dialer.take();
    assert.deepEqual([http.kind, http.port, http.path], ['http', 2001, PROBE_PATH]);
    assert.ok(http.timeoutMs <= 2000 && http.timeoutMs > 0);
    http.status(404);
    await flush();
    assert.equal(prober.verdict('o1-svc-1')?.up, true);
    time.advance(2000);
    prober.tick();
    dialer.take().ok();
    await flush();
    dialer.take().status(503);
    await flush();
    assert.equal(prober.verdict('o1-svc-1')?.up, false);
    assert.match(prober.verdict('o1-svc-1')!.reason, /answered 503/);
  });

  test('an HTTP API that accepts and never answers is cut within the same interval', async () => {
    const { time, dialer, prober } = setup({ fails: 1 });
    prober.setTargets([target(1, true)]);
    prober.tick();
    time.advance(500);
    dialer.take().ok();
    await flush();
    dialer.take(); // never answers
    time.advance(1499);
    await flush();
    assert.equal(prober.inFlight, 1);
    time.advance(1);
    await flush();
    assert.equal(prober.inFlight, 0);
    assert.equal(prober.verdict('o1-svc-1')?.up, false);
  });

  test('concurrency cap: at most N probes in flight, the rest start as slots free up', async () => {
    const { dialer, prober } = setup({ max: 3 });
    prober.setTargets([1, 2, 3, 4, 5, 6, 7].map((n) => target(n)));
    prober.tick();
    assert.equal(prober.inFlight, 3);
    assert.equal(dialer.pending(), 3);
    prober.tick();
    assert.equal(dialer.pending(), 3, 'a tick with every slot taken starts nothing');
    dialer.take().ok();
    dialer.take().ok();
    await flush();
    prober.tick();
    assert.equal(prober.inFlight, 3);
    assert.equal(dialer.pending(), 3);
  });

  test('a removed or restarted origin is forgotten; its late result changes nothing', async () => {
    const { dialer, changes, prober } = setup({ fails: 1 });
    prober.setTargets([target(1)]);
    prober.tick();
    const c = dialer.take();
    prober.setTargets([{ ...target(1), originId: 'o1-svc-2' }]);
    c.fail('refused');
    await flush();
    assert.equal(changes.length, 0);
    assert.equal(prober.verdict('o1-svc-1'), undefined);
    assert.equal(prober.verdict('o1-svc-2')?.up, true);
    assert.equal(prober.size, 1);
  });

  test('a failed probe of an up origin is repeated a quarter interval after it ended, not a whole interval later', async () => {
    const { time, dialer, changes, prober } = setup({ fails: 2, interval: 2000 });
    prober.setTargets([target(1)]);
    prober.tick();
    dialer.take().fail('connect ECONNREFUSED');
    await flush();
    time.advance(499);
    prober.tick();
    assert.equal(dialer.pending(), 0, 'not before the retry delay');
    time.advance(1);
    prober.tick();
    assert.equal(dialer.pending(), 1, 'the confirming probe starts 500 ms after the failure');
    dialer.take().fail('connect ECONNREFUSED');
    await flush();
    assert.equal(changes.length, 1);
    assert.equal(prober.verdict('o1-svc-1')?.up, false);
    // A down origin is probed at its regular pace (no retry storm against a dead host).
    time.advance(1999);
    prober.tick();
    assert.equal(dialer.pending(), 0);
    time.advance(1);
    prober.tick();
    assert.equal(dialer.pending(), 1);
  });

  test('a failure that is cleared by the retry leaves the origin up and back on its regular pace', async () => {
    const { time, dialer, changes, prober } = setup({ fails: 2, interval: 2000 });
    prober.setTargets([target(1)]);
    prober.tick();
    dialer.take().ok();
    await flush();
    time.advance(2000);
    prober.tick();
    dialer.take().fail('timeout');
    await flush();
    time.advance(500);
    prober.tick();
    dialer.take().ok();
    await flush();
    assert.equal(changes.length, 0);
    assert.equal(prober.verdict('o1-svc-1')?.fails, 0);
    time.advance(1999);
    prober.tick();
    assert.equal(dialer.pending(), 0, 'next regular probe an interval after the retry started');
    time.advance(1);
    prober.tick();
    assert.equal(dialer.pending(), 1);
  });

  test('a probe that timed out is confirmed at once (its turn came while it ran)', async () => {
    const { time, dialer, prober } = setup({ fails: 2, interval: 2000 });
    prober.setTargets([target(1)]);
    prober.tick();
    dialer.take(); // never answers
    time.advance(2000);
    await flush();
    assert.equal(prober.verdict('o1-svc-1')?.fails, 1);
    prober.tick();
    assert.equal(dialer.pending(), 1);
  });

  test('worst case with the ticker: an origin refused right after a good probe is down 2.5 s later (interval 2 s), no tick lag', async () => {
    const { time, dialer, changes, prober } = setup({ fails: 2, interval: 2000 });
    prober.setTargets([target(1)]);
    prober.start();
    const t0 = time.t;
    dialer.take().ok();
    await flush();
    // The origin dies now. Time moves only through the ticker's own timers.
    time.advance(1999);
    assert.equal(dialer.pending(), 0);
    time.advance(1);
    assert.equal(dialer.pending(), 1, 'the next probe starts exactly when due');
    dialer.take().fail('connect ECONNREFUSED');
    await flush();
    time.advance(500);
    assert.equal(dialer.pending(), 1, 'the confirming probe starts exactly at the retry delay');
    dialer.take().fail('connect ECONNREFUSED');
    await flush();
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.verdict.since - t0, 2500);
    prober.stop();
  });

  test('with every probe slot taken, a due probe starts as soon as one frees (no tick wait)', async () => {
    const { time, dialer, prober } = setup({ max: 1, interval: 2000 });
    prober.setTargets([target(1), target(2)]);
    prober.start();
    assert.equal(dialer.pending(), 1);
    time.advance(100);
    assert.equal(dialer.pending(), 1);
    dialer.take().ok();
    await flush();
    assert.equal(dialer.pending(), 0);
    time.advance(0);
    assert.equal(dialer.pending(), 1, 'the waiting probe started when the slot freed');
    prober.stop();
  });

  test('start/stop: the ticker probes on its own and stops cleanly', async () => {
    const { time, dialer, prober } = setup({ interval: 400 });
    prober.setTargets([target(1)]);
    prober.start();
    assert.equal(dialer.pending(), 1);
    dialer.take().ok();
    await flush();
    time.advance(400);
    assert.equal(dialer.pending(), 1);
    prober.stop();
    dialer.take().ok();
    await flush();
    time.advance(10_000);
    assert.equal(dialer.pending(), 0);
    assert.equal(time.timerCount, 0);
  });
});
