// The careful-origin memory (BEHAVIOUR.md §4.5): bounded in entries under a flood of distinct endpoints,
// least recently remembered dropped first, forgotten after its time, and looking does not extend it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CAREFUL_ORIGINS_MAX, CAREFUL_ORIGINS_TTL_MS, CarefulOrigins } from '../../../src/rtmp/careful-origins.js';

const at = (port: number, host = '10.0.0.1') => ({ host, port });

describe('CarefulOrigins', () => {
  test(`a flood of 20,000 distinct endpoints keeps at most ${CAREFUL_ORIGINS_MAX}; the newest stay, the oldest go`, () => {
    const c = new CarefulOrigins({ now: () => 0 });
    for (let i = 0; i < 20_000; i++) {
      c.remember(at(1 + (i % 60_000), `10.0.${i >> 8}.${i & 255}`));
      assert.ok(c.size <= CAREFUL_ORIGINS_MAX);
    }
    assert.equal(c.size, CAREFUL_ORIGINS_MAX);
    const last = 19_999;
    assert.ok(c.has(at(1 + (last % 60_000), `10.0.${last >> 8}.${last & 255}`)));
    assert.ok(!c.has(at(1, '10.0.0.0')), 'the first one was displaced');
  });

  test('remembering again moves an endpoint to the back of the queue', () => {
    const c = new CarefulOrigins({ max: 3, now: () => 0 });
    c.remember(at(1));
    c.remember(at(2));
    c.remember(at(3));
    c.remember(at(1));
    c.remember(at(4));
    assert.deepEqual(
      [1, 2, 3, 4].map((p) => c.has(at(p))),
      [true, false, true, true],
    );
  });

  test('host and port both name the endpoint', () => {
    const c = new CarefulOrigins({ now: () => 0 });
    c.remember(at(1935, '::1'));
    assert.ok(c.has(at(1935, '::1')));
    assert.ok(!c.has(at(1936, '::1')));
    assert.ok(!c.has(at(1935, '127.0.0.1')));
  });

  test('an endpoint is forgotten after its time; looking at it does not extend it', () => {
    let now = 1000;
    const c = new CarefulOrigins({ now: () => now });
    c.remember(at(1));
    now += CAREFUL_ORIGINS_TTL_MS - 1;
    assert.ok(c.has(at(1)));
    now += 1;
    assert.ok(!c.has(at(1)), 'expired exactly at the TTL, although it was looked at');
    // Expired entries are swept when another is remembered.
    c.remember(at(2));
    assert.equal(c.size, 1);
  });
});
