// System API over real HTTP against the proxy process (spec scenarios 10-16, 18, 28, register bad input),
// and the heartbeat sidecar as users run it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually } from '../fixtures/media.js';
import { MAIN_JS } from '../fixtures/paths.js';
import { run, stopAllPeers } from '../fixtures/process.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

const SRS_BODY = {
  device_id: 'origin1',
  ip: '127.0.0.1',
  server: 'vid-k2r4x3n',
  service: 'x8d1q0zz',
  pid: '31337',
  rtmp: ['19351'],
  http: ['8081'],
  api: ['19851'],
  srt: ['udp://0.0.0.0:10081'],
  rtc: ['udp://0.0.0.0:8001'],
};

async function register(proxy: RunningProxy, body: unknown, init: RequestInit = {}) {
  const res = await fetch(`${proxy.systemApi}/api/v1/srs/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  return { status: res.status, type: res.headers.get('content-type'), json: (await res.json()) as Record<string, unknown> };
}

async function origins(proxy: RunningProxy) {
  const res = await fetch(`${proxy.systemApi}/api/v1/origins`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { origins: Record<string, unknown>[] }).origins;
}

describe('system API', () => {
  let proxy: RunningProxy;
  before(async () => {
    proxy = await startProxy();
  });
  after(() => proxy.stop());

  test('scenario 10: versions on the system API and the HTTP API', async () => {
    for (const base of [proxy.systemApi, proxy.httpApi]) {
      const res = await fetch(`${base}/api/v1/versions`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.match(res.headers.get('server') ?? '', /^origin-proxy\/\d+\.\d+\.\d+$/);
      assert.deepEqual(await res.json(), { signature: 'origin-proxy', version: '0.1.0' });
    }
  });

  test('scenario 11: versions on the HTTP stream listener (its own shape)', async () => {
    const res = await fetch(`${proxy.httpServer}/api/v1/versions`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { code: number; pid: string; data: Record<string, unknown> };
    assert.equal(body.code, 0);
    assert.equal(body.pid, String(proxy.peer.pid));
    assert.deepEqual(body.data, { major: 0, minor: 1, revision: 0, version: '0.1.0' });
  });

  test('scenario 12: a valid SRS heartbeat → 200 {code:0, pid}', async () => {
    const r = await register(proxy, SRS_BODY);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { code: 0, pid: String(proxy.peer.pid) });
    const list = await origins(proxy);
    const o = list.find((x) => x.server_id === 'vid-k2r4x3n');
    assert.ok(o);
    assert.equal(o.id, 'vid-k2r4x3n-x8d1q0zz-31337');
    assert.equal(o.alive, true);
    assert.deepEqual(o.rtc, ['udp://0.0.0.0:8001']);
  });

  test('scenario 16: extra fields (summaries, foo) and a numeric pid → 200', async () => {
    const r = await register(proxy, { ...SRS_BODY, server: 'extra', pid: 77, summaries: { data: { ok: true, self: {} } }, foo: 'bar' });
    assert.equal(r.status, 200);
  });

  const bad: [string, unknown, number, RegExp][] = [
    ['scenario 13: without ip', { ...SRS_BODY, server: 'bad1', ip: undefined }, 400, /^empty ip$/],
    ['scenario 14: rtmp []', { ...SRS_BODY, server: 'bad2', rtmp: [] }, 400, /^empty rtmp$/],
    ['scenario 15 (improved): pid true', { ...SRS_BODY, server: 'bad3', pid: true }, 400, /pid/],
    ['malformed JSON', '{"ip": "127.0.0.1",', 400, /not valid JSON/],
    ['a JSON array', '[1,2]', 400, /JSON object/],
    ['wrong type', { ...SRS_BODY, server: 'bad4', rtmp: 1935 }, 400, /rtmp must be an array/],
    ['out-of-range port', { ...SRS_BODY, server: 'bad5', rtmp: ['70000'] }, 400, /out of range/],
    ['empty body', '', 400, /^empty ip$/],
  ];
  for (const [name, body, status, re] of bad) {
    test(`${name} → ${status} JSON error, nothing registered`, async () => {
      const before = (await origins(proxy)).length;
      const r = await register(proxy, body);
      assert.equal(r.status, status);
      assert.equal(r.type, 'application/json');
      assert.ok(typeof r.json.code === 'number' && r.json.code !== 0);
      assert.match(String(r.json.error), re);
      assert.equal((await origins(proxy)).length, before);
    });
  }

  test('a 10 MB body → 413, and the process stays up', async () => {
    const big = JSON.stringify({ ...SRS_BODY, server: 'huge', pad: 'x'.repeat(10 * 1024 * 1024) });
    const res = await fetch(`${proxy.systemApi}/api/v1/srs/register`, { method: 'POST', body: big, headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 413);
    assert.match(((await res.json()) as { error: string }).error, /larger than 65536/);
    assert.ok(!(await origins(proxy)).some((o) => o.server_id === 'huge'));
    assert.equal((await fetch(`${proxy.systemApi}/api/v1/versions`)).status, 200);
  });

  test('a GET on register → 405 with Allow', async () => {
    const res = await fetch(`${proxy.systemApi}/api/v1/srs/register`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    assert.match(((await res.json()) as { error: string }).error, /GET not allowed/);
  });

  test('unknown paths → 404 JSON', async () => {
    const res = await fetch(`${proxy.systemApi}/api/v1/nope`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/json');
  });

  test('garbage on the socket gets 400 and the process stays up', async () => {
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve) => {
      const s = connect(proxy.ports.systemApi, '127.0.0.1', () => s.write('\x00\x01GARBAGE \r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal((await fetch(`${proxy.systemApi}/api/v1/versions`)).status, 200);
  });

  test('scenario 18: the same id registered twice with other ports → the later record wins', async () => {
    await register(proxy, { ...SRS_BODY, server: 'twice', rtmp: ['1935'] });
    await register(proxy, { ...SRS_BODY, server: 'twice', rtmp: ['1936'] });
    const list = (await origins(proxy)).filter((o) => o.server_id === 'twice');
    assert.equal(list.length, 1);
    assert.deepEqual(list[0]!.rtmp, ['1936']);
  });

  test('an origin restart (new service and pid) replaces its record at once', async () => {
    await register(proxy, { ...SRS_BODY, server: 'restarts', service: 'aaaa', pid: '1' });
    await register(proxy, { ...SRS_BODY, server: 'restarts', service: 'bbbb', pid: '2' });
    const list = (await origins(proxy)).filter((o) => o.server_id === 'restarts');
    assert.deepEqual(
      list.map((o) => o.id),
      ['restarts-bbbb-2'],
    );
    await proxy.peer.waitForOutput(/origin restarted: record replaced/, 3000); // logs are written asynchronously
  });

  test('DELETE /api/v1/origins/<server> deregisters', async () => {
    await register(proxy, { ...SRS_BODY, server: 'gone' });
    const del = await fetch(`${proxy.systemApi}/api/v1/origins/gone`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.ok(!(await origins(proxy)).some((o) => o.server_id === 'gone'));
    assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/gone`, { method: 'DELETE' })).status, 404);
  });

  test('the stream pin view answers with a bounded list', async () => {
    const res = await fetch(`${proxy.systemApi}/api/v1/streams?limit=10`);
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(((await res.json()) as { streams: unknown[] }).streams));
    assert.equal((await fetch(`${proxy.systemApi}/api/v1/streams?limit=0`)).status, 400);
  });
});

