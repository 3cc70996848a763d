// Origin health through the system API, against the proxy process and real peers: states in the
// origin list, drain/undrain and their errors, probes detecting a killed nginx-rtmp origin, probes
// against an origin whose API accepts and never answers, and load reports in heartbeats.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { killTree } from '../fixtures/kill-tree.js';
import { eventually } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';

after(stopAllPeers);

const TOKEN = 's3cret';
const INTERVAL_MS = 500;

async function origins(proxy: RunningProxy): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${proxy.systemApi}/api/v1/origins?token=${TOKEN}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { origins: Record<string, unknown>[] }).origins;
}

async function originOf(proxy: RunningProxy, server: string): Promise<Record<string, unknown>> {
  const o = (await origins(proxy)).find((x) => x.server_id === server);
  assert.ok(o, `origin ${server} listed`);
  return o;
}

async function post(proxy: RunningProxy, path: string, token: string | null = TOKEN) {
  const res = await fetch(`${proxy.systemApi}${path}`, { method: 'POST', headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(text) as Record<string, unknown> };
}

const body = (server: string, rtmp: number, extra: Record<string, unknown> = {}) => ({
  ip: '127.0.0.1',
  server,
  service: 'svc',
  pid: '1',
  rtmp: [String(rtmp)],
  ...extra,
});
const register = (proxy: RunningProxy, b: Record<string, unknown>) =>
  registerOrigin(`${proxy.systemApi}`, b).catch(async () => {
    const res = await fetch(`${proxy.systemApi}/api/v1/srs/register?token=${TOKEN}`, { method: 'POST', body: JSON.stringify(b) });
    if (res.status !== 200) throw new Error(`register: ${res.status} ${await res.text()}`);
  });

describe('origin health over the system API', () => {
  let proxy: RunningProxy;
  before(async () => {
    proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: `${INTERVAL_MS}ms`, PROXY_HEALTH_FAILS: '2', PROXY_REGISTER_TOKEN: TOKEN } });
  });
  after(() => proxy.stop());

  test('a live origin is listed up with since; the old fields stay', async () => {
    const nginx = await startNginxRtmp();
    await register(proxy, body('live-1', nginx.rtmpPort));
    await eventually(async () => {
      const o = await originOf(proxy, 'live-1');
      assert.equal(o.state, 'up');
      assert.equal(o.alive, true);
      assert.equal(o.id, 'live-1-svc-1');
      assert.ok(typeof o.age_ms === 'number');
      assert.ok(!Number.isNaN(Date.parse(o.since as string)));
      assert.equal(o.reason, undefined);
    });
    // Stays up across several probe rounds.
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 4));
    assert.equal((await originOf(proxy, 'live-1')).state, 'up');
    await nginx.stop();
  });

  test('an nginx-rtmp origin killed with SIGKILL is listed down within two probe intervals and a bit', async () => {
    const nginx = await startNginxRtmp();
    await register(proxy, body('killed-1', nginx.rtmpPort));
    await eventually(async () => assert.equal((await originOf(proxy, 'killed-1')).state, 'up'));
    const killedAt = Date.now();
    killTree(nginx.peer.pid);
    const o = await eventually(
      async () => {
        const x = await originOf(proxy, 'killed-1');
        assert.equal(x.state, 'down');
        return x;
      },
      10_000,
      50,
    );
    const detectedMs = Date.now() - killedAt;
    assert.match(String(o.reason), /ECONNREFUSED/);
    assert.ok(detectedMs < 2 * INTERVAL_MS + 2000, `down after ${detectedMs} ms`);
    assert.equal(o.alive, true, 'its heartbeat is still fresh: probes found it');
  });

  test('drain and undrain: state in the list, 404 JSON for an unknown origin, 401 without the token', async () => {
    const nginx = await startNginxRtmp();
    await register(proxy, body('drain-1', nginx.rtmpPort));
    await eventually(async () => assert.equal((await originOf(proxy, 'drain-1')).state, 'up'));
    const d = await post(proxy, '/api/v1/origins/drain-1/drain');
    assert.deepEqual([d.status, d.body], [200, { code: 0, server: 'drain-1', draining: true }]);
    let o = await originOf(proxy, 'drain-1');
    assert.equal(o.state, 'draining');
    assert.equal(o.reason, 'drained by API');
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 3));
    assert.equal((await originOf(proxy, 'drain-1')).state, 'draining', 'a drain outlives probe rounds');
    const u = await post(proxy, `/api/v1/origins/drain-1/undrain?token=${TOKEN}`, null);
    assert.deepEqual([u.status, u.body.draining], [200, false]);
    o = await originOf(proxy, 'drain-1');
    assert.equal(o.state, 'up');

    const unknown = await post(proxy, '/api/v1/origins/no-such-origin/drain');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.type, 'application/json');
    assert.equal(unknown.body.code, 404);
    assert.match(String(unknown.body.error), /no origin with server id no-such-origin/);
    for (const token of [null, 'wrong']) {
      const r = await post(proxy, '/api/v1/origins/drain-1/drain', token);
      assert.equal(r.status, 401);
      assert.match(String(r.body.error), /token/);
    }
    assert.equal((await originOf(proxy, 'drain-1')).state, 'up', 'refused calls changed nothing');
    const badAction = await post(proxy, '/api/v1/origins/drain-1/explode');
    assert.equal(badAction.status, 404);
    const noServer = await post(proxy, '/api/v1/origins/drain');
    assert.equal(noServer.status, 404);
    const badEncoding = await post(proxy, '/api/v1/origins/%E0%A4%A/drain');
    assert.equal(badEncoding.status, 400);
    const get = await fetch(`${proxy.systemApi}/api/v1/origins/drain-1/drain`);
    assert.equal(get.status, 405);
    await nginx.stop();
  });

  test('an origin whose HTTP API accepts and never answers: probes stay bounded and mark it down', async () => {
    const nginx = await startNginxRtmp();
    const open = new Set<Socket>();
    let accepted = 0;
    let maxOpen = 0;
    const silent: Server = createServer((s) => {
      accepted++;
      open.add(s);
      maxOpen = Math.max(maxOpen, open.size);
      s.on('error', () => undefined);
      s.on('close', () => open.delete(s));
      s.resume(); // reads (and drops) the request, never answers
    });
    const apiPort = await freePort();
    await new Promise<void>((r) => silent.listen(apiPort, '127.0.0.1', r));
    try {
      await register(proxy, body('silent-api', nginx.rtmpPort, { api: [String(apiPort)] }));
      const o = await eventually(
        async () => {
          const x = await originOf(proxy, 'silent-api');
          assert.equal(x.state, 'down');
          return x;
        },
        10_000,
        100,
      );
      assert.match(String(o.reason), /no answer within|took longer than/);
      await new Promise((r) => setTimeout(r, INTERVAL_MS * 4));
      assert.ok(maxOpen <= 2, `at most one probe (plus one closing) at a time, saw ${maxOpen}`);
      assert.ok(accepted <= 12, `about one probe per interval, saw ${accepted}`);
      // The proxy still answers at once.
      const t0 = Date.now();
      await origins(proxy);
      assert.ok(Date.now() - t0 < 1000);
    } finally {
      for (const s of open) s.destroy();
      silent.close();
      await nginx.stop();
    }
  });

  test('heartbeat summaries and weight: shown in the list; absurd values clamped; a bad weight is 400; a huge body 413', async () => {
    const summaries = { data: { ok: true, now_ms: 1, self: { cpu_percent: 'x' }, system: { cpu_percent: 1e308, load_1m: -4, cpus_online: 2, conn_srs: 42 } } };
    await register(proxy, body('loaded-1', 1, { summaries, weight: 2 }));
    const o = await originOf(proxy, 'loaded-1');
    assert.deepEqual(o.load, { cpu: 1, connections: 42 });
    assert.equal(o.weight, 2);
    const bad = await fetch(`${proxy.systemApi}/api/v1/srs/register?token=${TOKEN}`, {
      method: 'POST',
      body: JSON.stringify(body('loaded-2', 1, { weight: -1 })),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /weight/);
    const huge = { ...body('loaded-3', 1), summaries: { data: { self: { argv: 'x'.repeat(70_000) } } } };
    const big = await fetch(`${proxy.systemApi}/api/v1/srs/register?token=${TOKEN}`, { method: 'POST', body: JSON.stringify(huge) });
    assert.equal(big.status, 413);
    assert.equal(
      (await origins(proxy)).some((x) => x.server_id === 'loaded-3'),
      false,
    );
  });
});
