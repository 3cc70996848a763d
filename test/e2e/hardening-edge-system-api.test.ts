// The system API as an attacker meets it: origin count and record size caps, refused origin
// addresses, the caller allow list, the token on admin reads, paginated listings, and tokens kept
// out of every log line (the proxy's and the heartbeat sidecar's).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { eventually } from '../fixtures/media.js';
import { MAIN_JS } from '../fixtures/paths.js';
import { startPeer, stopAllPeers } from '../fixtures/process.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';

after(stopAllPeers);

const body = (server: string, extra: Record<string, unknown> = {}) => ({ ip: '127.0.0.1', server, service: 's1', pid: '1', rtmp: ['1935'], ...extra });

async function register(proxy: RunningProxy, b: unknown, headers: Record<string, string> = {}, query = '') {
  const res = await fetch(`${proxy.systemApi}/api/v1/srs/register${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(b),
  });
  return { status: res.status, json: (await res.json()) as { code: number; error?: string } };
}

async function get<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const res = await fetch(url, { headers });
  return { status: res.status, json: (await res.json()) as T };
}

describe('origin count and record size', () => {
  test('PROXY_MAX_ORIGINS: new server ids beyond it are refused, one at a time or in a burst; known ones keep heartbeating', async () => {
    const proxy = await startProxy({ env: { PROXY_MAX_ORIGINS: '3' } });
    try {
      for (const id of ['a', 'b', 'c']) assert.equal((await register(proxy, body(id))).status, 200);
      const fourth = await register(proxy, body('d'));
      assert.equal(fourth.status, 403);
      assert.match(fourth.json.error ?? '', /PROXY_MAX_ORIGINS=3/);
      // A burst of new ids in parallel: none gets past the count.
      const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => register(proxy, body(`burst${i}`))));
      assert.ok(
        burst.every((r) => r.status === 403),
        JSON.stringify(burst.map((r) => r.status)),
      );
      // Known origins: heartbeats and a restart (new service id) are still accepted.
      assert.equal((await register(proxy, body('a'))).status, 200);
      assert.equal((await register(proxy, body('b', { service: 's2' }))).status, 200);
      const list = await get<{ origins: { server_id: string }[]; total: number }>(`${proxy.systemApi}/api/v1/origins`);
      assert.deepEqual(
        list.json.origins.map((o) => o.server_id),
        ['a', 'b', 'c'],
      );
      // Removing one makes room for a new one.
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/c`, { method: 'DELETE' })).status, 200);
      await eventually(async () => assert.equal((await register(proxy, body('d'))).status, 200), 5000);
    } finally {
      await proxy.stop();
    }
  });

  test('oversized records are refused: many long endpoints, or long ids with long endpoints', async () => {
    const proxy = await startProxy();
    try {
      const long = (n: number) => Array.from({ length: 16 }, (_, i) => `host-${'x'.repeat(n)}-${i}.example:${1000 + i}`);
      const a = await register(proxy, body('big1', { rtmp: long(250), http: long(250), api: long(250) }));
      assert.equal(a.status, 413);
      assert.match(a.json.error ?? '', /larger than 4096/);
      const b = await register(proxy, body('b'.repeat(256), { device_id: 'd'.repeat(256), service: 's'.repeat(256), rtmp: long(200) }));
      assert.equal(b.status, 413);
      const list = await get<{ origins: unknown[] }>(`${proxy.systemApi}/api/v1/origins`);
      assert.equal(list.json.origins.length, 0);
    } finally {
      await proxy.stop();
    }
  });
});

