// The clients and streams API with real peers: FFmpeg publishes over RTMP through the proxy to
// node-media-server, players read over HTTP-FLV and RTMP, an SRT publisher goes to srt-live-transmit.
// The API lists each client with its protocol, role and growing byte counts, sums them per stream,
// kicks one by id, and every admin call needs the token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { startPeer, stopAllPeers } from '../fixtures/process.js';
import { startProxy, type ProxyStats, type RunningProxy } from '../fixtures/proxy.js';
import { startSrtListener, type SrtOrigin } from '../fixtures/srt.js';
import { makeTestTs } from '../fixtures/srt-media.js';

const TOKEN = 'clients-api-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const KEY = '__defaultVhost__/live/cl1';
const media = tempDir('clients-api');
let flv: string;
let ts: string;
let proxy: RunningProxy;
let nms: NmsOrigin;
let srtOrigin: SrtOrigin;
const aborts: AbortController[] = [];

interface ClientJson {
  id: string;
  protocol: string;
  role: string;
  stream: string;
  origin: string;
  server: string;
  client: string;
  since: string;
  bytes: { in: number; out: number };
}

async function api<T>(path: string, init: RequestInit = {}, auth = true): Promise<{ status: number; body: T }> {
  const res = await fetch(`${proxy.systemApi}${path}`, { ...init, headers: { ...(auth ? AUTH : {}), ...(init.headers as Record<string, string>) } });
  return { status: res.status, body: (await res.json()) as T };
}

async function register(body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${proxy.systemApi}/api/v1/srs/register`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

async function clientsOf(stream: string): Promise<ClientJson[]> {
  const r = await api<{ clients: ClientJson[]; total: number }>(`/api/v1/clients?stream=${encodeURIComponent(stream)}`);
  assert.equal(r.status, 200);
  return r.body.clients;
}

/** An HTTP-FLV player through the proxy that reads and discards; `ended` resolves when its body ends. */
function flvPlayer(path: string): { ended: Promise<void>; bytes: () => number } {
  const abort = new AbortController();
  aborts.push(abort);
  let n = 0;
  const ended = (async () => {
    const res = await fetch(`${proxy.httpServer}${path}`, { signal: abort.signal });
    assert.equal(res.status, 200);
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.length;
    } catch {
      // cut by the proxy: ended all the same
    }
  })();
  return { ended, bytes: () => n };
}

before(async () => {
  [flv, ts] = await Promise.all([makeTestFlv(media.dir, 30), makeTestTs(media.dir, 30)]);
  nms = await startNodeMediaServer();
  srtOrigin = await startSrtListener(`udp://127.0.0.1:${await freePort()}`);
  // The clients API lists each player's own origin relay (per-client relay, §5.3). In edge mode players share
  // one upstream and are not listed one by one (§11.7), so these tests run with it off whatever the suite's overlay.
  proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: TOKEN, PROXY_HEALTH_INTERVAL: '0', PROXY_EDGE: 'off' } });
  await register({ ip: '127.0.0.1', server: 'nms', service: 'svc-nms', pid: '1', rtmp: [String(nms.rtmpPort)], http: [String(nms.httpPort)] });
});

after(async () => {
  for (const a of aborts) a.abort();
  await stopAllPeers();
  await nms.stop();
  await srtOrigin.stop();
  media.remove();
});

