import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { DropCounter, LogBudget } from '../../src/net/drop-counter.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const REASONS = ['unknown-username', 'malformed-stun', 'empty'] as const;

describe('DropCounter', () => {
  test('counts every drop but logs each reason at most once per interval, with the count since its last line', async () => {
    const clock = { t: 10_000 };
    const { log, lines } = capture();
    const drops = new DropCounter(log, REASONS, 'datagrams dropped', () => clock.t, 1000);
    for (let i = 0; i < 500; i++) drops.drop('unknown-username', `10.0.0.1:${5000 + i}`);
    drops.drop('malformed-stun', '10.0.0.2:1', 'length mismatch');
    clock.t += 1000;
    drops.drop('unknown-username', '10.0.0.3:7');
    await new Promise((r) => setImmediate(r));
    assert.equal(drops.count('unknown-username'), 501);
    assert.equal(drops.total(), 502);
    assert.deepEqual(drops.snapshot(), { 'unknown-username': 501, 'malformed-stun': 1, empty: 0 });
    assert.deepEqual(
      lines.map((l) => [l.reason, l.dropped, l.from, l.detail, l.msg]),
      [
        ['unknown-username', 1, '10.0.0.1:5000', undefined, 'datagrams dropped'],
        ['malformed-stun', 1, '10.0.0.2:1', 'length mismatch', 'datagrams dropped'],
        ['unknown-username', 500, '10.0.0.3:7', undefined, 'datagrams dropped'],
      ],
    );
  });

  test('counts without logging when debug is off', () => {
    const drops = new DropCounter(pino({ level: 'silent' }), REASONS, 'x');
    drops.drop('empty', 'a:1');
    assert.equal(drops.count('empty'), 1);
  });
});

test('LogBudget lets through at most N events per interval', () => {
  const clock = { t: 0 };
  const budget = new LogBudget(() => clock.t, 3, 1000);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => budget.allow()),
    [true, true, true, false],
  );
  clock.t = 1000;
  assert.equal(budget.allow(), true);
});
