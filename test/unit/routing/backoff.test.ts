// Passive health: failure backoff per endpoint with an injected clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EndpointBackoff } from '../../../src/routing/backoff.js';

const t = { host: '127.0.0.1', port: 1935, transport: 'tcp' as const };

describe('EndpointBackoff', () => {
  test('1 s after the first failure, doubling per further failure, capped at 30 s; success resets', () => {
    const clock = { now: 0 };
    const b = new EndpointBackoff({ now: () => clock.now });
    assert.equal(b.isDown(t), false);
    const delays = [];
    for (let i = 0; i < 8; i++) delays.push(b.fail(t));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(b.isDown(t), true);
    clock.now += 29_999;
    assert.equal(b.isDown(t), true);
    clock.now += 1;
    assert.equal(b.isDown(t), false, 'back after its backoff, without a success');
    b.succeed(t);
    assert.equal(b.fail(t), 1000, 'a success starts over');
    clock.now += 999;
    assert.equal(b.remainingMs(t), 1);
  });

  test('keyed by transport, host and port', () => {
    const b = new EndpointBackoff({ now: () => 0 });
    b.fail(t);
    assert.equal(b.isDown({ ...t, transport: 'udp' }), false);
    assert.equal(b.isDown({ ...t, port: 1936 }), false);
    assert.equal(b.isDown({ ...t, host: '127.0.0.2' }), false);
  });

  test('bounded: past maxEntries the oldest failure is forgotten', () => {
    const b = new EndpointBackoff({ now: () => 0, maxEntries: 3 });
    for (let port = 1; port <= 5; port++) b.fail({ ...t, port });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((port) => b.isDown({ ...t, port })),
      [false, false, true, true, true],
    );
  });
});
