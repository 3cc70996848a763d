import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerOutcome } from '../../src/api/system-api.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration } from '../../src/balancer/origin.js';
import { createLogger } from '../../src/log.js';
import { COSTLY_DEFAULT_METRICS, proxyMetrics, ProxyMetrics } from '../../src/metrics/index.js';
import { MAX_REASONS, registerServiceMetrics, type StatsSource } from '../../src/metrics/service-metrics.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { registerOriginClientMetrics } from '../../src/metrics/origin-client-metrics.js';
import { histogramSamples, snapshotMetric, type Sample } from '../../src/metrics/snapshot-metric.js';
import { HttpError } from '../../src/net/http-util.js';
import { OriginAddressError } from '../../src/net/address-policy.js';
import { emptyProtocolStats, SETUP_BUCKETS_S, type ServiceStats } from '../../src/net/service-stats.js';
import type { HealthState } from '../../src/routing/health.js';
import { RelayRegistry } from '../../src/routing/relays.js';
import { Router } from '../../src/routing/router.js';
import { parsePromText, samplesOf, valueOf } from '../fixtures/prom-text.js';

const silent = createLogger({ level: 'silent', format: 'json' });

async function scrape(registry: Registry) {
  return parsePromText(await registry.metrics());
}

/** A service reporting the given ServiceStats (built from emptyProtocolStats). */
const service = (stats: ServiceStats): StatsSource => ({ stats: () => stats });

