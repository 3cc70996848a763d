// The routing seam through the proxy binary with real peers: protocol-aware picks (SRT never lands on
// an origin without SRT), a registered-but-dead origin skipped within the same request (RTMP and
// HTTP-FLV), stream name pairs (`game` / `game-720p`, `room` / `room-2`) on different origins each
// routed by their own name, and a flood of requests for missing streams that leaves live pins alone.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, test } from 'node:test';
import { parseFlvTags, readFor } from '../fixtures/flv.js';
import { eventually, probeCodecs, publish, useTestFlv } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers, type Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin } from '../fixtures/rtmp-fake-origin.js';
import { FakeOrigin, TestCaller } from '../fixtures/srt-peers.js';
import { HandshakeType } from '../../src/srt/handshake.js';

const testFlv = useTestFlv('routing-seam', 30);
after(stopAllPeers);

async function pins(proxy: RunningProxy): Promise<Map<string, string>> {
  const { streams } = (await (await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`)).json()) as { streams: { stream: string; server: string }[] };
  return new Map(streams.map((s) => [s.stream, s.server]));
}

const key = (name: string) => `__defaultVhost__/live/${name}`;

function body(server: string, rtmp: number, extra: Record<string, unknown> = {}) {
  return { ip: '127.0.0.1', server, service: `svc-${server}`, pid: '1', rtmp: [String(rtmp)], ...extra };
}

/** An HTTP origin that answers every GET 200 with its own name (and a playlist for .m3u8). */
async function namedHttpOrigin(name: string): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const text = req.url?.includes('.m3u8') ? `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n${name}-1.ts\n` : `origin ${name}`;
    res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

describe('protocol-aware picks', () => {
  test('SRT with an nginx-rtmp origin (no SRT) and an SRT origin registered always lands on the SRT origin', async () => {
    const nginx = await startNginxRtmp();
    const srt = await FakeOrigin.start('accept');
    const proxy = await startProxy();
    try {
      await registerOrigin(proxy.systemApi, body('nginx', nginx.rtmpPort, { http: [String(nginx.httpPort)] }));
      // Its RTMP endpoint is one that accepts connections (nginx's), so active health probes find it up.
      await registerOrigin(proxy.systemApi, body('srt', nginx.rtmpPort, { srt: [`udp://127.0.0.1:${srt.socket.address().port}`] }));
      for (let i = 0; i < 12; i++) {
        const caller = await TestCaller.open(proxy.ports.srt);
        const { response } = await caller.connect(`#!::r=live/srt${i},m=publish`);
        assert.equal(response.handshakeType, HandshakeType.Conclusion, `stream ${i} was accepted`);
        caller.close();
      }
      const pinned = await pins(proxy);
      for (let i = 0; i < 12; i++) assert.equal(pinned.get(key(`srt${i}`)), 'srt');
      // A stream living on nginx (published over RTMP) played over SRT: a clean refusal, not a dial to nowhere.
      // 'srt' registered an RTMP endpoint too: drained, it takes no new stream. (Its 12 SRT placements alone steer
      // a pick away from it only in the process that made them; under PROXY_WORKERS the publish may land in another.)
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/srt/drain`, { method: 'POST' })).status, 200);
      const pub = publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/onnginx`);
      try {
        await eventually(async () => assert.equal((await pins(proxy)).get(key('onnginx')), 'nginx'), 20_000, 200);
        const player = await TestCaller.open(proxy.ports.srt);
        const { response } = await player.connect('#!::r=live/onnginx,m=request');
        assert.notEqual(response.handshakeType, HandshakeType.Conclusion);
        player.close();
      } finally {
        await pub.stop();
      }
    } finally {
      await proxy.stop();
      srt.close();
      await nginx.stop();
    }
  });
});

