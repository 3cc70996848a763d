// The console's reading of the Prometheus text format (console/metrics.js, a browser module with no
// DOM use, loaded here as it is in the page): samples summed per name, types, malformed lines skipped.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { REPO_ROOT } from '../fixtures/paths.js';

interface Sample {
  type: string | undefined;
  sum: number;
}
interface MetricsModule {
  parsePrometheus(body: string): Map<string, Sample>;
  chartPlan(samples: Map<string, Sample>): { title: string; series: { name: string; rate: boolean }[] }[];
}

const load = async (): Promise<MetricsModule> => (await import(pathToFileURL(join(REPO_ROOT, 'console', 'metrics.js')).href)) as MetricsModule;

const BODY = [
  '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
  '# TYPE process_cpu_seconds_total counter',
  'process_cpu_seconds_total 1.25',
  '# TYPE nodejs_eventloop_lag_seconds gauge',
  'nodejs_eventloop_lag_seconds 0.004 1700000000000',
  '# TYPE proxy_bytes_total counter',
  'proxy_bytes_total{protocol="rtmp",direction="in"} 1000',
  'proxy_bytes_total{protocol="rtmp",direction="out"} 500',
  'proxy_bytes_total{protocol="a } b",note="quote \\" and brace }"} 25',
  '# TYPE proxy_clients gauge',
  'proxy_clients{protocol="flv",role="play"} 3',
  'proxy_clients{protocol="rtmp",role="publish"} 1',
  '# TYPE proxy_setup_seconds histogram',
  'proxy_setup_seconds_bucket{le="0.1"} 4',
  'proxy_setup_seconds_sum 0.3',
  'proxy_setup_seconds_count 4',
  'garbage line without a value',
  'bad_value{a="b"} NaNx',
  '{no_name="x"} 1',
  '',
].join('\n');

test('samples are summed per metric name across labels, with their declared type', async () => {
  const { parsePrometheus } = await load();
  const m = parsePrometheus(BODY);
  assert.deepEqual(m.get('process_cpu_seconds_total'), { type: 'counter', sum: 1.25 });
  assert.deepEqual(m.get('nodejs_eventloop_lag_seconds'), { type: 'gauge', sum: 0.004 });
  assert.deepEqual(m.get('proxy_bytes_total'), { type: 'counter', sum: 1525 });
  assert.deepEqual(m.get('proxy_clients'), { type: 'gauge', sum: 4 });
  assert.equal(m.get('proxy_setup_seconds_count')?.type, 'histogram');
  assert.equal(m.has('garbage'), false);
  assert.equal(m.has('bad_value'), false);
});

test('the chart plan: byte counters as rates, client gauges as values, CPU and event-loop lag; histograms left out', async () => {
  const { parsePrometheus, chartPlan } = await load();
  const plan = chartPlan(parsePrometheus(BODY));
  assert.deepEqual(
    plan.map((c) => [c.title, c.series.map((s) => [s.name, s.rate])]),
    [
      ['Bytes per second', [['proxy_bytes_total', true]]],
      ['Connections', [['proxy_clients', false]]],
      ['CPU (cores)', [['process_cpu_seconds_total', true]]],
      ['Event loop lag', [['nodejs_eventloop_lag_seconds', false]]],
    ],
  );
  assert.deepEqual(chartPlan(parsePrometheus('')), []);
});