describe('clients and streams API', () => {
  test('RTMP publisher, HTTP-FLV and RTMP players are listed with protocol, role, stream and growing bytes', async () => {
    publish(flv, `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/cl1`);
    await eventually(async () => assert.equal((await clientsOf(KEY)).length, 1), 20_000);
    const flvPlay = flvPlayer('/live/cl1.flv');
    startPeer('ffmpeg rtmp play', 'ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/cl1`,
      '-c',
      'copy',
      '-f',
      'null',
      '-',
    ]);
    const first = await eventually(async () => {
      const list = await clientsOf(KEY);
      assert.equal(list.length, 3, JSON.stringify(list));
      return list;
    }, 20_000);
    const kinds = first.map((c) => `${c.protocol}/${c.role}`).sort();
    assert.deepEqual(kinds, ['flv/play', 'rtmp/play', 'rtmp/publish']);
    for (const c of first) {
      assert.equal(c.stream, KEY);
      assert.equal(c.server, 'nms');
      assert.ok(c.origin.startsWith('nms'), c.origin);
      assert.match(c.client, /^127\.0\.0\.1:\d+$/);
      assert.ok(!Number.isNaN(Date.parse(c.since)));
    }
    const pub = first.find((c) => c.role === 'publish')!;
    const player = first.find((c) => c.protocol === 'flv')!;
    await eventually(async () => {
      const now = await clientsOf(KEY);
      const p = now.find((c) => c.id === pub.id)!;
      const f = now.find((c) => c.id === player.id)!;
      assert.ok(p.bytes.in > pub.bytes.in, `publisher bytes in ${pub.bytes.in} → ${p.bytes.in}`);
      assert.ok(f.bytes.out > player.bytes.out, `player bytes out ${player.bytes.out} → ${f.bytes.out}`);
    });
    assert.ok(flvPlay.bytes() > 0);

    // The stream: publisher, player counts per protocol, bytes; by encoded key and by path segments.
    for (const path of [`/api/v1/streams/${encodeURIComponent(KEY)}`, `/api/v1/streams/${KEY}`]) {
      const r = await api<{ code: number; stream: Record<string, unknown> & { publisher: Record<string, unknown>; players: Record<string, number> } }>(path);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.stream.stream, KEY);
      assert.equal(r.body.stream.server, 'nms');
      assert.equal(r.body.stream.publisher.protocol, 'rtmp');
      assert.match(String(r.body.stream.publisher.client), /^127\.0\.0\.1:\d+$/);
      assert.ok(Number(r.body.stream.publisher.bitrate_kbps) > 0, JSON.stringify(r.body.stream.publisher));
      assert.deepEqual(r.body.stream.players, { flv: 1, rtmp: 1 });
    }
    // The listing keeps the pins' fields and adds the same view; alone, ?cluster=1 is this proxy.
    const list = await api<{ streams: { stream: string; origin: string; server: string; players: Record<string, number> }[]; proxies?: number }>(
      '/api/v1/streams?cluster=1',
    );
    assert.equal(list.status, 200);
    assert.equal(list.body.proxies, 1);
    const entry = list.body.streams.find((s) => s.stream === KEY)!;
    assert.equal(entry.server, 'nms');
    assert.ok(entry.origin);
    assert.deepEqual(entry.players, { flv: 1, rtmp: 1 });

    // Counters of the services: one shape per protocol.
    const stats = await api<ProxyStats>('/api/v1/stats');
    const { rtmp, flv: flvStats } = stats.body.protocols;
    assert.equal(rtmp!.active.publish, 1);
    assert.equal(rtmp!.active.play, 1);
    assert.ok(rtmp!.total.publish >= 1 && rtmp!.setup.count >= 2, JSON.stringify(rtmp));
    assert.equal(flvStats!.active.play, 1);
    assert.ok(flvStats!.bytes.out > 0);
    assert.ok(stats.body.detail.rtmp.connections >= 2);

    // Kick the HTTP-FLV player: its connection ends; a second kick finds nothing.
    const kicked = await api<{ code: number }>(`/api/v1/clients/${encodeURIComponent(player.id)}`, { method: 'DELETE' });
    assert.deepEqual(kicked, { status: 200, body: { code: 0 } });
    await flvPlay.ended;
    const again = await api<{ code: number; error: string }>(`/api/v1/clients/${encodeURIComponent(player.id)}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(again.body.code, 404);
    assert.ok(again.body.error);
    await eventually(async () => assert.deepEqual((await clientsOf(KEY)).map((c) => c.protocol).sort(), ['rtmp', 'rtmp']));
  });

  test('an SRT publisher is listed as an srt client', async () => {
    await register({ ip: '127.0.0.1', server: 'srt1', service: 'svc-srt', pid: '1', rtmp: ['1935'], srt: [`udp://127.0.0.1:${srtOrigin.srtPort}`] });
    publish(ts, `srt://127.0.0.1:${proxy.ports.srt}?streamid=#!::r=live/srtcl,m=publish&latency=200000`, 'mpegts');
    const [c] = await eventually(async () => {
      const list = await clientsOf('__defaultVhost__/live/srtcl');
      assert.equal(list.length, 1);
      return list;
    }, 20_000);
    assert.equal(c!.protocol, 'srt');
    assert.equal(c!.role, 'publish');
    assert.equal(c!.server, 'srt1');
    await eventually(async () => assert.ok((await clientsOf('__defaultVhost__/live/srtcl'))[0]!.bytes.in > 10_000));
    const stats = await api<ProxyStats>('/api/v1/stats');
    assert.equal(stats.body.protocols.srt!.active.publish, 1);
  });

  test('refusals are counted per protocol and reason', async () => {
    // A vhost that cannot be one: the stream key is refused before any origin is asked.
    const res = await fetch(`${proxy.httpServer}/live/x.flv?vhost=bad%20host.example`);
    await res.arrayBuffer();
    assert.equal(res.status, 400);
    const stats = await api<ProxyStats>('/api/v1/stats');
    assert.equal(stats.body.protocols.flv!.refused['bad-request'], 1, JSON.stringify(stats.body.protocols.flv));

    // A flood of refusals: every one is counted, the info lines stay within the per-reason budget.
    const lines = () => (proxy.peer.output.match(/"protocol":"flv","reason":"bad-request"[^\n]*"msg":"client refused"/g) ?? []).length;
    const linesBefore = lines();
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      await Promise.all(
        Array.from({ length: 15 }, async () => {
          const r = await fetch(`${proxy.httpServer}/live/x.flv?vhost=bad%20host.example`);
          await r.arrayBuffer();
        }),
      );
    }
    const after = await api<ProxyStats & { workers?: { count: number } }>('/api/v1/stats');
    assert.equal(after.body.protocols.flv!.refused['bad-request'], 301);
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    const logged = lines() - linesBefore;
    // The budget is per process: with worker processes, each worker logs within its own (BEHAVIOUR.md §8.5).
    const processes = after.body.workers?.count ?? 1;
    assert.ok(logged >= 1 && logged <= 5 * seconds * processes, `${logged} refusal lines for 300 refusals in ${seconds} s (${processes} processes)`);
  });

  test('every read and the kick need the token', async () => {
    for (const [path, method] of [
      ['/api/v1/clients', 'GET'],
      ['/api/v1/clients/x', 'GET'],
      ['/api/v1/clients/x', 'DELETE'],
      ['/api/v1/streams', 'GET'],
      [`/api/v1/streams/${encodeURIComponent(KEY)}`, 'GET'],
      ['/api/v1/streams?cluster=1', 'GET'],
      ['/api/v1/stats', 'GET'],
    ] as const) {
      const r = await api<{ code: number; error: string }>(path, { method }, false);
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.body.code, 401);
    }
    const wrong = await fetch(`${proxy.systemApi}/api/v1/clients`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
  });

  test('bad input: unknown ids and streams are 404, malformed ones 400, all JSON', async () => {
    const cases: [string, string, number][] = [
      ['/api/v1/clients/no-such-client', 'DELETE', 404],
      ['/api/v1/clients/no-such-client', 'GET', 404],
      ['/api/v1/clients/%E0%A4%A', 'DELETE', 400],
      ['/api/v1/streams/__defaultVhost__/live/never', 'GET', 404],
      ['/api/v1/streams/%ZZ', 'GET', 400],
      ['/api/v1/streams/', 'GET', 400],
      ['/api/v1/streams?cluster=2', 'GET', 400],
      ['/api/v1/clients?limit=abc', 'GET', 400],
      ['/api/v1/clients?offset=-1', 'GET', 400],
      [`/api/v1/clients?stream=${encodeURIComponent('a\u0001b')}`, 'GET', 400],
      [`/api/v1/clients?stream=${'x'.repeat(2000)}`, 'GET', 400],
    ];
    for (const [path, method, status] of cases) {
      const r = await api<{ code: number; error: string }>(path, { method });
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, status);
      assert.equal(typeof r.body.error, 'string');
    }
  });
});
