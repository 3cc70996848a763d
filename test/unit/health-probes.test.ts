// The decisions behind /healthz and /readyz, with fake inputs; and the event-loop monitor against a
// real blocked loop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { balancerReadiness, liveness, readiness, type ReadinessState } from '../../src/api/health-api.js';
import { EventLoopMonitor } from '../../src/api/event-loop.js';

const READY: ReadinessState = { unbound: [], balancer: { usable: true, mode: 'memory' }, draining: false };

describe('liveness', () => {
  test('a responsive loop is alive; the delay is reported', () => {
    assert.deepEqual(liveness(12.4, 1000), { status: 200, body: { code: 0, status: 'alive', eventLoopDelayMs: 12 } });
  });

  test('at the limit is still alive, above it is 503 naming the delay and the limit', () => {
    assert.equal(liveness(1000, 1000).status, 200);
    const v = liveness(1500, 1000);
    assert.equal(v.status, 503);
    assert.equal(v.body.code, 503);
    assert.equal(v.body.reason, 'event-loop-delay');
    assert.match(String(v.body.error), /1500 ms is above 1000 ms/);
  });
});

describe('readiness', () => {
  test('all bound, balancer usable, not draining → 200 with the balancer mode', () => {
    assert.deepEqual(readiness(READY), { status: 200, body: { code: 0, status: 'ready', balancer: 'memory' } });
  });

  test('unbound listeners are named by their variables', () => {
    const v = readiness({ ...READY, unbound: ['PROXY_HTTP_SERVER', 'PROXY_SRT_SERVER'] });
    assert.equal(v.status, 503);
    assert.equal(v.body.reason, 'listeners');
    assert.match(String(v.body.error), /PROXY_HTTP_SERVER, PROXY_SRT_SERVER/);
  });

  test('an unusable balancer is 503 with its detail', () => {
    const v = readiness({ ...READY, balancer: balancerReadiness('reconnecting', false) });
    assert.equal(v.status, 503);
    assert.equal(v.body.reason, 'balancer');
    assert.match(String(v.body.error), /Redis is not connected \(reconnecting\)/);
  });

  test('draining wins over every other cause', () => {
    const v = readiness({ unbound: ['PROXY_RTMP_SERVER'], balancer: balancerReadiness('close', false), draining: true });
    assert.equal(v.status, 503);
    assert.equal(v.body.reason, 'draining');
  });
});

describe('balancer readiness', () => {
  test('memory is always usable', () => {
    assert.deepEqual(balancerReadiness(undefined, false), { usable: true, mode: 'memory' });
  });

  test('Redis connected is usable whatever the fallback', () => {
    assert.deepEqual(balancerReadiness('ready', false), { usable: true, mode: 'redis' });
    assert.deepEqual(balancerReadiness('ready', true), { usable: true, mode: 'redis' });
  });

  test('Redis away: unusable without the fallback, usable (fallback mode) with it', () => {
    for (const status of ['connecting', 'reconnecting', 'close', 'end']) {
      assert.equal(balancerReadiness(status, false).usable, false, status);
      assert.deepEqual(balancerReadiness(status, true), { usable: true, mode: 'redis-fallback' });
    }
  });
});

describe('event-loop monitor', () => {
  test('a loop blocked for 1.5 s shows a delay above 1 s; an idle one does not', async () => {
    const m = new EventLoopMonitor(60_000);
    m.start();
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(m.delayMs() < 1000, `idle delay ${m.delayMs()}`);
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // block the loop on purpose
      }
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(m.delayMs() > 1000, `delay after blocking ${m.delayMs()}`);
    } finally {
      m.stop();
    }
  });
});
