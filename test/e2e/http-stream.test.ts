// HTTP streaming through the proxy against real origins: HTTP-FLV from node-media-server, HLS and DASH
// from two nginx-rtmp origins, static files, failures and bad input (spec scenarios 41-54).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseFlvTags, readFor } from '../fixtures/flv.js';
import { eventually, probeCodecs, publish, useTestFlv } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import type { Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';

const testFlv = useTestFlv('http-media');

function originBody(server: string, rtmp: number, http: number) {
  return { ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: [String(rtmp)], http: [String(http)] };
}

/** Which origin server id the proxy pinned a stream to. */
async function pinnedServer(proxy: RunningProxy, key: string): Promise<string | undefined> {
  const { streams } = (await (await fetch(`${proxy.systemApi}/api/v1/streams`)).json()) as { streams: { stream: string; server: string }[] };
  return streams.find((s) => s.stream === key)?.server;
}

describe('HTTP-FLV from node-media-server', () => {
  let nms: NmsOrigin;
  let proxy: RunningProxy;
  let pub: Peer;
  before(async () => {
    nms = await startNodeMediaServer();
    proxy = await startProxy({ env: { PROXY_IDLE_TIMEOUT: '1s' } });
    await registerOrigin(proxy.systemApi, originBody('nms', nms.rtmpPort, nms.httpPort));
    pub = publish(testFlv(), `rtmp://127.0.0.1:${nms.rtmpPort}/live/flv1`);
    await eventually(() => probeCodecs(`http://127.0.0.1:${nms.httpPort}/live/flv1.flv`, 8000), 20_000);
  });
  after(async () => {
    await pub.stop();
    await proxy.stop();
    await nms.stop();
  });

  test('scenarios 41-42: ffprobe reads it; FLV body, CORS and the origin Content-Type', async () => {
    assert.deepEqual(await probeCodecs(`${proxy.httpServer}/live/flv1.flv`), ['aac', 'h264']);
    const r = await readFor(`${proxy.httpServer}/live/flv1.flv`, 800);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString('latin1', 0, 3), 'FLV');
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    // node-media-server sends no Content-Type; the proxy then names the type by the extension.
    const direct = await readFor(`http://127.0.0.1:${nms.httpPort}/live/flv1.flv`, 300);
    assert.equal(r.headers.get('content-type'), direct.headers.get('content-type') ?? 'video/x-flv');
  });

  test('the same FLV tags as a direct request over the same window', async () => {
    const [direct, proxied] = await Promise.all([
      readFor(`http://127.0.0.1:${nms.httpPort}/live/flv1.flv`, 2500),
      readFor(`${proxy.httpServer}/live/flv1.flv`, 2500),
    ]);
    const a = parseFlvTags(direct.body);
    const b = parseFlvTags(proxied.body);
    // Sequence headers apart: edge mode (§11.2) sends the cached ones at the GOP's first time, which is also its
    // keyframe's.
    const key = (t: { type: number; timestamp: number; header: boolean }) => `${t.type}${t.header ? 'h' : ''}@${t.timestamp}`;
    const byKey = new Map(a.map((t) => [key(t), t.sha1]));
    const common = b.filter((t) => byKey.has(key(t)));
    assert.ok(common.length >= 20, `only ${common.length} common tags`);
    for (const t of common) assert.equal(t.sha1, byKey.get(key(t)), `tag ${key(t)} differs`);
    // Tag order and timestamps as the origin sent them (video timestamps never go backwards).
    const video = b.filter((t) => t.type === 9).map((t) => t.timestamp);
    for (let i = 1; i < video.length; i++) assert.ok(video[i]! >= video[i - 1]!, 'monotonic');
  });

  test('scenario 44: OPTIONS → 200, empty body, CORS headers', async () => {
    const res = await fetch(`${proxy.httpServer}/live/flv1.flv`, { method: 'OPTIONS' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
    for (const h of ['access-control-allow-origin', 'access-control-allow-headers', 'access-control-allow-methods']) {
      assert.equal(res.headers.get(h), '*');
    }
  });

  test('scenario 55: Host with and without a port, RTMP-style key → same origin pin', async () => {
    await readFor(`${proxy.httpServer}/live/flv1.flv`, 200, 1000, { host: 'localhost:18080' });
    assert.equal(await pinnedServer(proxy, '__defaultVhost__/live/flv1'), 'nms');
  });
});

describe('HLS and DASH from two nginx-rtmp origins', () => {
  let o1: NginxOrigin;
  let o2: NginxOrigin;
  let proxy: RunningProxy;
  const pubs: Peer[] = [];
  const origins = new Map<string, NginxOrigin>();
  const streamOrigin = new Map<string, string>();

  before(async () => {
    o1 = await startNginxRtmp();
    o2 = await startNginxRtmp();
    origins.set('ng1', o1).set('ng2', o2);
    // Origins are registered once (no heartbeat sidecar): an expiry beyond the suite's length keeps them up
    // (an origin without heartbeats is down, and its relays are closed).
    proxy = await startProxy({ env: { PROXY_ORIGIN_EXPIRE: '600s' } });
    await registerOrigin(proxy.systemApi, originBody('ng1', o1.rtmpPort, o1.httpPort));
    await registerOrigin(proxy.systemApi, originBody('ng2', o2.rtmpPort, o2.httpPort));
    // A playlist request before publishing gets the origin's 404 and leaves no pin behind; publishing
    // through the proxy pins each stream, until the streams sit on both origins.
    for (let i = 0; i < 24 && new Set(streamOrigin.values()).size < 2; i++) {
      const name = `hls${i}`;
      const res = await fetch(`${proxy.httpServer}/live/${name}.m3u8`);
      assert.equal(res.status, 404, 'nothing published yet: the origin 404 passes through (scenario 43)');
      assert.equal(await pinnedServer(proxy, `__defaultVhost__/live/${name}`), undefined, 'a request for a missing stream pins nothing');
      pubs.push(publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${name}`));
      let server: string | undefined;
      await eventually(async () => assert.ok((server = await pinnedServer(proxy, `__defaultVhost__/live/${name}`))), 20_000, 200);
      streamOrigin.set(name, server!);
    }
    assert.equal(new Set(streamOrigin.values()).size, 2, 'streams landed on both origins');
    for (const name of streamOrigin.keys()) {
      await eventually(async () => assert.equal((await fetch(`${proxy.httpServer}/live/${name}.m3u8`)).status, 200), 30_000, 500);
    }
  });
  after(async () => {
    await Promise.all(pubs.map((p) => p.stop()));
    await proxy.stop();
    await o1.stop();
    await o2.stop();
  });

  test("playlists are the origin's, byte for byte, apart from the session parameter", async () => {
    for (const [name, server] of streamOrigin) {
      const origin = origins.get(server)!;
      await eventually(
        async () => {
          const [p, d] = await Promise.all([fetch(`${proxy.httpServer}/live/${name}.m3u8`), fetch(`http://127.0.0.1:${origin.httpPort}/live/${name}.m3u8`)]);
          const proxied = await p.text();
          const direct = await d.text();
          const ids = [...proxied.matchAll(/spbhid=([0-9a-f]{7})/g)].map((m) => m[1]);
          assert.ok(ids.length > 0);
          assert.equal(new Set(ids).size, 1);
          assert.equal(proxied.replace(/\?spbhid=[0-9a-f]{7}/g, ''), direct);
          assert.equal(p.headers.get('content-length'), String(Buffer.byteLength(proxied)));
          assert.equal(p.headers.get('content-type'), 'application/vnd.apple.mpegurl');
          assert.equal(p.headers.get('cache-control'), 'no-cache');
        },
        10_000,
        300,
      );
      // Players such as ffmpeg ask for `Range: bytes=0-`: the rewritten playlist still comes whole, as 200.
      const ranged = await fetch(`${proxy.httpServer}/live/${name}.m3u8`, { headers: { range: 'bytes=0-' } });
      assert.equal(ranged.status, 200);
      assert.equal(ranged.headers.get('content-range'), null);
      assert.match(await ranged.text(), /\.ts\?spbhid=[0-9a-f]{7}\s*$/);
    }
  });

  test('scenario 52: the session id is stable across playlist requests', async () => {
    const name = [...streamOrigin.keys()][0]!;
    const a = (await (await fetch(`${proxy.httpServer}/live/${name}.m3u8`)).text()).match(/spbhid=([0-9a-f]{7})/)?.[1];
    const b = (await (await fetch(`${proxy.httpServer}/live/${name}.m3u8`)).text()).match(/spbhid=([0-9a-f]{7})/)?.[1];
    assert.ok(a);
    assert.equal(a, b);
  });

  test("ffprobe plays HLS through the proxy, and every segment request lands on the stream's origin", async () => {
    for (const [name, server] of streamOrigin) {
      assert.deepEqual(await probeCodecs(`${proxy.httpServer}/live/${name}.m3u8`, 20_000), ['aac', 'h264']);
      const own = readFileSync(join(origins.get(server)!.dir, 'logs', 'access.log'), 'utf8');
      // The playlist asked before publishing got a 404, pinned nothing, and may have been asked of either origin.
      const other = readFileSync(join(origins.get(server === 'ng1' ? 'ng2' : 'ng1')!.dir, 'logs', 'access.log'), 'utf8')
        .split('\n')
        .filter((line) => !/\.m3u8 HTTP\/1\.1" 404 /.test(line))
        .join('\n');
      assert.match(own, new RegExp(`GET /live/${name}-\\d+\\.ts\\?spbhid=[0-9a-f]{7} `), "segments fetched from the stream's origin");
      assert.doesNotMatch(other, new RegExp(`/live/${name}[-.]`), 'and never from the other origin');
    }
  });

  test('scenario 49: a segment with its session; HEAD and Range pass through', async () => {
    const name = [...streamOrigin.keys()][0]!;
    const playlist = await (await fetch(`${proxy.httpServer}/live/${name}.m3u8`)).text();
    const seg = playlist.split('\n').find((l) => l.includes('.ts?spbhid='))!;
    const url = `${proxy.httpServer}/live/${seg.trim()}`;
    const full = Buffer.from(await (await fetch(url)).arrayBuffer());
    assert.equal(full[0], 0x47, 'MPEG-TS');
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(full.length));
    const range = await fetch(url, { headers: { range: 'bytes=188-375' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get('content-range'), `bytes 188-375/${full.length}`);
    assert.deepEqual(Buffer.from(await range.arrayBuffer()), full.subarray(188, 376));
  });

  test('scenario 50: a bogus or unknown session → 4xx JSON', async () => {
    const bogus = await fetch(`${proxy.httpServer}/live/livestream-1.ts?spbhid=bogus`);
    assert.equal(bogus.status, 400);
    assert.match(((await bogus.json()) as { error: string }).error, /spbhid/);
    const unknown = await fetch(`${proxy.httpServer}/live/livestream-1.ts?spbhid=0000000`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get('content-type'), 'application/json');
  });

  test("a segment without the session still reaches its stream's origin", async () => {
    const name = [...streamOrigin.keys()][0]!;
    const playlist = await (await fetch(`${proxy.httpServer}/live/${name}.m3u8`)).text();
    const seg = playlist
      .split('\n')
      .find((l) => l.includes('.ts?spbhid='))!
      .trim()
      .replace(/\?.*$/, '');
    const res = await fetch(`${proxy.httpServer}/live/${seg}`);
    assert.equal(res.status, 200);
    assert.equal(Buffer.from(await res.arrayBuffer())[0], 0x47);
  });

  test('DASH: the manifest is rewritten and ffprobe plays it through the proxy', async () => {
    const name = [...streamOrigin.keys()][0]!;
    const mpd = await eventually(
      async () => {
        const res = await fetch(`${proxy.httpServer}/live/${name}.mpd`);
        assert.equal(res.status, 200);
        return res.text();
      },
      20_000,
      500,
    );
    assert.match(mpd, new RegExp(`initialization="${name}-init\\.m4v\\?spbhid=[0-9a-f]{7}"`));
    assert.deepEqual(await probeCodecs(`${proxy.httpServer}/live/${name}.mpd`, 20_000), ['aac', 'h264']);
  });
});

describe('static files, failures and bad input', () => {
  let proxy: RunningProxy;
  let site: { dir: string; remove: () => void };
  let streamer: Server;
  let streamerPort: number;
  /** The streamer's RTMP port (what the health probe connects to): the LL-HLS hold and the stream outlast a probe interval. */
  let streamerRtmp: RtmpListener;
  let openConnections = 0;
  before(async () => {
    streamerRtmp = await RtmpListener.start();
    site = tempDir('static');
    mkdirSync(join(site.dir, 'players'));
    writeFileSync(join(site.dir, 'players', 'whep.html'), '<!doctype html><title>whep</title>');
    writeFileSync(join(site.dir, '.secret'), 'no');
    // A real HTTP origin that streams forever, counting its open connections.
    streamer = createServer((req, res) => {
      if (req.url?.includes('.m3u8')) {
        // A blocking reload held back as an LL-HLS origin holds it, longer than the answer timeout. An ordinary
        // playlist is never answered: the proxy's answer timeout alone ends it (a deadline the proxy re-arms after a
        // CPU stall, as it rightly does, must not let an answer in).
        if (req.url.includes('_HLS_msn')) setTimeout(() => res.end('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nll-1.m4s\n'), 1500);
        return;
      }
      openConnections++;
      req.socket.once('close', () => openConnections--);
      res.writeHead(200, { 'content-type': 'video/x-flv' });
      const t = setInterval(() => res.write(Buffer.alloc(1024)), 20);
      res.once('close', () => clearInterval(t));
    });
    streamerPort = await freePort();
    await new Promise<void>((r) => streamer.listen(streamerPort, '127.0.0.1', r));
    // The scripted HTTP streamer has no RTMP: its FLV is the per-client HTTP relay (§5.3), whose cancelling of the
    // origin request is tested here; edge mode reads origins over RTMP (§11.1), so it stays off whatever the overlay.
    proxy = await startProxy({ env: { PROXY_STATIC_FILES: site.dir, PROXY_ORIGIN_ANSWER_TIMEOUT: '1s', PROXY_EDGE: 'off' } });
  });
  after(async () => {
    await proxy.stop();
    streamer.closeAllConnections();
    streamer.close();
    await streamerRtmp.close();
    site.remove();
  });

  test('scenario 53: a static player page', async () => {
    const res = await fetch(`${proxy.httpServer}/players/whep.html`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const etag = res.headers.get('etag')!;
    // Not fetch(): it adds Cache-Control: no-cache to conditional requests, which rightly defeats 304.
    const { get } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      get({ port: proxy.ports.httpServer, host: '127.0.0.1', path: '/players/whep.html', headers: { 'if-none-match': etag } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 304);
    const part = await fetch(`${proxy.httpServer}/players/whep.html`, { headers: { range: 'bytes=0-8' } });
    assert.equal(part.status, 206);
    assert.equal(await part.text(), '<!doctype');
  });

  test('scenario 54 and traversal attempts: 4xx, never a file outside the root', async () => {
    const { connect } = await import('node:net');
    const raw = (path: string) =>
      new Promise<string>((resolve) => {
        const s = connect(proxy.ports.httpServer, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
        let data = '';
        s.on('data', (d) => (data += d.toString()));
        s.on('close', () => resolve(data));
        s.on('error', () => resolve(data));
      });
    const attempts = [
      '/unknown.xyz',
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/players/..%2f..%2f..%2fetc%2fpasswd',
      '/.secret',
      '/players/%00whep.html',
      '/%E0%A4%A',
      `/${'a'.repeat(10_000)}`,
      '/players/whep.html%00.flv',
    ];
    for (const path of attempts) {
      const reply = await raw(path);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
      assert.ok(status >= 400 && status < 500, `${path.slice(0, 40)} → ${status}`);
      assert.doesNotMatch(reply, /root:x:0:0/);
    }
    assert.equal((await fetch(`${proxy.httpServer}/api/v1/versions`)).status, 200, 'still up');
  });

  test('no origin → 503 JSON; a dead origin → 502 fast', async () => {
    const none = await fetch(`${proxy.httpServer}/live/x.flv`);
    assert.equal(none.status, 503);
    assert.match(((await none.json()) as { error: string }).error, /no origin/);
    await registerOrigin(proxy.systemApi, originBody('dead', 1935, await freePort()));
    const t0 = Date.now();
    const dead = await fetch(`${proxy.httpServer}/live/y.flv`);
    assert.equal(dead.status, 502);
    const body = await dead.text();
    assert.doesNotMatch(body, /127\.0\.0\.1/, 'no internal address leaks');
    assert.ok(Date.now() - t0 < 2000);
    await fetch(`${proxy.systemApi}/api/v1/origins/dead`, { method: 'DELETE' });
  });

  test("LL-HLS blocking reloads wait on the origin's hold; an ordinary playlist is bounded by the answer timeout", async () => {
    await registerOrigin(proxy.systemApi, originBody('ll', streamerRtmp.port, streamerPort));
    const blocking = await fetch(`${proxy.httpServer}/ll/s.m3u8?_HLS_msn=2&_HLS_part=1`);
    assert.equal(blocking.status, 200);
    assert.match(await blocking.text(), /ll-1\.m4s\?spbhid=[0-9a-f]{7}/);
    const ordinary = await fetch(`${proxy.httpServer}/ll/s.m3u8`);
    assert.equal(ordinary.status, 504);
    await fetch(`${proxy.systemApi}/api/v1/origins/ll`, { method: 'DELETE' });
  });

  test('a client that disconnects mid-stream cancels the origin request', async () => {
    await registerOrigin(proxy.systemApi, originBody('streamer', streamerRtmp.port, streamerPort));
    const r = await readFor(`${proxy.httpServer}/live/endless.flv`, 500);
    assert.equal(r.status, 200);
    assert.ok(r.body.length > 0);
    await eventually(async () => assert.equal(openConnections, 0), 3000, 50);
  });
});
