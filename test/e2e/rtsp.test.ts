// RTSP through the proxy with real peers: GStreamer's RTSP server is the origin (play and RECORD),
// ffmpeg/ffprobe and GStreamer's rtspsrc are the clients. A raw client checks exact answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { freePort } from '../fixtures/ports.js';
import { run, stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RawRtspClient } from '../fixtures/rtsp-client.js';
import { RtspOrigin } from '../fixtures/rtsp-origin.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

interface Probe {
  code: number | null;
  codec: string | undefined;
  width: number | undefined;
  frames: number;
  stderr: string;
}

/** ffprobe reading `seconds` of the first video stream of `url`. */
async function probe(url: string, transport: 'tcp' | 'default' = 'tcp', seconds = 2): Promise<Probe> {
  const args = ['-v', 'error'];
  if (transport === 'tcp') args.push('-rtsp_transport', 'tcp');
  args.push(
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,width,nb_read_frames',
    '-of',
    'json',
    '-read_intervals',
    `%+${seconds}`,
    url,
  );
  const r = await run('ffprobe', args, 30_000);
  let stream: { codec_name?: string; width?: number; nb_read_frames?: string } = {};
  try {
    stream = (JSON.parse(r.stdout) as { streams?: (typeof stream)[] }).streams?.[0] ?? {};
  } catch {
    // no JSON: the probe failed; the caller sees the code and stderr
  }
  return { code: r.code, codec: stream.codec_name, width: stream.width, frames: Number(stream.nb_read_frames ?? 0), stderr: r.stderr };
}

/** ffmpeg publishing `seconds` of an H.264 test pattern over RTSP (TCP interleaved). */
function publish(url: string, seconds = 2) {
  return run(
    'ffmpeg',
    [
      '-v',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x240:rate=25',
      '-t',
      String(seconds),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '25',
      '-pix_fmt',
      'yuv420p',
      '-f',
      'rtsp',
      '-rtsp_transport',
      'tcp',
      url,
    ],
    60_000,
  );
}

async function recordedFrames(file: string): Promise<number> {
  const r = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  // MPEG-TS lists the stream under its program too: the first number is the count.
  return Number.parseInt(/\d+/.exec(r.stdout)?.[0] ?? '0', 10);
}

function register(proxy: RunningProxy, server: string, rtmpPort: number, rtspPorts: number[]): Promise<void> {
  return registerOrigin(proxy.systemApi, {
    ip: '127.0.0.1',
    server,
    service: `svc-${server}`,
    pid: '1',
    rtmp: [String(rtmpPort)],
    rtsp: rtspPorts.map(String),
  });
}

