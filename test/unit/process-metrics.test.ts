import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { mergeMetrics, type MetricJson } from '../../src/cluster/aggregate.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { COSTLY_DEFAULT_METRICS } from '../../src/metrics/index.js';
import { GC_BUCKETS_S, GcDurations, LagWindows, ProcStatus, registerProcessMetrics } from '../../src/metrics/process-metrics.js';
import { SeriesSet, textMetric, type SeriesSink } from '../../src/metrics/text-metric.js';
import { parsePromText, samplesOf, valueOf } from '../fixtures/prom-text.js';

/** Works until this process has used `ms` more CPU (a loaded machine may deschedule it meanwhile). */
function burn(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if (used.user + used.system >= ms * 1000) return;
  }
}

/** Blocks the event loop for `ms` (a delay the loop monitor must see). */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const tick = () => new Promise((r) => setTimeout(r, 15));

/** Name → {help, type, aggregator, label names seen} of a registry's metrics. */
async function shapes(registry: Registry): Promise<Map<string, { help: string; type: string; aggregator: string; labels: string[] }>> {
  const out = new Map<string, { help: string; type: string; aggregator: string; labels: string[] }>();
  for (const m of (await registry.getMetricsAsJSON()) as unknown as {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { labels: Record<string, unknown> }[];
  }[]) {
    const labels = [...new Set(m.values.flatMap((v) => Object.keys(v.labels)))].sort();
    out.set(m.name, { help: m.help, type: m.type, aggregator: m.aggregator, labels });
  }
  return out;
}

