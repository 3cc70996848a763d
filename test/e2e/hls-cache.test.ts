// The HLS/DASH edge cache against real peers: an nginx-rtmp origin fed by ffmpeg, many concurrent HLS
// players through the proxy, the origin's own access log as the count of what it served; a scripted
// LL-HLS origin for blocking reloads; floods of requests for streams that do not exist.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, publish, useTestFlv } from '../fixtures/media.js';
import { nginxOriginBody, startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { freePort } from '../fixtures/ports.js';
import type { Peer } from '../fixtures/process.js';
import { parsePromText, samplesOf } from '../fixtures/prom-text.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';

const testFlv = useTestFlv('hls-cache', 30);
const PLAYERS = 50;

/** The origin's access log lines for one path prefix, and how many. */
function originRequests(origin: NginxOrigin, pattern: RegExp): string[] {
  return readFileSync(join(origin.dir, 'logs', 'access.log'), 'utf8')
    .split('\n')
    .filter((line) => pattern.test(line));
}

/** Path (no query) → times the origin served it with 200. */
function servedCounts(lines: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const m = /"GET ([^ ?]+)[^ ]* HTTP\/1\.1" 200 /.exec(line);
    if (m) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  return counts;
}

async function metric(proxy: RunningProxy, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = samplesOf(parsePromText(await (await fetch(`${proxy.systemApi}/metrics`)).text()), name, labels);
  return found[0]?.value ?? Number.NaN;
}

/**
 * One HLS player as hls.js behaves on a live media playlist: reload the playlist every half target
 * duration, fetch each segment it has not fetched yet (the URLs as rewritten, with its session id).
 * Returns the sha1 of every segment it read, by segment name.
 */
async function playHls(playlistUrl: string, untilMs: number): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  const base = playlistUrl.slice(0, playlistUrl.lastIndexOf('/') + 1);
  while (Date.now() < untilMs) {
    const res = await fetch(playlistUrl);
    assert.equal(res.status, 200);
    const text = await res.text();
    const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1] ?? 2);
    for (const line of text.split('\n')) {
      const uri = line.trim();
      if (!uri || uri.startsWith('#')) continue;
      const name = uri.replace(/\?.*$/, '');
      if (got.has(name)) continue;
      const seg = await fetch(base + uri);
      assert.equal(seg.status, 200, `${name}: ${seg.status}`);
      got.set(
        name,
        createHash('sha1')
          .update(Buffer.from(await seg.arrayBuffer()))
          .digest('hex'),
      );
    }
    await new Promise((r) => setTimeout(r, (target * 1000) / 2));
  }
  return got;
}

describe('HLS edge cache with an nginx-rtmp origin', () => {
  let origin: NginxOrigin;
  let cached: RunningProxy;
  let uncached: RunningProxy;
  let pub: Peer;
  before(async () => {
    origin = await startNginxRtmp();
    // One process: the cache is one per process; with worker processes each worker fetches a segment once
    // (docs/BEHAVIOUR.md §8.5), and these counts are one process's.
    const env = { PROXY_ORIGIN_EXPIRE: '600s', PROXY_WORKERS: '1' };
    cached = await startProxy({ env });
    uncached = await startProxy({ env: { ...env, PROXY_HLS_CACHE_MAX: '0' } });
    for (const p of [cached, uncached]) await registerOrigin(p.systemApi, nginxOriginBody(origin));
    pub = publish(testFlv(), `rtmp://127.0.0.1:${origin.rtmpPort}/live/many`);
    // Two segments out: players have something to fetch at once.
    await eventually(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${origin.httpPort}/live/many.m3u8`)).text();
        assert.ok((text.match(/\.ts/g) ?? []).length >= 2);
      },
      30_000,
      300,
    );
  });
  after(async () => {
    await pub.stop();
    await cached.stop();
    await uncached.stop();
    await origin.stop();
  });

  test(`${PLAYERS} concurrent players: each segment fetched from the origin once, playlists at most twice per target duration`, async () => {
    const before = originRequests(origin, /./).length;
    const started = Date.now();
    const until = started + 7_000;
    const players = await Promise.all(Array.from({ length: PLAYERS }, () => playHls(`${cached.httpServer}/live/many.m3u8`, until)));
    const seconds = (Date.now() - started) / 1000;
    const lines = originRequests(origin, /./).slice(before);
    const segments = servedCounts(lines.filter((l) => /\.ts[? ]/.test(l)));
    assert.ok(segments.size >= 2, `segments fetched: ${[...segments.keys()].join(', ')}`);
    for (const [path, n] of segments) assert.equal(n, 1, `${path} fetched ${n} times from the origin`);
    // Every player read the same bytes for the same segment: one shared answer, never mixed up.
    for (const [name, sha] of players[0]!) for (const p of players) if (p.has(name)) assert.equal(p.get(name), sha, name);
    assert.ok(
      players.every((p) => p.size >= 2),
      'every player read segments',
    );
    const playlists = lines.filter((l) => /\/live\/many\.m3u8/.test(l)).length;
    const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(await (await fetch(`http://127.0.0.1:${origin.httpPort}/live/many.m3u8`)).text())?.[1]);
    assert.ok(playlists <= Math.ceil((2 * seconds) / target) + 2, `${playlists} playlist fetches in ${seconds.toFixed(1)} s (target ${target} s)`);
    assert.ok(
      (await metric(cached, 'origin_proxy_hls_cache_requests_total', { result: 'coalesced' })) +
        (await metric(cached, 'origin_proxy_hls_cache_requests_total', { result: 'hit' })) >
        PLAYERS,
    );
  });

  test('without the cache (PROXY_HLS_CACHE_MAX=0) the same players cost the origin a fetch each', async () => {
    const before = originRequests(origin, /./).length;
    await Promise.all(Array.from({ length: 10 }, () => playHls(`${uncached.httpServer}/live/many.m3u8`, Date.now() + 2_500)));
    const segments = servedCounts(
      originRequests(origin, /./)
        .slice(before)
        .filter((l) => /\.ts[? ]/.test(l)),
    );
    assert.ok(
      [...segments.values()].some((n) => n >= 10),
      `the measure can tell: ${[...segments.values()].join(', ')}`,
    );
    assert.ok(Number.isNaN(await metric(uncached, 'origin_proxy_hls_cache_entries')), 'no cache metrics when off');
  });

  test('a stored segment says its age; a Range request goes to the origin and gets its part', async () => {
    const playlist = await (await fetch(`${cached.httpServer}/live/many.m3u8`)).text();
    const uri = playlist
      .split('\n')
      .find((l) => l.includes('.ts?spbhid='))!
      .trim();
    const url = `${cached.httpServer}/live/${uri}`;
    const first = await fetch(url);
    const full = Buffer.from(await first.arrayBuffer());
    const again = await fetch(url);
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), full);
    assert.match(again.headers.get('age') ?? '', /^\d+$/);
    // The origin's own Cache-Control reaches the client unchanged (the cache adds one only when it sent none).
    assert.equal(again.headers.get('cache-control'), 'no-cache');
    assert.equal(again.headers.get('content-length'), String(full.length));
    const name = uri.replace(/\?.*$/, '');
    const before = servedCounts(originRequests(origin, new RegExp(name))).get(`/live/${name}`) ?? 0;
    const range = await fetch(url, { headers: { range: 'bytes=0-187' } });
    assert.equal(range.status, 206);
    assert.deepEqual(Buffer.from(await range.arrayBuffer()), full.subarray(0, 188));
    assert.equal(originRequests(origin, new RegExp(`GET /live/${name}.* 206 `)).length >= 1, true, 'the Range request reached the origin');
    assert.equal(servedCounts(originRequests(origin, new RegExp(name))).get(`/live/${name}`) ?? 0, before, 'no second whole fetch');
  });

  test('10,000 requests for streams that do not exist leave no cache entry behind', async () => {
    const entries = await metric(cached, 'origin_proxy_hls_cache_entries');
    let next = 0;
    const statuses = new Set<number>();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 10_000) {
          const i = next++;
          const res = await fetch(`${cached.httpServer}/live/missing${i}.m3u8`);
          statuses.add(res.status);
          await res.arrayBuffer();
        }
      }),
    );
    assert.deepEqual([...statuses], [404]);
    assert.ok((await metric(cached, 'origin_proxy_hls_cache_entries')) <= entries, 'nothing stored for them');
    assert.equal(await metric(cached, 'origin_proxy_hls_cache_bytes', { kind: 'filling' }), 0);
  });
});