describe('register token (PROXY_REGISTER_TOKEN)', () => {
  test('register, admin calls and admin reads need the token', async () => {
    const proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: 's3cret' } });
    try {
      assert.equal((await register(proxy, SRS_BODY)).status, 401);
      assert.equal((await register(proxy, SRS_BODY, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await register(proxy, SRS_BODY, { headers: { Authorization: 'Bearer s3cret', 'Content-Type': 'application/json' } })).status, 200);
      // SRS cannot add headers to its heartbeat, but its URL may carry a query.
      const res = await fetch(`${proxy.systemApi}/api/v1/srs/register?token=s3cret`, { method: 'POST', body: JSON.stringify({ ...SRS_BODY, server: 'q' }) });
      assert.equal(res.status, 200);
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/q`, { method: 'DELETE' })).status, 401);
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins`)).status, 401);
      const list = await fetch(`${proxy.systemApi}/api/v1/origins`, { headers: { Authorization: 'Bearer s3cret' } });
      assert.equal(((await list.json()) as { origins: unknown[] }).origins.length, 2);
    } finally {
      await proxy.stop();
    }
  });
});

describe('default backend (BEHAVIOUR.md §3.8, scenario 28)', () => {
  test('registered at startup without http, and kept alive by its refresh tick', async () => {
    // Scenario 28 is the per-client HTTP relay's refusal (no HTTP endpoint); edge mode would play the FLV over the
    // backend's RTMP (§11.1), so it stays off whatever the suite's overlay.
    const proxy = await startProxy({ env: { PROXY_DEFAULT_BACKEND_ENABLED: 'on', PROXY_ORIGIN_EXPIRE: '600ms', PROXY_EDGE: 'off' } });
    try {
      const [o] = await origins(proxy);
      assert.ok(o);
      assert.match(String(o.server_id), /^default-[0-9a-f]{7}$/);
      assert.deepEqual(o.rtmp, ['1935']);
      assert.equal(o.http, undefined, 'no HTTP stream endpoint unless PROXY_DEFAULT_BACKEND_HTTP is set');
      assert.deepEqual(o.api, ['1985']);
      // Scenario 28: HTTP-FLV through it fails with a 5xx that says why (the routing refusal "no origin
      // serves this protocol": 503, as in the README's refusal table).
      const flv = await fetch(`${proxy.httpServer}/live/x.flv`);
      assert.equal(flv.status, 503);
      assert.match(((await flv.json()) as { error: string }).error, /no origin serves this protocol/);
      // Refreshed again and again: its record keeps moving past the first one by more than the expiry
      // (the Go proxy let it go stale).
      const later = await waitFor(
        async () => {
          const [x] = await origins(proxy);
          return x && Date.parse(String(x.update_at)) - Date.parse(String(o.update_at)) >= 1500 ? x : undefined;
        },
        { what: 'the default backend refreshed past its expiry', timeoutMs: 10_000 },
      );
      assert.equal(later.alive, true, 'refreshed (the Go proxy let it go stale)');
    } finally {
      await proxy.stop();
    }
  });
});

