// GET /metrics of a running proxy (child process) with real peers: an nginx-rtmp origin registered over
// the system API, FFmpeg publishing through the proxy's RTMP listener, Prometheus text scraped from the
// system API (admin token) and from PROXY_METRICS_LISTEN (no token).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers } from '../fixtures/process.js';
import { parsePromText, samplesOf, valueOf, type PromPage } from '../fixtures/prom-text.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';

const TOKEN = 'metrics-token-7f3a';
const media = tempDir('metrics-media');
let flv: string;
let nginx: NginxOrigin;
let proxy: RunningProxy;
let metricsUrl: string;
/** A stream name no label may ever carry. */
const MARKER = `mrk${randomBytes(6).toString('hex')}`;

const auth = { Authorization: `Bearer ${TOKEN}` };

async function scrape(url = `${proxy.systemApi}/metrics`, headers: Record<string, string> = auth): Promise<{ page: PromPage; text: string }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return { page: parsePromText(text), text };
}

async function register(headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${proxy.systemApi}/api/v1/srs/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ ip: '127.0.0.1', server: 'nginx0', service: 'svc1', pid: '1', rtmp: [String(nginx.rtmpPort)], http: [String(nginx.httpPort)] }),
  });
  await res.arrayBuffer();
  return res.status;
}

before(async () => {
  flv = await makeTestFlv(media.dir, 4);
  nginx = await startNginxRtmp();
  const metricsPort = await freePort();
  proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: TOKEN, PROXY_METRICS_LISTEN: `127.0.0.1:${metricsPort}` } });
  metricsUrl = `http://127.0.0.1:${metricsPort}`;
  assert.equal(await register(auth), 200);
});
after(async () => {
  await stopAllPeers();
  await nginx?.stop();
  media.remove();
});

describe('metrics endpoint', () => {
  test('on the system API /metrics needs the admin token like the other admin reads (401 JSON without it)', async () => {
    const res = await fetch(`${proxy.systemApi}/metrics`);
    assert.equal(res.status, 401);
    const body = (await res.json()) as { code: number; error: string };
    assert.equal(body.code, 401);
    assert.match(body.error, /token/);
    const wrong = await fetch(`${proxy.systemApi}/metrics`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    await scrape();
    await scrape(`${proxy.systemApi}/metrics?token=${TOKEN}`, {});
  });

  test('PROXY_METRICS_LISTEN serves /metrics without the token, /healthz, and nothing else', async () => {
    const { page } = await scrape(`${metricsUrl}/metrics`, {});
    assert.ok(page.types.has('origin_proxy_origins'));
    const health = await fetch(`${metricsUrl}/healthz`);
    assert.equal(health.status, 200);
    await health.arrayBuffer();
    for (const path of ['/api/v1/origins', '/api/v1/srs/register', '/readyz']) {
      const res = await fetch(`${metricsUrl}${path}`);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
  });

  test('a live RTMP publish: origin up, register calls by result, dials, relays and the RTMP publisher counted; no stream name in the page', async () => {
    const before = (await scrape()).page;
    const okBefore = valueOf(before, 'origin_proxy_register_calls_total', { result: 'ok' });
    assert.ok(okBefore >= 1);
    assert.equal(await register({}), 401);
    assert.equal(await register(auth), 200);

    publish(flv, `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${MARKER}`);
    const { page, text } = await eventually(
      async () => {
        const s = await scrape();
        assert.equal(valueOf(s.page, 'origin_proxy_origin_relays', { server: 'nginx0' }), 1);
        // With worker processes, a page missing a worker that did not answer in time lacks its series by design
        // (BEHAVIOUR.md §8.5 item 3): the counts below are read from a whole page.
        for (const m of samplesOf(s.page, 'origin_proxy_workers', { state: 'missing' })) assert.equal(m.value, 0, 'a worker missing from the page');
        return s;
      },
      20_000,
      200,
    );
    assert.equal(valueOf(page, 'origin_proxy_origins', { state: 'up' }), 1);
    assert.equal(valueOf(page, 'origin_proxy_origins', { state: 'down' }), 0);
    assert.equal(valueOf(page, 'origin_proxy_register_calls_total', { result: 'ok' }), okBefore + 1);
    assert.equal(valueOf(page, 'origin_proxy_register_calls_total', { result: 'unauthorized' }), 1);
    assert.ok(valueOf(page, 'origin_proxy_dials_total', { outcome: 'ok' }) >= 1);
    assert.equal(valueOf(page, 'origin_proxy_stream_pins'), 1);
    // The RTMP service's own counters, as one ServiceStats shape.
    assert.equal(valueOf(page, 'origin_proxy_clients_active', { protocol: 'rtmp', role: 'publish' }), 1);
    assert.ok(valueOf(page, 'origin_proxy_clients_total', { protocol: 'rtmp', role: 'publish' }) >= 1);
    assert.ok(valueOf(page, 'origin_proxy_client_setup_seconds_count', { protocol: 'rtmp' }) >= 1);
    assert.equal(
      valueOf(page, 'origin_proxy_client_setup_seconds_bucket', { protocol: 'rtmp', le: '+Inf' }),
      valueOf(page, 'origin_proxy_client_setup_seconds_count', { protocol: 'rtmp' }),
    );
    await eventually(
      async () => assert.ok(valueOf((await scrape()).page, 'origin_proxy_client_bytes_total', { protocol: 'rtmp', direction: 'in' }) > 0),
      10_000,
      200,
    );
    assert.ok(page.types.has('nodejs_eventloop_lag_seconds'));
    assert.ok(valueOf(page, 'process_resident_memory_bytes') > 0);
    // Every label value of every series: no stream name (nor the publisher's address) anywhere.
    assert.ok(!text.includes(MARKER), 'the stream name appears in /metrics');
    for (const s of page.samples) for (const v of Object.values(s.labels)) assert.ok(!v.includes('live/') && !v.includes('127.0.0.1'), `${s.name} ${v}`);
    assert.deepEqual(samplesOf(page, 'origin_proxy_redis_up'), [], 'no Redis series with the memory balancer');
  });
});

describe('PROXY_METRICS_LISTEN at startup', () => {
  test('a malformed value stops startup naming the variable', async () => {
    for (const value of ['not-an-address:x', '127.0.0.1:70000']) {
      const p = await startProxy({ env: { PROXY_METRICS_LISTEN: value }, waitReady: false });
      const { code } = await p.peer.exited;
      assert.equal(code, 255, value);
      assert.match(p.peer.output, /PROXY_METRICS_LISTEN/, value);
    }
  });

  test('a port already in use stops startup naming the variable', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const p = await startProxy({ env: { PROXY_METRICS_LISTEN: `127.0.0.1:${port}` }, waitReady: false });
      const { code } = await p.peer.exited;
      assert.equal(code, 255);
      assert.match(p.peer.output, /PROXY_METRICS_LISTEN="127\.0\.0\.1:\d+": cannot listen: EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});
