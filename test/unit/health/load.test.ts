import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseRegistration, RegisterError } from '../../../src/balancer/origin.js';
import { LoadReportError, loadScore, MAX_WEIGHT, parseSummaries, parseWeight } from '../../../src/health/load.js';

/** The shape SRS sends with `summaries on` (values as SRS reports them: cpu as a fraction). */
const srsSummaries = (system: Record<string, unknown>, self: Record<string, unknown> = {}) => ({
  data: { ok: true, now_ms: 1_700_000_000_000, self: { version: '6.0.0', pid: 1, cpu_percent: 0.02, mem_percent: 0.01, ...self }, system },
});

describe('heartbeat summaries', () => {
  test('reads CPU, load per CPU and connections from the SRS shape', () => {
    const load = parseSummaries(srsSummaries({ cpu_percent: 0.9, load_1m: 3, cpus: 4, cpus_online: 2, conn_srs: 120, conn_sys: 400 }));
    assert.deepEqual(load, { cpu: 0.9, loadPerCpu: 1.5, connections: 120 });
  });

  test('falls back to the process CPU when the host CPU is missing; accepts the bare {self, system} form', () => {
    assert.deepEqual(parseSummaries({ self: { cpu_percent: 0.3 }, system: {} }), { cpu: 0.3 });
  });

  test('absurd numbers are clamped', () => {
    const load = parseSummaries(srsSummaries({ cpu_percent: 1e300, load_1m: 1e9, cpus_online: 0, conn_srs: 1e15 }));
    assert.deepEqual(load, { cpu: 1, loadPerCpu: 64, connections: 10_000_000 });
  });

  test('wrong types, negatives and non-finite values are dropped, not trusted', () => {
    for (const bad of ['0.5', -1, null, true, [0.5], { v: 1 }, Number.NaN]) {
      assert.equal(parseSummaries(srsSummaries({ cpu_percent: bad, load_1m: bad, conn_srs: bad }, { cpu_percent: bad })), undefined, String(bad));
    }
  });

  test('`ok: false` (SRS could not sample) means no figures', () => {
    assert.equal(parseSummaries({ data: { ok: false, system: { cpu_percent: 0.5 } } }), undefined);
  });

  test('not an object, or absurdly nested: LoadReportError', () => {
    for (const bad of ['x', 5, [1, 2]]) assert.throws(() => parseSummaries(bad), LoadReportError);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) deep = { data: deep };
    assert.throws(() => parseSummaries(deep), LoadReportError);
  });

  test('property: never throws anything but LoadReportError; figures always in range', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        try {
          const l = parseSummaries(v);
          if (l?.cpu !== undefined) assert.ok(l.cpu >= 0 && l.cpu <= 1);
          if (l?.loadPerCpu !== undefined) assert.ok(l.loadPerCpu >= 0 && l.loadPerCpu <= 64);
          if (l?.connections !== undefined) assert.ok(Number.isInteger(l.connections) && l.connections >= 0);
        } catch (err) {
          assert.ok(err instanceof LoadReportError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('origin weight', () => {
  test('numbers and numeric strings in range', () => {
    assert.equal(parseWeight(2), 2);
    assert.equal(parseWeight('0.5'), 0.5);
    assert.equal(parseWeight(undefined), undefined);
    assert.equal(parseWeight(MAX_WEIGHT), MAX_WEIGHT);
  });
  test('out of range or wrong type', () => {
    for (const bad of [0, -1, 101, Number.POSITIVE_INFINITY, 'heavy', '1e3', true, [], {}]) {
      assert.throws(() => parseWeight(bad), LoadReportError, String(bad));
    }
  });
});

describe('register body: summaries and weight', () => {
  const body = { ip: '10.0.0.1', server: 's1', service: 'x', pid: '1', rtmp: ['1935'] };
  test('SRS summaries reach the origin record', () => {
    const o = parseRegistration({ ...body, summaries: srsSummaries({ cpu_percent: 0.25, conn_srs: 7 }) }, 0);
    assert.deepEqual(o.load, { cpu: 0.25, connections: 7 });
    assert.equal(o.weight, undefined);
  });
  test('unreadable summaries are ignored (the heartbeat still counts)', () => {
    const o = parseRegistration({ ...body, summaries: 'garbage' }, 0);
    assert.equal(o.load, undefined);
  });
  test('a bad weight refuses the registration naming the field', () => {
    assert.throws(
      () => parseRegistration({ ...body, weight: 1000 }, 0),
      (e: Error) => e instanceof RegisterError && /weight/.test(e.message),
    );
    assert.throws(() => parseRegistration({ ...body, weight: 'x' }, 0), RegisterError);
    assert.equal(parseRegistration({ ...body, weight: 3 }, 0).weight, 3);
  });
});

describe('load score', () => {
  test('equal origins score equally; connections, CPU and weight order them', () => {
    assert.equal(loadScore(undefined, 0), loadScore(undefined, 0));
    assert.ok(loadScore(undefined, 5) > loadScore(undefined, 1));
    assert.ok(loadScore({ cpu: 0.9 }, 0) >= 9 * loadScore({ cpu: 0 }, 0));
    assert.ok(loadScore(undefined, 4, 2) < loadScore(undefined, 4, 1));
    assert.ok(loadScore({ connections: 100 }, 3) > loadScore({ connections: 3 }, 3), 'the larger of reported and relayed counts');
  });
  test('stays finite at 100 % CPU', () => {
    assert.ok(Number.isFinite(loadScore({ cpu: 1 }, 1_000_000, 0.01)));
  });
});