async function pinnedServer(proxy: RunningProxy, stream: string): Promise<string | undefined> {
  const res = await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`);
  const body = (await res.json()) as { data?: { streams?: { stream: string; server: string }[] }; streams?: { stream: string; server: string }[] };
  const list = body.data?.streams ?? body.streams ?? [];
  return list.find((s) => s.stream === stream)?.server;
}

describe('RTSP through the proxy to a GStreamer origin', () => {
  let origin: RtspOrigin;
  let rtmp: RtmpListener;
  let proxy: RunningProxy;
  let url: (path: string) => string;

  before(async () => {
    [origin, rtmp] = await Promise.all([RtspOrigin.start({ play: ['/live/livestream'], record: ['/live/pub'] }), RtmpListener.start()]);
    proxy = await startProxy();
    await register(proxy, 'o1', rtmp.port, [origin.port]);
    url = (path) => `rtsp://127.0.0.1:${proxy.ports.rtsp}${path}`;
  });
  after(async () => {
    await proxy.stop();
    await origin.stop();
    await rtmp.close();
  });

  test('play over TCP gives the frames and codec of a direct play', async () => {
    const [direct, proxied] = await Promise.all([probe(`rtsp://127.0.0.1:${origin.port}/live/livestream`), probe(url('/live/livestream'))]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(proxied.code, 0, proxied.stderr);
    assert.equal(proxied.codec, 'h264');
    assert.equal(proxied.codec, direct.codec);
    assert.equal(proxied.width, direct.width);
    // Two seconds of a live 25 fps stream: the same count give or take the edges of the window.
    assert.ok(proxied.frames >= 40, `proxied frames ${proxied.frames}`);
    assert.ok(Math.abs(proxied.frames - direct.frames) <= 5, `direct ${direct.frames}, proxied ${proxied.frames}`);
  });

  test("ffmpeg's default transport order: UDP SETUP is answered 461, the TCP retry plays", async () => {
    const p = await probe(url('/live/livestream'), 'default');
    assert.equal(p.code, 0, p.stderr);
    // ffmpeg logs the refused UDP SETUP before retrying over TCP.
    assert.match(p.stderr, /461/);
    assert.equal(p.codec, 'h264');
    assert.ok(p.frames >= 40, `frames ${p.frames}`);
  });

  test('a UDP-only SETUP gets 461 from the proxy and the session goes on over TCP', async () => {
    const c = await RawRtspClient.open(proxy.ports.rtsp);
    try {
      c.request('DESCRIBE', url('/live/livestream'), 1, { Accept: 'application/sdp' });
      const d = await c.response();
      assert.equal(d.status, 200, d.body);
      // URLs naming the origin were rewritten to the address the client used.
      assert.doesNotMatch(d.body + (d.headers.get('content-base') ?? ''), new RegExp(`:${origin.port}\\b`));
      assert.match(d.headers.get('content-base') ?? '', new RegExp(`^rtsp://127\\.0\\.0\\.1:${proxy.ports.rtsp}/live/livestream/?$`));
      assert.equal(Number(d.headers.get('content-length')), Buffer.byteLength(d.body));
      const control = /a=control:(\S*stream=0)/.exec(d.body)?.[1] ?? 'stream=0';
      const track = control.startsWith('rtsp://') ? control : `${url('/live/livestream')}/${control}`;
      c.request('SETUP', track, 2, { Transport: 'RTP/AVP;unicast;client_port=5000-5001' });
      const udp = await c.response();
      assert.equal(udp.status, 461);
      assert.equal(udp.headers.get('cseq'), '2');
      c.request('SETUP', track, 3, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
      const tcp = await c.response();
      assert.equal(tcp.status, 200, tcp.body);
      const session = (tcp.headers.get('session') ?? '').split(';')[0]!;
      c.request('PLAY', url('/live/livestream'), 4, { Session: session, Range: 'npt=0-' });
      const play = await c.response();
      assert.equal(play.status, 200);
      const answered = c.received;
      await waitFor(() => c.received > answered + 1000, { what: 'frames flowing' });
      // A keep-alive between frames is still parsed and answered.
      c.request('GET_PARAMETER', url('/live/livestream'), 5, { Session: session });
      const keepalive = await c.response();
      assert.equal(keepalive.headers.get('cseq'), '5');
      assert.ok(c.frameBytes > 0, 'interleaved frames arrived before the keep-alive answer');
    } finally {
      c.destroy();
    }
  });

  test('a stream the origin does not have (404) keeps no pin once the client leaves', async () => {
    const c = await RawRtspClient.open(proxy.ports.rtsp);
    try {
      c.request('DESCRIBE', url('/live/missing'), 1, { Accept: 'application/sdp' });
      const d = await c.response();
      assert.equal(d.status, 404, d.body);
    } finally {
      c.destroy();
    }
    await waitFor(async () => (await pinnedServer(proxy, '__defaultVhost__/live/missing')) === undefined, { what: 'no pin for a missing stream' });
  });

  test('a playing client is listed as an rtsp player and can be kicked', async () => {
    const c = await RawRtspClient.open(proxy.ports.rtsp);
    try {
      c.request('DESCRIBE', url('/live/livestream'), 1, { Accept: 'application/sdp' });
      assert.equal((await c.response()).status, 200);
      type Listed = { id: string; protocol: string; role: string; stream: string; bytes: { out: number } };
      const listed = await waitFor(
        async () => {
          const res = await fetch(`${proxy.systemApi}/api/v1/clients?stream=${encodeURIComponent('__defaultVhost__/live/livestream')}`);
          const body = (await res.json()) as { clients: Listed[] };
          return body.clients.find((x) => x.protocol === 'rtsp');
        },
        { what: 'the RTSP client listed' },
      );
      assert.equal(listed.role, 'play');
      assert.ok(listed.bytes.out > 0, 'the DESCRIBE answer counts as bytes to the client');
      const kick = await fetch(`${proxy.systemApi}/api/v1/clients/${encodeURIComponent(listed.id)}`, { method: 'DELETE' });
      assert.equal(kick.status, 200);
      await c.closedWithin(5000);
    } finally {
      c.destroy();
    }
  });

  test('ffmpeg publishes through the proxy and the origin receives the stream', async () => {
    const r = await publish(url('/live/pub'));
    assert.equal(r.code, 0, r.stderr);
    // 2 s at 25 fps: 50 frames sent. The origin's recorder may drop a few at the start (before a key frame) or the end.
    const frames = await waitFor(
      async () => {
        const n = await recordedFrames(origin.recordedFile('/live/pub'));
        return n >= 40 ? n : 0;
      },
      { what: 'the published frames reached the origin' },
    );
    assert.ok(frames <= 50, `frames ${frames}`);
  });

  test("GStreamer's rtspsrc plays through the proxy (its default transports: UDP refused, TCP used)", async () => {
    const r = await run(
      'gst-launch-1.0',
      ['-q', 'rtspsrc', `location=${url('/live/livestream')}`, '!', 'rtph264depay', '!', 'h264parse', '!', 'fakesink', 'num-buffers=25'],
      30_000,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('a request line that is not RTSP gets 400 and only that connection closes', async () => {
    const player = probe(url('/live/livestream'));
    const c = await RawRtspClient.open(proxy.ports.rtsp);
    c.send('GET / HTTP/1.1 nonsense\r\n\r\n');
    const r = await c.response();
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body).error as string, /request line/);
    await c.closedWithin(5000);
    const p = await player;
    assert.equal(p.code, 0, p.stderr);
  });

  test('headers over 64 KiB get 400 and a close; a Content-Length over the bound gets 413', async () => {
    const big = await RawRtspClient.open(proxy.ports.rtsp);
    big.send(`OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ${'a'.repeat(70 * 1024)}`);
    assert.equal((await big.response()).status, 400);
    await big.closedWithin(5000);
    const endless = await RawRtspClient.open(proxy.ports.rtsp);
    endless.send(`OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n${'X-A: b\r\n'.repeat(9000)}\r\n`);
    assert.equal((await endless.response()).status, 400);
    await endless.closedWithin(5000);
    const body = await RawRtspClient.open(proxy.ports.rtsp);
    body.send(`ANNOUNCE ${url('/live/x')} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n`);
    assert.equal((await body.response()).status, 413);
    await body.closedWithin(5000);
  });

  test('OPTIONS before the stream is answered by the proxy; other methods get 455', async () => {
    const c = await RawRtspClient.open(proxy.ports.rtsp);
    try {
      c.request('OPTIONS', '*', 7);
      const o = await c.response();
      assert.equal(o.status, 200);
      assert.equal(o.headers.get('cseq'), '7');
      assert.match(o.headers.get('public') ?? '', /DESCRIBE/);
      c.request('PLAY', url('/live/livestream'), 8);
      assert.equal((await c.response()).status, 455);
    } finally {
      c.destroy();
    }
  });

  test('a stream URL without app/stream gets 400', async () => {
    const c = await RawRtspClient.open(proxy.ports.rtsp);
    c.request('DESCRIBE', url('/onlyone'), 1);
    const r = await c.response();
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body).error as string, /invalid stream/);
    await c.closedWithin(5000);
  });
});