describe('heartbeat sidecar', () => {
  test('keeps a non-SRS origin registered', async () => {
    const proxy = await startProxy({ env: { PROXY_ORIGIN_EXPIRE: '2s' } });
    try {
      const hb = startHeartbeat({ systemApi: proxy.systemApi, rtmp: 19350, http: 8080, srt: 'udp://0.0.0.0:10080', interval: '300ms' });
      const o = await eventually(async () => {
        const [x] = await origins(proxy);
        assert.ok(x);
        return x;
      }, 5000);
      assert.match(String(o.server_id), /^hb-[0-9a-f]{7}$/);
      assert.deepEqual(o.rtmp, ['19350']);
      assert.deepEqual(o.srt, ['udp://0.0.0.0:10080']);
      // Heartbeats keep coming: the record moves on by more than the 2 s expiry and stays alive.
      const later = await waitFor(
        async () => {
          const [x] = await origins(proxy);
          return x && Date.parse(String(x.update_at)) - Date.parse(String(o.update_at)) >= 2500 ? x : undefined;
        },
        { what: 'heartbeats past the expiry', timeoutMs: 15_000 },
      );
      assert.equal(later.alive, true, 'still alive after the expiry: heartbeats keep coming');
      await hb.stop();
      assert.equal((await hb.exited).code, 0);
    } finally {
      await proxy.stop();
    }
  });

  test('--once reports success or failure in its exit code; bad arguments exit 2', async () => {
    const proxy = await startProxy();
    try {
      const ok = await run(process.execPath, [
        MAIN_JS,
        'heartbeat',
        '--once',
        '--url',
        `${proxy.systemApi}/api/v1/srs/register`,
        '--ip',
        '127.0.0.1',
        '--rtmp',
        '1935',
      ]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const refused = await run(process.execPath, [
        MAIN_JS,
        'heartbeat',
        '--once',
        '--url',
        `${proxy.systemApi}/api/v1/srs/register`,
        '--ip',
        '127.0.0.1',
        '--rtmp',
        '99999',
      ]);
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /heartbeat refused/);
    } finally {
      await proxy.stop();
    }
    const down = await run(process.execPath, [
      MAIN_JS,
      'heartbeat',
      '--once',
      '--timeout',
      '2s',
      '--url',
      `${proxy.systemApi}/api/v1/srs/register`,
      '--ip',
      '127.0.0.1',
      '--rtmp',
      '1935',
    ]);
    assert.equal(down.code, 1);
    const usage = await run(process.execPath, [MAIN_JS, 'heartbeat', '--ip', '127.0.0.1']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--url is required/);
    const badInterval = await run(process.execPath, [MAIN_JS, 'heartbeat', '--url', 'http://127.0.0.1:1/x', '--ip', 'a', '--rtmp', '1', '--interval', '10']);
    assert.equal(badInterval.code, 2);
    assert.match(badInterval.stderr, /--interval: "10" has no unit/);
  });
});