describe('origin addresses', () => {
  // These tests register origins at private and metadata addresses that nothing here may reach: with
  // health probes on, the proxy would try TCP connects to them (tests stay on loopback).
  const NO_PROBES = { PROXY_HEALTH_INTERVAL: '0' };

  test('unspecified, broadcast, multicast, link-local and metadata addresses are refused, in the ip or in an endpoint', async () => {
    const proxy = await startProxy({ env: NO_PROBES });
    try {
      const refused: Record<string, unknown>[] = [
        { ip: '169.254.169.254' },
        { ip: '0.0.0.0' },
        { ip: '255.255.255.255' },
        { ip: '224.0.0.251' },
        { ip: 'fe80::1' },
        { ip: '::ffff:169.254.169.254' },
        { http: ['169.254.169.254:80'] },
        { api: ['[fe80::1]:1985'] },
        { rtc: ['udp://239.1.1.1:8000'] },
        { ip: 'no-such-host.invalid' },
      ];
      for (const extra of refused) {
        const r = await register(proxy, body('evil', extra));
        assert.equal(r.status, 403, JSON.stringify(extra));
        assert.match(r.json.error ?? '', /refused/);
      }
      assert.equal((await get<{ origins: unknown[] }>(`${proxy.systemApi}/api/v1/origins`)).json.origins.length, 0);
      // Loopback (by address or by name) and private addresses stay allowed by default.
      assert.equal((await register(proxy, body('lo', { ip: '127.0.0.1' }))).status, 200);
      assert.equal((await register(proxy, body('lo6', { ip: '::1' }))).status, 200);
      assert.equal((await register(proxy, body('name', { ip: 'localhost' }))).status, 200);
      assert.equal((await register(proxy, body('lan', { ip: '10.0.0.7', http: ['10.0.0.8:8080'] }))).status, 200);
    } finally {
      await proxy.stop();
    }
  });

  test('PROXY_ORIGIN_ALLOW_CIDRS: only listed ranges register, a listed metadata address included', async () => {
    const proxy = await startProxy({ env: { ...NO_PROBES, PROXY_ORIGIN_ALLOW_CIDRS: '10.0.0.0/8,169.254.169.254/32' } });
    try {
      assert.equal((await register(proxy, body('lan', { ip: '10.1.2.3' }))).status, 200);
      assert.equal((await register(proxy, body('meta', { ip: '169.254.169.254' }))).status, 200);
      const lo = await register(proxy, body('lo', { ip: '127.0.0.1' }));
      assert.equal(lo.status, 403);
      assert.match(lo.json.error ?? '', /PROXY_ORIGIN_ALLOW_CIDRS/);
      assert.equal((await register(proxy, body('lan2', { ip: '10.1.2.3', http: ['192.168.0.1:80'] }))).status, 403);
    } finally {
      await proxy.stop();
    }
  });
});