describe('process metrics (process-metrics.ts)', () => {
  test("prom-client's default metrics, less the costly ones: the same names, help, types, cluster aggregators and label names", async () => {
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    for (const name of COSTLY_DEFAULT_METRICS) theirs.removeSingleMetric(name);
    const ours = new Registry();
    registerProcessMetrics(ours);
    // A GC of each side's observer, so the GC histogram has a series with its labels on both.
    const junk: number[][] = [];
    for (let i = 0; i < 2000 && !(await theirs.getSingleMetricAsString('nodejs_gc_duration_seconds')).includes('_count'); i++) {
      junk.push(new Array<number>(10_000).fill(i));
      if (junk.length > 50) junk.length = 0;
      if (i % 50 === 0) await tick();
    }
    await tick();
    const a = await shapes(theirs);
    const b = await shapes(ours);
    assert.deepEqual([...b.keys()], [...a.keys()], 'the same metrics, in the same order');
    for (const [name, shape] of a) {
      // An empty by-type gauge (no request in flight) shows no labels on either side.
      assert.deepEqual(b.get(name), shape, name);
    }
    assert.equal(a.get('nodejs_gc_duration_seconds')!.labels.join(), 'kind,le');
  });

  test('values are sane: RSS near process.memoryUsage().rss, CPU counters add up and grow, heap used near V8, start time', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const exposition = new Exposition(registry);
    const rss = process.memoryUsage().rss;
    const heapUsed = process.memoryUsage().heapUsed;
    const page = parsePromText(await exposition.text());
    const ourRss = valueOf(page, 'process_resident_memory_bytes');
    assert.ok(ourRss > 0 && Math.abs(ourRss - rss) < rss * 0.2, `RSS ${ourRss} vs memoryUsage ${rss}`);
    assert.ok(valueOf(page, 'process_virtual_memory_bytes') >= ourRss);
    assert.ok(valueOf(page, 'process_heap_bytes') > 0);
    assert.ok(Math.abs(valueOf(page, 'nodejs_heap_size_used_bytes') - heapUsed) < heapUsed * 0.2);
    assert.ok(valueOf(page, 'nodejs_heap_size_total_bytes') >= valueOf(page, 'nodejs_heap_size_used_bytes'));
    assert.ok(valueOf(page, 'nodejs_external_memory_bytes') > 0);
    const started = valueOf(page, 'process_start_time_seconds');
    assert.ok(Math.abs(started - (Date.now() / 1000 - process.uptime())) <= 1, `start time ${started}`);
    assert.ok(valueOf(page, 'process_max_fds') > 0);
    assert.equal(valueOf(page, 'nodejs_version_info', { version: process.version }), 1);
    const spaces = samplesOf(page, 'nodejs_heap_space_size_used_bytes').map((s) => s.labels.space);
    assert.ok(spaces.includes('new') && spaces.includes('old'), spaces.join());
    const cpu = (p: typeof page) => [
      valueOf(p, 'process_cpu_user_seconds_total'),
      valueOf(p, 'process_cpu_system_seconds_total'),
      valueOf(p, 'process_cpu_seconds_total'),
    ];
    const [user, system, total] = cpu(page);
    assert.ok(Math.abs(user! + system! - total!) < 1e-9);
    // The process's total since it started: at least what it used to get here.
    assert.ok(total! > 0.05, `CPU so far ${total}`);
    burn(60);
    const [user2, , total2] = cpu(parsePromText(await exposition.text()));
    assert.ok(total2! - total! >= 0.06, `CPU grew by ${total2! - total!} s over 60 ms of work`);
    assert.ok(user2! >= user!);
  });

  test('event-loop delay: quantiles ordered within min and max, figures repeated within a window and renewed after it', async () => {
    let now = 0;
    const windows = new LagWindows(() => now, 5000);
    for (let i = 0; i < 5; i++) {
      await tick();
      block(30);
    }
    await tick();
    const first = windows.read();
    assert.ok(first.min > 0 && first.min <= first.p50, JSON.stringify(first));
    assert.ok(first.p50 <= first.p90 && first.p90 <= first.p99 && first.p99 <= first.max, JSON.stringify(first));
    assert.ok(first.mean >= first.min && first.mean <= first.max);
    assert.ok(first.stddev > 0);
    assert.ok(first.max >= 0.03, `a 30 ms block shows: max ${first.max}`);
    // Within the window: the same figures, though the loop was blocked again.
    await tick();
    block(80);
    await tick();
    await tick();
    now = 4999;
    assert.equal(windows.read(), first);
    // After it: the delays since the last computation (the 80 ms block among them).
    now = 5000;
    const second = windows.read();
    assert.notEqual(second, first);
    assert.ok(second.max >= 0.08, `max ${second.max}`);
    // The histogram was reset: a window with nothing unusual does not show the 80 ms again.
    for (let i = 0; i < 5; i++) await tick();
    now = 10_000;
    assert.ok(windows.read().max < 0.08);
  });

  test('/proc status: VmRSS, VmSize and VmData in bytes; an unreadable or partial file keeps the last figures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'proc-status-'));
    try {
      const file = join(dir, 'status');
      writeFileSync(
        file,
        'Name:\tnode\nVmPeak:\t 999 kB\nVmSize:\t 1026088 kB\nVmLck:\t       0 kB\nVmRSS:\t   52036 kB\nVmData:\t   86300 kB\nVmStk:\t 132 kB\n',
      );
      const status = new ProcStatus(file);
      assert.deepEqual(status.read(), { rss: 52036 * 1024, size: 1026088 * 1024, data: 86300 * 1024 });
      writeFileSync(file, 'Name:\tnode\nVmSize:\t 5 kB\n');
      assert.deepEqual(status.read(), { rss: 52036 * 1024, size: 1026088 * 1024, data: 86300 * 1024 }, 'partial: last figures');
      rmSync(file);
      assert.equal(status.read().rss, 52036 * 1024, 'gone: last figures');
      assert.ok(new ProcStatus().read().rss > 0, 'this process');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('GC durations: cumulative buckets per kind in the order first seen, +Inf equal to the count', async () => {
    const gc = new GcDurations(false);
    gc.observe('major', 0.5);
    gc.observe('minor', 0.0005);
    gc.observe('minor', 0.02);
    gc.observe('minor', 7);
    gc.observe(undefined, 1);
    const registry = new Registry();
    const name = 'nodejs_gc_duration_seconds';
    textMetric(registry, { name, help: 'h', type: 'histogram', collect: (out) => gc.collect(out) });
    const page = parsePromText(await new Exposition(registry).text());
    assert.deepEqual(
      samplesOf(page, `${name}_bucket`, { kind: 'minor' }).map((s) => [s.labels.le, s.value]),
      [...GC_BUCKETS_S.map(String), '+Inf'].map((le, i) => [le, [1, 1, 2, 2, 2, 2, 3][i]]),
    );
    assert.equal(valueOf(page, `${name}_count`, { kind: 'minor' }), 3);
    assert.ok(Math.abs(valueOf(page, `${name}_sum`, { kind: 'minor' }) - 7.0205) < 1e-9);
    assert.deepEqual([...new Set(page.samples.map((s) => s.labels.kind))], ['major', 'minor']);
  });

  test("worker 0's sum of two processes: memory summed, version first, lag min the smallest, start time left out", async () => {
    const parts: MetricJson[][] = [];
    for (let i = 0; i < 2; i++) {
      const registry = new Registry();
      registerProcessMetrics(registry);
      parts.push((await registry.getMetricsAsJSON()) as unknown as MetricJson[]);
    }
    const single = (i: number, name: string) => (parts[i]!.find((m) => m.name === name)!.values as { value: number }[])[0]!.value;
    const page = parsePromText((await mergeMetrics(parts)).text);
    assert.equal(valueOf(page, 'nodejs_version_info', { version: process.version }), 1);
    assert.equal(valueOf(page, 'process_max_fds'), single(0, 'process_max_fds') + single(1, 'process_max_fds'));
    assert.equal(
      valueOf(page, 'nodejs_eventloop_lag_min_seconds'),
      Math.min(single(0, 'nodejs_eventloop_lag_min_seconds'), single(1, 'nodejs_eventloop_lag_min_seconds')),
    );
    assert.ok(!page.types.has('process_start_time_seconds'));
    assert.ok(valueOf(page, 'process_resident_memory_bytes') > single(0, 'process_resident_memory_bytes'));
  });
});

describe('text metrics (text-metric.ts)', () => {
  test("a block is prom-client's text of the same samples, escaped, and follows every change of value or series", async () => {
    const registry = new Registry();
    let values = [1, 2];
    let reasons = ['a', 'q"uo\\te\nline'];
    const series = new SeriesSet('t_total', ['protocol', 'reason']);
    textMetric(registry, {
      name: 't_total',
      help: 'help with \\ and\nnewline',
      type: 'counter',
      collect: (out: SeriesSink) => reasons.forEach((r, i) => out.add(series.get('', 'rtmp', r), values[i] ?? NaN)),
    });
    const hist = new SeriesSet('t_seconds', ['protocol', 'le']);
    textMetric(registry, {
      name: 't_seconds',
      help: 'h',
      type: 'histogram',
      collect: (out) => {
        out.add(hist.get('_bucket', 'srt', '0.5'), values[0]!);
        out.add(hist.get('_bucket', 'srt', '+Inf'), Infinity);
        out.add(hist.get('_sum', 'srt'), -Infinity);
        out.add(hist.get('_count', 'srt'), 3);
      },
    });
    textMetric(registry, { name: 't_none', help: 'h', type: 'gauge', collect: () => undefined });
    const exposition = new Exposition(registry);
    const same = async () => {
      const text = await exposition.text();
      assert.equal(text, await registry.metrics());
      assert.equal((await exposition.page()).toString(), text);
      parsePromText(text);
      return text;
    };
    const first = await same();
    assert.match(first, /^t_total\{protocol="rtmp",reason="q\\"uo\\\\te\\nline"\} 2$/m);
    assert.match(first, /^t_seconds_bucket\{protocol="srt",le="0.5"\} 1$/m);
    assert.equal(await same(), first);
    values = [1, 5];
    assert.match(await same(), /^t_total\{protocol="rtmp",reason="q\\"uo\\\\te\\nline"\} 5$/m);
    reasons = ['a', 'b', 'c'];
    assert.match(await same(), /^t_total\{protocol="rtmp",reason="c"\} Nan$/m);
    reasons = ['a'];
    const last = await same();
    assert.ok(!last.includes('reason="b"'));
  });

  test('series are made once per label values; a skipped label never aliases another', () => {
    const set = new SeriesSet('m', ['a', 'b']);
    assert.equal(set.get('', 'x', 'y'), set.get('', 'x', 'y'));
    assert.notEqual(set.get('', 'x'), set.get('', undefined, 'x'));
    assert.equal(set.get('', undefined, 'x').prefix, 'm{b="x"} ');
    assert.equal(set.get('_sum', 'x').prefix, 'm_sum{a="x"} ');
    assert.equal(set.get().prefix, 'm ');
    assert.deepEqual(set.get('_bucket', '1', '2').labels, { a: '1', b: '2' });
  });
});