describe('RTSP timeouts and refusals', () => {
  test('a client that never names its stream is closed at PROXY_HANDSHAKE_TIMEOUT, another plays meanwhile', async () => {
    const [origin, rtmp] = await Promise.all([RtspOrigin.start({ play: ['/live/livestream'] }), RtmpListener.start()]);
    const proxy = await startProxy({ env: { PROXY_HANDSHAKE_TIMEOUT: '1s' } });
    try {
      await register(proxy, 'o1', rtmp.port, [origin.port]);
      // Slow: one header byte at a time, never finished; silent: connects and sends nothing.
      const slow = await RawRtspClient.open(proxy.ports.rtsp);
      const silent = await RawRtspClient.open(proxy.ports.rtsp);
      const dribble = setInterval(() => !slow.closed && slow.send('X'), 100);
      slow.send('DESCRIBE rtsp://127.0.0.1/live/livestream RTSP/1.0\r\nX-Slow: ');
      try {
        const p = await probe(`rtsp://127.0.0.1:${proxy.ports.rtsp}/live/livestream`);
        assert.equal(p.code, 0, p.stderr);
        await slow.closedWithin(10_000);
        await silent.closedWithin(10_000);
      } finally {
        clearInterval(dribble);
      }
      const stats = await proxy.stats();
      assert.equal(stats.protocols.rtsp?.refused.timeout, 2);
    } finally {
      await proxy.stop();
      await origin.stop();
      await rtmp.close();
    }
  });

  test('no origin with an rtsp endpoint → 503 with the reason; origin unreachable → 502 naming no address', async () => {
    const proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0', PROXY_DIAL_TIMEOUT: '1s' } });
    try {
      const url = `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/s`;
      const none = await RawRtspClient.open(proxy.ports.rtsp);
      none.request('DESCRIBE', url, 3);
      const r1 = await none.response();
      assert.equal(r1.status, 503);
      assert.equal(r1.headers.get('cseq'), '3');
      assert.deepEqual(JSON.parse(r1.body), { code: 503, error: 'no origin available' });
      await none.closedWithin(5000);

      // An origin with RTMP only: RTSP has nowhere to go.
      await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'rtmponly', service: 's', pid: '1', rtmp: ['1935'] });
      const noService = await RawRtspClient.open(proxy.ports.rtsp);
      noService.request('DESCRIBE', url, 1);
      const r2 = await noService.response();
      assert.equal(r2.status, 503);
      assert.match(JSON.parse(r2.body).error as string, /protocol/);

      const closedPort = await freePort();
      await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'dead', service: 's', pid: '1', rtmp: ['1935'], rtsp: [String(closedPort)] });
      await fetch(`${proxy.systemApi}/api/v1/origins/rtmponly`, { method: 'DELETE' });
      const dead = await RawRtspClient.open(proxy.ports.rtsp);
      dead.request('DESCRIBE', `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/other`, 1);
      const r3 = await dead.response();
      assert.equal(r3.status, 502);
      assert.deepEqual(JSON.parse(r3.body), { code: 502, error: 'origin unreachable' });
      assert.doesNotMatch(JSON.stringify([...r3.headers]) + r3.body, new RegExp(`${closedPort}|dead`));
      await dead.closedWithin(5000);
    } finally {
      await proxy.stop();
    }
  });

  test('the origin closing mid-stream closes the client', async () => {
    const [origin, rtmp] = await Promise.all([RtspOrigin.start({ play: ['/live/livestream'] }), RtmpListener.start()]);
    const proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0' } });
    try {
      await register(proxy, 'o1', rtmp.port, [origin.port]);
      const base = `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/livestream`;
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      c.request('DESCRIBE', base, 1);
      const d = await c.response();
      assert.equal(d.status, 200);
      const control = /a=control:(\S*stream=0)/.exec(d.body)?.[1] ?? 'stream=0';
      c.request('SETUP', control.startsWith('rtsp://') ? control : `${base}/${control}`, 2, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
      const s = await c.response();
      c.request('PLAY', base, 3, { Session: (s.headers.get('session') ?? '').split(';')[0]! });
      assert.equal((await c.response()).status, 200);
      const answered = c.received;
      await waitFor(() => c.received > answered + 1000, { what: 'frames flowing' });
      origin.peer.child.kill('SIGKILL');
      await c.closedWithin(2000);
    } finally {
      await proxy.stop();
      await origin.stop();
      await rtmp.close();
    }
  });
});