describe('metrics: protocol services', () => {
  test('setup times are a Prometheus histogram: cumulative le buckets, +Inf equal to _count, _sum', async () => {
    const rtmp = emptyProtocolStats();
    for (const s of [0.004, 0.02, 0.02, 0.3, 7, 99]) rtmp.setup.observe(s);
    const registry = new Registry();
    registerServiceMetrics(registry, () => [service({ rtmp })]);
    const page = await scrape(registry);
    assert.equal(page.types.get('origin_proxy_client_setup_seconds'), 'histogram');
    const buckets = samplesOf(page, 'origin_proxy_client_setup_seconds_bucket', { protocol: 'rtmp' });
    assert.deepEqual(
      buckets.map((b) => b.labels.le),
      [...SETUP_BUCKETS_S.map(String), '+Inf'],
    );
    const at = (le: string) => buckets.find((b) => b.labels.le === le)!.value;
    assert.equal(at('0.005'), 1);
    assert.equal(at('0.025'), 3);
    assert.equal(at('0.5'), 4);
    assert.equal(at('10'), 5);
    assert.equal(at('+Inf'), 6);
    assert.equal(valueOf(page, 'origin_proxy_client_setup_seconds_count', { protocol: 'rtmp' }), 6);
    assert.ok(Math.abs(valueOf(page, 'origin_proxy_client_setup_seconds_sum', { protocol: 'rtmp' }) - 106.344) < 1e-9);
  });

  test('clients, bytes, refusals and drops by protocol and role; a protocol two services report is summed', async () => {
    const flv = emptyProtocolStats();
    flv.active.play = 3;
    flv.active.pending = 1;
    flv.total.play = 10;
    flv.bytes.out = 5000;
    flv.refused['no-origin'] = 2;
    const flvTwin = emptyProtocolStats();
    flvTwin.active.play = 2;
    flvTwin.bytes.out = 100;
    flvTwin.refused['no-origin'] = 1;
    const srt = emptyProtocolStats();
    srt.active.publish = 1;
    srt.total.publish = 4;
    srt.bytes.in = 777;
    srt.dropped['unknown-session'] = 9;
    const registry = new Registry();
    registerServiceMetrics(registry, () => [service({ flv, srt }), service({ flv: flvTwin })]);
    const page = await scrape(registry);
    assert.equal(valueOf(page, 'origin_proxy_clients_active', { protocol: 'flv', role: 'play' }), 5);
    assert.equal(valueOf(page, 'origin_proxy_clients_active', { protocol: 'flv', role: 'pending' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_clients_active', { protocol: 'srt', role: 'publish' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_clients_total', { protocol: 'flv', role: 'play' }), 10);
    assert.equal(valueOf(page, 'origin_proxy_clients_total', { protocol: 'srt', role: 'publish' }), 4);
    assert.equal(valueOf(page, 'origin_proxy_client_bytes_total', { protocol: 'flv', direction: 'out' }), 5100);
    assert.equal(valueOf(page, 'origin_proxy_client_bytes_total', { protocol: 'srt', direction: 'in' }), 777);
    assert.equal(valueOf(page, 'origin_proxy_client_refusals_total', { protocol: 'flv', reason: 'no-origin' }), 3);
    assert.equal(valueOf(page, 'origin_proxy_dropped_total', { protocol: 'srt', reason: 'unknown-session' }), 9);
    assert.equal(page.types.get('origin_proxy_clients_total'), 'counter');
    assert.equal(page.types.get('origin_proxy_clients_active'), 'gauge');
  });

  test('values are read at scrape time: a later scrape sees the counters as they are then', async () => {
    const rtmp = emptyProtocolStats();
    const registry = new Registry();
    registerServiceMetrics(registry, () => [service({ rtmp })]);
    assert.equal(valueOf(await scrape(registry), 'origin_proxy_clients_active', { protocol: 'rtmp', role: 'publish' }), 0);
    rtmp.active.publish = 1;
    assert.equal(valueOf(await scrape(registry), 'origin_proxy_clients_active', { protocol: 'rtmp', role: 'publish' }), 1);
  });

  test('label values stay bounded: odd protocol or reason strings become "other", reasons are capped per protocol', async () => {
    const odd = emptyProtocolStats();
    odd.refused['live/<img src=x>'] = 1;
    for (let i = 0; i < MAX_REASONS + 10; i++) odd.refused[`reason-${i}`] = 1;
    const registry = new Registry();
    registerServiceMetrics(registry, () => [service({ 'vhost/app/stream-marker': odd })]);
    const page = await scrape(registry);
    const refusals = samplesOf(page, 'origin_proxy_client_refusals_total');
    assert.ok(refusals.every((s) => s.labels.protocol === 'other'));
    assert.ok(refusals.length <= MAX_REASONS + 1, `${refusals.length} reason series`);
    assert.equal(
      refusals.reduce((n, s) => n + s.value, 0),
      MAX_REASONS + 11,
      'nothing is lost, only folded',
    );
    assert.ok(!(await registry.metrics()).includes('stream-marker'));
  });

  test('a service whose stats() has another shape is left out, not misread', async () => {
    const rtmp = emptyProtocolStats();
    rtmp.active.play = 1;
    const registry = new Registry();
    const old = { stats: () => ({ sessions: 4, drops: { x: 1 } }) } as unknown as StatsSource;
    registerServiceMetrics(registry, () => [old, service({ rtmp })]);
    const page = await scrape(registry);
    assert.deepEqual(new Set(page.samples.filter((s) => s.labels.protocol).map((s) => s.labels.protocol)), new Set(['rtmp']));
  });
});

describe('metrics: the HLS/DASH origin client', () => {
  test('connections by state and requests waiting, read at scrape time, with no origin label', async () => {
    let state = { open: 0, idle: 0, waiting: 0 };
    const registry = new Registry();
    registerOriginClientMetrics(registry, { stats: () => state });
    const exposition = new Exposition(registry);
    let page = await scrape(registry);
    assert.equal(page.types.get('origin_proxy_origin_connections'), 'gauge');
    assert.equal(page.types.get('origin_proxy_origin_requests_waiting'), 'gauge');
    assert.equal(valueOf(page, 'origin_proxy_origin_connections', { state: 'busy' }), 0);
    assert.equal(valueOf(page, 'origin_proxy_origin_requests_waiting', {}), 0);
    state = { open: 256, idle: 3, waiting: 255 };
    page = await scrape(registry);
    assert.equal(valueOf(page, 'origin_proxy_origin_connections', { state: 'busy' }), 253);
    assert.equal(valueOf(page, 'origin_proxy_origin_connections', { state: 'idle' }), 3);
    assert.equal(valueOf(page, 'origin_proxy_origin_requests_waiting', {}), 255);
    for (const s of [...samplesOf(page, 'origin_proxy_origin_connections'), ...samplesOf(page, 'origin_proxy_origin_requests_waiting')]) {
      assert.deepEqual(
        Object.keys(s.labels).filter((l) => l !== 'state'),
        [],
      );
    }
    // The page of one process (text blocks) says the same as prom-client's formatting.
    assert.equal(await exposition.text(), await registry.metrics());
  });
});

describe('metrics: exposition helpers', () => {
  test('a snapshot metric exposes what its read returns, escaped', async () => {
    const registry = new Registry();
    snapshotMetric(registry, { name: 't_gauge', help: 'h', type: 'gauge', read: () => [{ labels: { a: 'x"y\\z' }, value: 2 }] });
    snapshotMetric(registry, {
      name: 't_hist',
      help: 'h',
      type: 'histogram',
      read: () => histogramSamples('t_hist', { k: 'v' }, [1, 2], [1, 3, 4], 9.5, 4),
    });
    const page = await scrape(registry);
    assert.equal(valueOf(page, 't_gauge', { a: 'x"y\\z' }), 2);
    assert.equal(valueOf(page, 't_hist_bucket', { le: '2' }), 3);
    assert.equal(valueOf(page, 't_hist_bucket', { le: '+Inf' }), 4);
    assert.equal(valueOf(page, 't_hist_count'), 4);
  });

  test("the proxy's own page formatting is byte for byte prom-client's, and a reused family text follows its values", async () => {
    const registry = new Registry();
    let value = 1;
    let labels: Record<string, string | number> = { a: 'plain', b: 'q"uo\\te\nline' };
    snapshotMetric(registry, { name: 't_gauge', help: 'help with \\ and\nnewline', type: 'gauge', read: () => [{ labels, value }, { value: NaN }] });
    snapshotMetric(registry, {
      name: 't_inf',
      help: 'h',
      type: 'counter',
      read: (): Sample[] => [
        { labels: {}, value: Infinity },
        { labels: { x: 1 }, value: -Infinity },
      ],
    });
    snapshotMetric(registry, { name: 't_empty', help: 'h', type: 'gauge', read: () => [] });
    snapshotMetric(registry, {
      name: 't_hist',
      help: 'h',
      type: 'histogram',
      read: () => histogramSamples('t_hist', { k: 'v' }, [0.5, 2], [1, 3, 4], 9.25, 4),
    });
    // A prom-client metric of its own kind in the same registry goes through prom-client.
    // prom-client's own metrics (process metrics, the register counter) are formatted the same way.
    const counter = new Counter({ name: 't_native_total', help: 'n', labelNames: ['l'], registers: [registry] });
    counter.inc({ l: 'x' }, 3);
    const histogram = new Histogram({ name: 't_native_seconds', help: 'n', labelNames: ['kind'], buckets: [0.1, 1], registers: [registry] });
    histogram.observe({ kind: 'minor' }, 0.05);
    new Gauge({ name: 't_native_gauge', help: 'n', registers: [registry] }).set(1.5);
    const exposition = new Exposition(registry);
    const same = async () => assert.equal(await exposition.text(), await registry.metrics());
    await same();
    // Unchanged samples are answered from the held text; any change (value, label value, label set) is seen.
    await same();
    value = 2;
    await same();
    labels = { a: 'plain', b: 'other' };
    await same();
    labels = { a: 'plain' };
    await same();
    labels = { a: 'plain', c: 'new' };
    await same();
    counter.inc({ l: 'y' });
    histogram.observe({ kind: 'major' }, 3);
    await same();
    // prom-client changes an existing series' sample object in place: the held text must not follow it by identity.
    counter.inc({ l: 'x' }, 2);
    await same();
    assert.match(await exposition.text(), /^t_native_total\{l="x"\} 5$/m);
    histogram.observe({ kind: 'minor' }, 0.5);
    await same();
    assert.match(await exposition.text(), /^t_native_seconds_count\{kind="minor"\} 2$/m);
    assert.match(await exposition.text(), /^t_gauge\{a="plain",c="new"\} 2$/m);
  });

  test('register outcomes come from the error the handler threw', () => {
    assert.equal(registerOutcome(new HttpError(400, 'x')), 'bad-request');
    assert.equal(registerOutcome(new HttpError(401, 'x')), 'unauthorized');
    assert.equal(registerOutcome(new HttpError(413, 'x')), 'too-large');
    assert.equal(registerOutcome(new HttpError(403, 'x', 403, { cause: new OriginAddressError('x', 'loopback') })), 'address-refused');
    assert.equal(registerOutcome(new HttpError(403, 'origin limit reached')), 'origin-limit');
    assert.equal(registerOutcome(new HttpError(503, 'x')), 'unavailable');
    assert.equal(registerOutcome(new Error('boom')), 'error');
  });
});

describe('metrics: routing and origins', () => {
  // Distinct ports per origin: endpoint backoff is per address.
  const origin = (server: string, at: number) => {
    const n = server.charCodeAt(0);
    return parseRegistration({ ip: '127.0.0.1', server, service: 's', pid: '1', rtmp: [`127.0.0.1:${1000 + n}`], http: [`127.0.0.1:${2000 + n}`] }, at);
  };

  test('origins by state, dial failures per registered origin (forgotten with the origin), relays, pins and sessions', async () => {
    let t = 1_000_000;
    const now = () => t;
    const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 100, now });
    const relays = new RelayRegistry();
    const router = new Router({ balancer, relays, log: silent, originExpireMs: 30_000, now });
    const states = new Map<string, HealthState>([
      ['a', 'up'],
      ['b', 'suspect'],
      ['c', 'draining'],
    ]);
    const metrics = proxyMetrics({
      balancer,
      router,
      health: { state: (o) => states.get(o.serverId) ?? 'down' },
      services: () => [],
      now,
    });
    for (const s of ['a', 'b', 'c', 'd']) await balancer.register(origin(s, t));
    const a = (await balancer.origins()).find((v) => v.origin.serverId === 'a')!.origin;
    const b = (await balancer.origins()).find((v) => v.origin.serverId === 'b')!.origin;
    router.report(router.targetsOf(a, 'rtmp')[0]!, 'fail');
    router.report(router.targetsOf(b, 'rtmp')[0]!, 'fail');
    router.report(router.targetsOf(b, 'http')[0]!, 'fail');
    router.report(router.targetsOf(a, 'http')[0]!, 'ok');
    const handle = relays.register({ originServerId: 'a', streamKey: 'live/secret-stream', close: () => undefined });
    await balancer.pick('live/secret-stream');
    await balancer.putRtcSession({ ufrag: 'u1', streamKey: 'live/secret-stream' });
    await balancer.hlsSession('live/secret-stream', 'http://x/live/secret-stream.m3u8');

    let page = parsePromText((await metrics.scrape()).text);
    assert.equal(valueOf(page, 'origin_proxy_origins', { state: 'up' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origins', { state: 'suspect' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origins', { state: 'draining' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origins', { state: 'down' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origin_dial_failures_total', { server: 'a' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origin_dial_failures_total', { server: 'b' }), 2);
    assert.equal(valueOf(page, 'origin_proxy_dials_total', { outcome: 'failed' }), 3);
    assert.equal(valueOf(page, 'origin_proxy_dials_total', { outcome: 'ok' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origin_relays', { server: 'a' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_stream_pins'), 1);
    assert.equal(valueOf(page, 'origin_proxy_webrtc_sessions'), 1);
    assert.equal(valueOf(page, 'origin_proxy_hls_sessions'), 1);
    assert.ok(!(await metrics.scrape()).text.includes('secret-stream'), 'no stream name in any label');

    await balancer.deregister('b');
    handle.release();
    t += 200;
    page = parsePromText((await metrics.scrape()).text);
    assert.deepEqual(
      samplesOf(page, 'origin_proxy_origin_dial_failures_total').map((s) => s.labels.server),
      ['a'],
      'a forgotten origin leaves no series',
    );
    assert.deepEqual(samplesOf(page, 'origin_proxy_origin_relays'), []);
    await balancer.close();
  });

  test('register calls by result; process metrics (event-loop lag) in the same registry, none in the global one', async () => {
    const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 100 });
    const metrics = proxyMetrics({
      balancer,
      router: new Router({ balancer, log: silent, originExpireMs: 30_000 }),
      health: { state: () => 'up' },
      services: () => [],
    });
    metrics.noteRegister('ok');
    metrics.noteRegister('ok');
    metrics.noteRegister('unauthorized');
    const page = parsePromText((await metrics.scrape()).text);
    assert.equal(valueOf(page, 'origin_proxy_register_calls_total', { result: 'ok' }), 2);
    assert.equal(valueOf(page, 'origin_proxy_register_calls_total', { result: 'unauthorized' }), 1);
    assert.ok(page.types.has('nodejs_eventloop_lag_seconds'));
    assert.ok(page.types.has('process_cpu_seconds_total'));
    // Left out: their cost per scrape grows with every open socket.
    for (const name of COSTLY_DEFAULT_METRICS) assert.ok(!page.types.has(name), name);
    // Two proxies in one process (tests do that) must not collide: each has its own registry.
    const other = new ProxyMetrics({ ...metricsDepsOf(balancer), processMetrics: true });
    assert.ok((await other.scrape()).text.includes('origin_proxy_register_calls_total'));
    const { register } = await import('prom-client');
    assert.ok(!(await register.metrics()).includes('origin_proxy_'), 'the global registry is left alone');
    await balancer.close();
  });
});

function metricsDepsOf(balancer: MemoryBalancer) {
  return {
    services: () => [],
    balancer,
    dials: () => ({ ok: 0, failed: 0, skipped: 0, refused: 0 }),
    dialFailures: () => new Map<string, number>(),
    relays: () => new Map<string, number>(),
    stateOf: (): HealthState => 'up',
  };
}
