// The pick policy on its own: standing of a pin, tiers, power-of-two-choices over the load score.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRegistration, type Origin } from '../../../src/balancer/origin.js';
import { EVERY_ORIGIN_UP, type HealthState } from '../../../src/routing/health.js';
import { chooseNew, decidePick, NoServiceError, pinStanding, twoChoices, type PickContext } from '../../../src/routing/policy.js';

const NOW = 1_000_000;
const EXPIRE = 30_000;

function origin(server: string, extra: Record<string, unknown> = {}, heardAt = NOW): Origin {
  return parseRegistration({ ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: ['1935'], ...extra }, heardAt);
}

function ctx(over: Partial<PickContext> = {}, states: Record<string, HealthState> = {}, loads: Record<string, number> = {}): PickContext {
  let seq = 0;
  return {
    streamKey: 'k',
    now: NOW,
    originExpireMs: EXPIRE,
    needs: [],
    health: { state: (o) => states[o.serverId] ?? 'up', loadOf: (o) => loads[o.serverId] ?? 0 },
    live: false,
    randomInt: (n) => seq++ % n,
    ...over,
  };
}

const id = (o: Origin) => o;

describe('pinStanding', () => {
  test('up and alive: keep; stale heartbeat: keep unless another can take it', () => {
    assert.equal(pinStanding(origin('a'), ctx()), 'keep');
    assert.equal(pinStanding(origin('a', {}, NOW - EXPIRE), ctx()), 'keep-unless-other');
  });
  test('suspect and draining keep a live stream only; down never keeps by itself', () => {
    for (const state of ['suspect', 'draining'] as const) {
      assert.equal(pinStanding(origin('a'), ctx({ live: true }, { a: state })), 'keep');
      assert.equal(pinStanding(origin('a'), ctx({ live: false }, { a: state })), 'keep-unless-other');
    }
    assert.equal(pinStanding(origin('a'), ctx({ live: true }, { a: 'down' })), 'keep-unless-other');
  });
  test('an origin without the needed endpoints: lacks-service, whatever its health', () => {
    assert.equal(pinStanding(origin('a'), ctx({ needs: ['srt'] })), 'lacks-service');
    assert.equal(pinStanding(origin('a', { rtc: ['8000'] }), ctx({ needs: ['rtc', 'api'] })), 'lacks-service');
    assert.equal(pinStanding(origin('a', { rtc: ['8000'], api: ['1985'] }), ctx({ needs: ['rtc', 'api'] })), 'keep');
  });
});

describe('decidePick and chooseNew', () => {
  test('tiers: alive+up, then alive+suspect, then stale or down; draining never', () => {
    const up = origin('up');
    const suspect = origin('suspect');
    const stale = origin('stale', {}, NOW - EXPIRE);
    const down = origin('down');
    const draining = origin('draining');
    const states = { suspect: 'suspect', down: 'down', draining: 'draining' } as const;
    const all = [draining, stale, down, suspect, up];
    for (let i = 0; i < 10; i++) assert.equal(chooseNew(all, id, ctx({}, states), () => true, false)?.serverId, 'up');
    assert.equal(chooseNew([draining, stale, suspect], id, ctx({}, states), () => true, false)?.serverId, 'suspect');
    const last = new Set<string>();
    for (let i = 0; i < 10; i++) last.add(chooseNew([draining, stale, down], id, ctx({ randomInt: () => i % 2 }, states), () => true, false)!.serverId);
    assert.ok(!last.has('draining'));
    assert.equal(
      chooseNew([draining], id, ctx({}, states), () => true, false),
      undefined,
    );
    assert.equal(
      chooseNew([stale, down], id, ctx({}, states), () => true, true),
      undefined,
      'moving a pin needs an alive origin',
    );
  });

  test('no origin serves the protocol: NoServiceError without a pinned origin; no origin at all: undefined', () => {
    assert.throws(
      () => decidePick(undefined, [origin('a')], id, ctx({ needs: ['srt'] })),
      (e: unknown) => e instanceof NoServiceError && e.pinnedTo === undefined,
    );
    assert.equal(decidePick(undefined, [], id, ctx({ needs: ['srt'] })), undefined);
  });

  test('a pinned origin lacking the endpoints is refused by name, even when another serves them', () => {
    assert.throws(
      () => decidePick(origin('a'), [origin('a'), origin('s', { srt: ['10080'] })], id, ctx({ needs: ['srt'] })),
      (e: unknown) => e instanceof NoServiceError && e.pinnedTo === 'a' && /registered no srt endpoint/.test(e.message),
    );
  });

  test('a stale pin moves only to an alive origin; with none it is kept', () => {
    const stale = origin('a', {}, NOW - EXPIRE);
    assert.deepEqual(decidePick(stale, [stale], id, ctx()), { keep: true, item: stale });
    const b = origin('b');
    assert.deepEqual(decidePick(stale, [stale, b], id, ctx()), { keep: false, item: b });
  });
});

describe('twoChoices', () => {
  test('one draw gives two distinct uniform candidates; the lower load wins, ties keep the first', () => {
    const items = ['a', 'b', 'c'].map((s) => origin(s));
    const seen = new Map<string, number>();
    // Every value of the single draw: each ordered pair (first, second) exactly once.
    for (let r = 0; r < 6; r++) {
      const chosen = twoChoices(items, id, { health: EVERY_ORIGIN_UP, randomInt: () => r })!;
      seen.set(chosen.serverId, (seen.get(chosen.serverId) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(seen), { a: 2, b: 2, c: 2 }, 'equal loads: uniform');
    const loaded = { state: () => 'up' as const, loadOf: (o: Origin) => (o.serverId === 'a' ? 90 : 10) };
    let a = 0;
    for (let r = 0; r < 6; r++) if (twoChoices(items, id, { health: loaded, randomInt: () => r })!.serverId === 'a') a++;
    assert.equal(a, 0, 'the loaded origin loses every comparison it is in');
  });

  test('10,000 streams over 3 equal origins spread evenly; one at 90 % load gets few', () => {
    const items = ['a', 'b', 'c'].map((s) => origin(s));
    const count = (loads: Record<string, number>) => {
      const c: Record<string, number> = { a: 0, b: 0, c: 0 };
      const health = { state: () => 'up' as const, loadOf: (o: Origin) => loads[o.serverId] ?? 0 };
      for (let i = 0; i < 10_000; i++) c[twoChoices(items, id, { health, randomInt: (n) => Math.floor(Math.random() * n) })!.serverId]!++;
      return c;
    };
    const even = count({});
    for (const k of ['a', 'b', 'c']) assert.ok(Math.abs(even[k]! / 10_000 - 1 / 3) < 0.03, JSON.stringify(even));
    // With a static score the loaded origin loses every comparison; part B's live scores change as streams land.
    assert.equal(count({ a: 90 }).a, 0);
  });
});