describe('a registered but dead origin is skipped within the same request', () => {
  let nms: NmsOrigin;
  let proxy: RunningProxy;
  const peers: Peer[] = [];
  after(async () => {
    for (const p of peers) await p.stop();
    await proxy?.stop();
    await nms?.stop();
  });

  test('RTMP publish and HTTP-FLV play of streams pinned to an origin whose ports now refuse', async () => {
    proxy = await startProxy();
    const fake = await FakeRtmpOrigin.start();
    const closedHttp = await freePort();
    await registerOrigin(proxy.systemApi, body('dead', fake.port, { http: [String(closedHttp)] }));
    // Pin both streams to the origin while it still answers.
    for (const name of ['rtmp-x', 'flv-y']) {
      const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`);
      assert.equal((await client.start('publish', name, await client.createStream())).get('code'), 'NetStream.Publish.Start');
      client.close();
    }
    assert.equal((await pins(proxy)).get(key('rtmp-x')), 'dead');
    await fake.close(); // its RTMP port refuses from now on; its heartbeat record stays fresh
    nms = await startNodeMediaServer();
    await registerOrigin(proxy.systemApi, body('nms', nms.rtmpPort, { http: [String(nms.httpPort)] }));
    // RTMP: one publish, its first target refused, lands on the live origin.
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`);
    assert.equal((await client.start('publish', 'rtmp-x', await client.createStream())).get('code'), 'NetStream.Publish.Start');
    client.close();
    assert.equal((await pins(proxy)).get(key('rtmp-x')), 'nms', 'the pin followed the origin that took the stream');
    // HTTP-FLV: the stream is on NMS; one request, the dead origin's refused port tried first.
    peers.push(publish(testFlv(), `rtmp://127.0.0.1:${nms.rtmpPort}/live/flv-y`));
    await eventually(
      async () => {
        const { status, body: data } = await readFor(`${proxy.httpServer}/live/flv-y.flv`, 1500);
        assert.equal(status, 200);
        assert.ok(parseFlvTags(data).length > 0);
      },
      20_000,
      500,
    );
    assert.equal((await pins(proxy)).get(key('flv-y')), 'nms');
  });
});