describe('who may call the system API', () => {
  test('PROXY_SYSTEM_API_ALLOW_CIDRS: a caller outside gets 403 JSON on every route; inside is served', async () => {
    const outside = await startProxy({ env: { PROXY_SYSTEM_API_ALLOW_CIDRS: '10.0.0.0/8,::2' } });
    try {
      for (const [method, path] of [
        ['POST', '/api/v1/srs/register'],
        ['GET', '/api/v1/origins'],
        ['GET', '/api/v1/streams'],
        ['DELETE', '/api/v1/origins/x'],
        ['GET', '/api/v1/versions'],
      ]) {
        const res = await fetch(`${outside.systemApi}${path}`, { method: method!, ...(method === 'POST' ? { body: JSON.stringify(body('x')) } : {}) });
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.headers.get('content-type'), 'application/json');
        assert.match(((await res.json()) as { error: string }).error, /PROXY_SYSTEM_API_ALLOW_CIDRS/);
      }
      // The client-facing listeners are not affected.
      assert.equal((await fetch(`${outside.httpServer}/api/v1/versions`)).status, 200);
    } finally {
      await outside.stop();
    }
    const inside = await startProxy({ env: { PROXY_SYSTEM_API_ALLOW_CIDRS: '127.0.0.0/8' } });
    try {
      assert.equal((await register(inside, body('ok'))).status, 200);
    } finally {
      await inside.stop();
    }
  });

  test('with a token, admin reads need it too (header or query), and the token is never logged', async () => {
    const token = 'tok-9f8e7d6c5b4a';
    const proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: token } });
    try {
      for (const path of ['/api/v1/origins', '/api/v1/streams']) {
        assert.equal((await fetch(`${proxy.systemApi}${path}`)).status, 401, path);
        assert.equal((await fetch(`${proxy.systemApi}${path}`, { headers: { Authorization: 'Bearer wrong' } })).status, 401, path);
        assert.equal((await fetch(`${proxy.systemApi}${path}`, { headers: { Authorization: `Bearer ${token}` } })).status, 200, path);
        assert.equal((await fetch(`${proxy.systemApi}${path}?token=${token}`)).status, 200, path);
      }
      // Heartbeats with the token in the URL (debug log per request) and a DELETE with it (info log).
      for (let i = 0; i < 3; i++) assert.equal((await register(proxy, body('o1'), {}, `?token=${token}`)).status, 200);
      assert.equal((await register(proxy, body('o2'), { Authorization: `Bearer ${token}` })).status, 200);
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/o1?token=${token}`, { method: 'DELETE' })).status, 200);
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/o2?x=1&token=${token}&password=${token}`, { method: 'DELETE' })).status, 200);
      // The heartbeat sidecar with the token in --url and in --token.
      const hb = startPeer(
        'heartbeat',
        process.execPath,
        [
          MAIN_JS,
          'heartbeat',
          '--url',
          `${proxy.systemApi}/api/v1/srs/register?token=${token}`,
          '--token',
          token,
          '--ip',
          '127.0.0.1',
          '--rtmp',
          '1935',
          '--server',
          'hb1',
          '--interval',
          '200ms',
        ],
        {
          env: { PATH: process.env.PATH ?? '', PROXY_LOG_LEVEL: 'debug', PROXY_LOG_FORMAT: 'json' },
        },
      );
      await hb.waitForOutput(/heartbeat sent/, 10_000);
      await proxy.peer.waitForOutput(/origin removed by API[\s\S]*origin removed by API/, 5000);
      await proxy.peer.waitForOutput(/"origin":"hb1-/, 5000);
      await hb.stop();
      assert.match(proxy.peer.output, /token=\*\*\*\*\*\*/, 'URLs are logged, redacted');
      assert.ok(!proxy.peer.output.includes(token), 'the proxy logged the token');
      assert.match(hb.output, /heartbeat started/);
      assert.ok(!hb.output.includes(token), `the sidecar logged the token: ${hb.output.slice(0, 500)}`);
    } finally {
      await proxy.stop();
    }
  });
});

describe('paginated listings', () => {
  test('origins: pages of limit, walked with next until the end; bad cursor or limit → 400', async () => {
    const proxy = await startProxy();
    try {
      const ids = Array.from({ length: 7 }, (_, i) => `o${i}`);
      for (const id of ids) assert.equal((await register(proxy, body(id))).status, 200);
      const seen: string[] = [];
      let cursor: string | undefined = '0';
      let pages = 0;
      while (cursor !== undefined) {
        const page: { json: { origins: { server_id: string }[]; next?: string; total: number } } = await get(
          `${proxy.systemApi}/api/v1/origins?limit=3&cursor=${cursor}`,
        );
        assert.ok(page.json.origins.length <= 3);
        assert.equal(page.json.total, 7);
        seen.push(...page.json.origins.map((o) => o.server_id));
        cursor = page.json.next;
        pages++;
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids);
      for (const q of ['limit=0', 'limit=-1', 'limit=x', 'cursor=abc', 'cursor=-5']) {
        const r = await get<{ error: string }>(`${proxy.systemApi}/api/v1/origins?${q}`);
        assert.equal(r.status, 400, q);
      }
      // A huge limit is served as the largest page, not refused and not unbounded.
      assert.equal((await get(`${proxy.systemApi}/api/v1/streams?limit=100000`)).status, 200);
      const streams = await get<{ streams: unknown[]; next?: string }>(`${proxy.systemApi}/api/v1/streams?limit=5&cursor=1000000`);
      assert.deepEqual(streams.json.streams, []);
      assert.equal(streams.json.next, undefined);
    } finally {
      await proxy.stop();
    }
  });
});