describe('LL-HLS blocking reloads through the cache', () => {
  let proxy: RunningProxy;
  let origin: Server;
  let seen: string[] = [];
  const held: (() => void)[] = [];
  before(async () => {
    // An LL-HLS origin that holds every blocking reload until the test releases it.
    origin = createServer((req, res) => {
      seen.push(req.url ?? '');
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
        res.end(`#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:4,\nll-5.m4s\n# ${req.url}\n`);
      };
      if (req.url?.includes('_HLS_msn')) held.push(answer);
      else answer();
    });
    const port = await freePort();
    await new Promise<void>((r) => origin.listen(port, '127.0.0.1', r));
    // One process: waiting requests are coalesced per process's cache (see the suite above).
    proxy = await startProxy({ env: { PROXY_ORIGIN_EXPIRE: '600s', PROXY_HEALTH_INTERVAL: '0', PROXY_WORKERS: '1' } });
    // No probes (PROXY_HEALTH_INTERVAL=0): the RTMP endpoint a register needs is never dialled.
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'll', service: 'svc', pid: '1', rtmp: [String(await freePort())], http: [String(port)] });
  });
  after(async () => {
    await proxy.stop();
    origin.closeAllConnections();
    origin.close();
  });

  test('20 players waiting on the same _HLS_msn/_HLS_part are one origin request; another part is another', async () => {
    seen = [];
    const wait = (q: string) =>
      Array.from({ length: 20 }, () => fetch(`${proxy.httpServer}/ll/s.m3u8?${q}`).then(async (r) => [r.status, await r.text()] as const));
    const a = wait('_HLS_msn=6&_HLS_part=1');
    const b = wait('_HLS_msn=6&_HLS_part=2');
    await eventually(async () => assert.equal(held.length, 2), 10_000, 20);
    // Every player's request has reached the proxy before the origin answers (none can start a fetch of its own later).
    await eventually(async () => assert.equal(await metric(proxy, 'origin_proxy_hls_cache_waiting'), 38), 10_000, 20);
    for (const release of held.splice(0)) release();
    const answers = [...(await Promise.all(a)), ...(await Promise.all(b))];
    assert.ok(answers.every(([status]) => status === 200));
    assert.ok(answers.slice(0, 20).every(([, text]) => text.includes('_HLS_part=1') && /ll-5\.m4s\?spbhid=[0-9a-f]{7}/.test(text)));
    assert.ok(answers.slice(20).every(([, text]) => text.includes('_HLS_part=2')));
    assert.equal(seen.filter((u) => u.includes('_HLS_msn')).length, 2, seen.join(' '));
    assert.equal(await metric(proxy, 'origin_proxy_hls_cache_requests_total', { result: 'coalesced' }), 38);
    assert.equal(await metric(proxy, 'origin_proxy_hls_cache_waiting'), 0);
  });
});