describe('a live stream is routed by its own name', () => {
  test('RTMP and HTTP-FLV: game / game-720p published on different origins each play from their own', async () => {
    const [a, b] = await Promise.all([startNodeMediaServer(), startNodeMediaServer()]);
    const proxy = await startProxy();
    const pubs: Peer[] = [];
    try {
      await registerOrigin(proxy.systemApi, body('nms-a', a.rtmpPort, { http: [String(a.httpPort)] }));
      await registerOrigin(proxy.systemApi, body('nms-b', b.rtmpPort, { http: [String(b.httpPort)] }));
      let pair: [string, string] | undefined;
      for (let i = 0; i < 12 && !pair; i++) {
        const names = [`game${i}`, `game${i}-720p`] as const;
        for (const n of names) pubs.push(publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${n}`));
        const [p0, p1] = await eventually(
          async () => {
            const p = await pins(proxy);
            const servers = names.map((n) => p.get(key(n)));
            assert.ok(servers.every(Boolean));
            return servers as [string, string];
          },
          20_000,
          200,
        );
        if (p0 !== p1) pair = names as unknown as [string, string];
      }
      assert.ok(pair, 'a pair landed on different origins');
      for (const name of pair) {
        await eventually(
          async () => {
            const { status, body: data } = await readFor(`${proxy.httpServer}/live/${name}.flv`, 1500);
            assert.equal(status, 200, `${name}.flv`);
            assert.ok(parseFlvTags(data).length > 0);
          },
          20_000,
          500,
        );
        assert.ok((await probeCodecs(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${name}`)).includes('h264'), `${name} over RTMP`);
      }
    } finally {
      for (const p of pubs) await p.stop();
      await proxy.stop();
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('HTTP-FLV and HTTP-TS: name pairs on different origins; a .ts is a segment only of a stream with an HLS session', async () => {
    const [h1, h2] = await Promise.all([namedHttpOrigin('h1'), namedHttpOrigin('h2')]);
    // Scripted HTTP origins with no RTMP: the FLV requests are the per-client HTTP relay (§5.3); edge mode reads an
    // origin over RTMP even for FLV players (§11.1), so it stays off here whatever the suite's overlay.
    const proxy = await startProxy({ env: { PROXY_EDGE: 'off' } });
    const get = async (path: string) => {
      const res = await fetch(`${proxy.httpServer}${path}`);
      return { status: res.status, text: await res.text() };
    };
    try {
      // The RTMP endpoint is the HTTP port: it accepts TCP, so active health probes keep both origins up.
      await registerOrigin(proxy.systemApi, body('h1', h1.port, { http: [String(h1.port)] }));
      await registerOrigin(proxy.systemApi, body('h2', h2.port, { http: [String(h2.port)] }));
      // Pin `room` (HLS session) and `game` (live FLV), then find partner names pinned to the other origin.
      const room = (await get('/live/room.m3u8')).text.includes('h1') ? 'h1' : 'h2';
      const game = (await get('/live/game.flv')).text.endsWith('h1') ? 'h1' : 'h2';
      const partner = async (base: string, home: string, ext: string) => {
        for (let i = 2; i < 40; i++) {
          const name = `${base}-${i}`;
          if ((await get(`/live/${name}.${ext}`)).text !== `origin ${home}`) return name;
        }
        throw new Error(`no partner of ${base} landed elsewhere`);
      };
      const room2 = await partner('room', room, 'flv');
      const game720 = await partner('game', game, 'flv');
      const other = (o: string) => (o === 'h1' ? 'h2' : 'h1');
      for (let i = 0; i < 5; i++) {
        assert.equal((await get(`/live/${game720}.flv`)).text, `origin ${other(game)}`, 'FLV by its own name');
        assert.equal((await get(`/live/${game720}.ts`)).text, `origin ${other(game)}`, 'game has no HLS session: TS by its own name');
        assert.equal((await get(`/live/${room2}.ts`)).text, `origin ${other(room)}`, "a pinned stream is never another one's segment");
        assert.equal((await get('/live/room-999.ts')).text, `origin ${room}`, 'an HLS segment name of a stream with a session');
        assert.equal((await get('/live/game-999.ts')).text.length > 0, true);
      }
      const p = await pins(proxy);
      assert.equal(p.get(key('room-999')), undefined, 'a segment is not a stream');
    } finally {
      await proxy.stop();
      h1.server.close();
      h2.server.close();
    }
  });
});

describe('pins under a flood of requests for missing streams', () => {
  test('with PROXY_MAX_STREAM_PINS=4, live streams keep their pins through HLS and FLV floods', async () => {
    const nginx = await startNginxRtmp();
    const proxy = await startProxy({ env: { PROXY_MAX_STREAM_PINS: '4' } });
    const pubs: Peer[] = [];
    try {
      await registerOrigin(proxy.systemApi, body('ng', nginx.rtmpPort, { http: [String(nginx.httpPort)] }));
      for (const n of ['live1', 'live2']) pubs.push(publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${n}`));
      await eventually(
        async () => {
          const p = await pins(proxy);
          assert.equal(p.get(key('live1')), 'ng');
          assert.equal(p.get(key('live2')), 'ng');
        },
        20_000,
        200,
      );
      // Attack 1: playlists of missing streams (the origin answers 404); attack 2: FLV of missing streams.
      for (const ext of ['m3u8', 'flv']) {
        for (let wave = 0; wave < 10; wave++) {
          const statuses = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              fetch(`${proxy.httpServer}/live/missing-${ext}-${wave}-${i}.${ext}`).then(async (r) => (await r.arrayBuffer(), r.status)),
            ),
          );
          assert.ok(
            statuses.every((s) => s >= 400),
            `missing streams are errors: ${statuses.join(',')}`,
          );
        }
      }
      const p = await pins(proxy);
      assert.equal(p.get(key('live1')), 'ng');
      assert.equal(p.get(key('live2')), 'ng');
      assert.ok(p.size <= 4, `pins: ${[...p.keys()].join(', ')}`);
      assert.ok(![...p.keys()].some((k) => k.includes('missing')), 'no pin outlives a request for a missing stream');
    } finally {
      for (const pub of pubs) await pub.stop();
      await proxy.stop();
      await nginx.stop();
    }
  });
});