describe('RTSP with two origins and Digest authentication', () => {
  test('streams land on the origin routing chose and play back from it', async () => {
    const [a, b, rtmpA, rtmpB] = await Promise.all([
      RtspOrigin.start({ play: ['/live/cam'], record: ['/live/p1', '/live/p2', '/live/p3', '/live/p4'], size: '320x240' }),
      RtspOrigin.start({ play: ['/live/cam'], record: ['/live/p1', '/live/p2', '/live/p3', '/live/p4'], size: '160x120' }),
      RtmpListener.start(),
      RtmpListener.start(),
    ]);
    const proxy = await startProxy();
    try {
      await register(proxy, 'a', rtmpA.port, [a.port]);
      await register(proxy, 'b', rtmpB.port, [b.port]);
      const base = `rtsp://127.0.0.1:${proxy.ports.rtsp}`;
      for (const name of ['p1', 'p2', 'p3', 'p4']) {
        const r = await publish(`${base}/live/${name}`, 1);
        assert.equal(r.code, 0, r.stderr);
        const server = await pinnedServer(proxy, `__defaultVhost__/live/${name}`);
        assert.ok(server === 'a' || server === 'b', `pin of ${name}: ${server}`);
        const [there, elsewhere] = server === 'a' ? [a, b] : [b, a];
        await waitFor(async () => (await recordedFrames(there.recordedFile(`/live/${name}`))) > 0, { what: `${name} recorded on ${server}` });
        assert.equal(existsSync(elsewhere.recordedFile(`/live/${name}`)), false, `${name} also reached the other origin`);
      }
      const p = await probe(`${base}/live/cam`);
      assert.equal(p.code, 0, p.stderr);
      const server = await pinnedServer(proxy, '__defaultVhost__/live/cam');
      assert.equal(p.width, server === 'a' ? 320 : 160, `played from ${server}`);
      // Played again: the pin holds, the same origin answers.
      assert.equal((await probe(`${base}/live/cam`, 'tcp', 1)).width, p.width);
    } finally {
      await proxy.stop();
      await Promise.all([a.stop(), b.stop(), rtmpA.close(), rtmpB.close()]);
    }
  });

  test('an origin that requires Digest accepts the credentials the client signed through the proxy', async () => {
    const [origin, rtmp] = await Promise.all([RtspOrigin.start({ play: ['/live/secure'], auth: 'digest', user: 'viewer:s3cret' }), RtmpListener.start()]);
    const proxy = await startProxy();
    try {
      await register(proxy, 'o1', rtmp.port, [origin.port]);
      const ok = await probe(`rtsp://viewer:s3cret@127.0.0.1:${proxy.ports.rtsp}/live/secure`);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.codec, 'h264');
      assert.ok(ok.frames > 0);
      const bad = await probe(`rtsp://viewer:wrong@127.0.0.1:${proxy.ports.rtsp}/live/secure`);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /401/);
      // The challenge reached the client unchanged: it names Digest.
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      c.request('DESCRIBE', `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/secure`, 1);
      const r = await c.response();
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Digest /);
      c.destroy();
    } finally {
      await proxy.stop();
      await origin.stop();
      await rtmp.close();
    }
  });
});
