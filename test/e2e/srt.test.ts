// SRT through the proxy with real libsrt peers: ffmpeg publishes and plays, srt-live-transmit is the
// origin (spec scenarios 70, 71, 75; encryption; several origins and callers at once).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { run, startPeer, stopAllPeers, waitForUdpBound, type Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { startSrtListener } from '../fixtures/srt.js';
import { checkTs, countFrames, makeTestTs, udpSink, videoSize } from '../fixtures/srt-media.js';
import { TestCaller } from '../fixtures/srt-peers.js';
import { eventually, probeCodecs, publish } from '../fixtures/media.js';

const media = tempDir('srt-e2e');
let ts: string;
let sourceFrames: Record<string, number>;

before(async () => {
  ts = await makeTestTs(media.dir, 4);
  sourceFrames = await countFrames(ts);
});
after(async () => {
  await stopAllPeers();
  media.remove();
});

/** SRT-only origins register a placeholder RTMP port: active health probes (which dial it) stay off. */
const NO_PROBES = { PROXY_HEALTH_INTERVAL: '0' };

function register(proxy: RunningProxy, server: string, srtPort: number): Promise<void> {
  return registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server, service: `svc-${server}`, pid: '1', rtmp: ['1935'], srt: [`udp://127.0.0.1:${srtPort}`] });
}

async function deregister(proxy: RunningProxy, server: string): Promise<void> {
  const res = await fetch(`${proxy.systemApi}/api/v1/origins/${server}`, { method: 'DELETE' });
  assert.ok(res.status < 300, `deregister ${server}: ${res.status}`);
}

/** Drains an origin: it takes no new stream, and the streams it carries go on (a DELETE would end them). */
async function drain(proxy: RunningProxy, server: string): Promise<void> {
  const res = await fetch(`${proxy.systemApi}/api/v1/origins/${server}/drain`, { method: 'POST' });
  assert.ok(res.status < 300, `drain ${server}: ${res.status}`);
}

/** ffmpeg publishing `file` once, in real time, as MPEG-TS over SRT; lingers so the tail is delivered. */
function publishOnce(file: string, url: string): Peer {
  return startPeer(`ffmpeg srt publish ${url}`, 'ffmpeg', ['-hide_banner', '-loglevel', 'warning', '-re', '-i', file, '-c', 'copy', '-f', 'mpegts', url]);
}

function srtUrl(port: number, streamId: string, extra = ''): string {
  return `srt://127.0.0.1:${port}?streamid=${streamId}&latency=200000&linger=3${extra}`;
}

/** Waits for a publish to end, then for the origin's output to settle. */
async function finished(pub: Peer, timeoutMs = 20_000): Promise<void> {
  const timer = setTimeout(() => void pub.stop(), timeoutMs);
  const { code } = await pub.exited;
  clearTimeout(timer);
  assert.equal(code, 0, `ffmpeg failed:\n${pub.output}`);
  await new Promise((r) => setTimeout(r, 500));
}

void describe('SRT through the proxy (real libsrt peers)', () => {
  void test('scenario 70: ffmpeg publish reaches the origin with the same stream id; the TS that comes out is valid and complete', async () => {
    const sink = await udpSink();
    const origin = await startSrtListener(`udp://127.0.0.1:${sink.port}`);
    const proxy = await startProxy({ env: NO_PROBES });
    try {
      await register(proxy, 'origin-a', origin.srtPort);
      await finished(publishOnce(ts, srtUrl(proxy.ports.srt, '#!::r=live/livestream,m=publish')));
      const out = join(media.dir, 'published.ts');
      sink.save(out);
      const report = checkTs(sink.data());
      assert.ok(report.packets > 1000, `${report.packets} TS packets`);
      assert.equal(report.badSync, 0);
      assert.equal(report.continuityErrors, 0, 'no TS packet lost');
      assert.deepEqual(await countFrames(out), sourceFrames, 'every audio and video frame arrived');
      await proxy.peer.waitForOutput(/"stream":"__defaultVhost__\/live\/livestream".*"msg":"srt session established"/);
      await proxy.peer.waitForOutput(/"reason":"caller shutdown".*"msg":"srt session closed"/, 5000);
      const pins = (await (await fetch(`${proxy.systemApi}/api/v1/streams`)).json()) as unknown;
      assert.match(JSON.stringify(pins), /__defaultVhost__\/live\/livestream/);
    } finally {
      await proxy.stop();
      await origin.stop();
      sink.close();
    }
  });

  void test('scenario 71: ffmpeg plays (m=request) through the proxy from an origin fed by ffmpeg', async () => {
    const [inPort, outPort] = [await freePort(), await freePort()];
    const relay = startPeer('srt-live-transmit relay', 'srt-live-transmit', [
      '-a:no',
      `srt://127.0.0.1:${inPort}?mode=listener`,
      `srt://127.0.0.1:${outPort}?mode=listener`,
    ]);
    await waitForUdpBound(relay, inPort);
    const feed = publish(ts, `srt://127.0.0.1:${inPort}?streamid=#!::r=live/livestream,m=publish&latency=200000`, 'mpegts');
    const proxy = await startProxy({ env: NO_PROBES });
    try {
      await register(proxy, 'origin-play', outPort);
      await relay.waitForOutput(/Accepted SRT source connection/, 10_000);
      const playUrl = `srt://127.0.0.1:${proxy.ports.srt}?streamid=#!::r=live/livestream,m=request&latency=200000`;
      // One player session: ffmpeg records 3 s through the proxy (srt-live-transmit serves one player).
      const recorded = join(media.dir, 'played.ts');
      const r = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', playUrl, '-t', '3', '-c', 'copy', '-f', 'mpegts', recorded], 30_000);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await probeCodecs(recorded), ['aac', 'h264']);
      const frames = await countFrames(recorded);
      assert.ok((frames.h264 ?? 0) >= 50, `played ${JSON.stringify(frames)}`);
      const established = await proxy.peer.waitForOutput(/"originSocketId":(\d+),"mode":"request","msg":"srt session established"/);
      assert.ok(Number(established[1]) > 0, 'the origin socket id the player talked to');
    } finally {
      await proxy.stop();
      await feed.stop();
      await relay.stop();
    }
  });

  void test('ffprobe plays (m=request) through the proxy', async () => {
    const [inPort, outPort] = [await freePort(), await freePort()];
    const relay = startPeer('srt-live-transmit relay', 'srt-live-transmit', [
      '-a:no',
      `srt://127.0.0.1:${inPort}?mode=listener`,
      `srt://127.0.0.1:${outPort}?mode=listener`,
    ]);
    await waitForUdpBound(relay, inPort);
    const feed = publish(ts, `srt://127.0.0.1:${inPort}?streamid=#!::r=live/probe,m=publish&latency=200000`, 'mpegts');
    const proxy = await startProxy({ env: NO_PROBES });
    try {
      await register(proxy, 'origin-probe', outPort);
      await relay.waitForOutput(/Accepted SRT source connection/, 10_000);
      const codecs = await probeCodecs(`srt://127.0.0.1:${proxy.ports.srt}?streamid=#!::r=live/probe,m=request&latency=200000`);
      assert.deepEqual(codecs, ['aac', 'h264']);
    } finally {
      await proxy.stop();
      await feed.stop();
      await relay.stop();
    }
  });

  void test('encrypted end to end: the proxy relays key material; a wrong passphrase is rejected by the origin', async () => {
    const sink = await udpSink();
    const origin = await startSrtListener(`udp://127.0.0.1:${sink.port}`, { passphrase: 'correct-horse-battery' });
    const proxy = await startProxy({ env: NO_PROBES });
    try {
      await register(proxy, 'origin-enc', origin.srtPort);
      // A wrong passphrase first: libsrt at the origin rejects, and the rejection reaches ffmpeg.
      const wrong = await run(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-re',
          '-i',
          ts,
          '-t',
          '1',
          '-c',
          'copy',
          '-f',
          'mpegts',
          srtUrl(proxy.ports.srt, '#!::r=live/enc,m=publish', '&passphrase=wrong-passphrase&pbkeylen=16'),
        ],
        20_000,
      );
      assert.notEqual(wrong.code, 0);
      await proxy.peer.waitForOutput(/"reason":"RejectBadSecret".*"msg":"srt caller rejected"/, 5000);
      await finished(publishOnce(ts, srtUrl(proxy.ports.srt, '#!::r=live/enc,m=publish', '&passphrase=correct-horse-battery&pbkeylen=16')));
      const out = join(media.dir, 'encrypted.ts');
      sink.save(out);
      assert.equal(checkTs(sink.data()).continuityErrors, 0);
      assert.deepEqual(await countFrames(out), sourceFrames, 'decrypted at the origin, complete');
    } finally {
      await proxy.stop();
      await origin.stop();
      sink.close();
    }
  });

  void test('several concurrent callers over several origins: each stream lands, complete, on its own origin', async () => {
    const sizes = ['320x240', '480x270', '640x360'];
    const files = await Promise.all(sizes.map((s) => makeTestTs(media.dir, 4, s)));
    const sinks = await Promise.all(sizes.map(() => udpSink()));
    const origins = await Promise.all(sinks.map((s) => startSrtListener(`udp://127.0.0.1:${s.port}`)));
    const proxy = await startProxy({ env: NO_PROBES });
    try {
      // srt-live-transmit takes one caller: origins are registered one at a time and the previous one
      // drained, so each new stream lands on the next while the earlier ones go on.
      const pubs: Peer[] = [];
      for (let i = 0; i < sizes.length; i++) {
        if (i > 0) await drain(proxy, `multi-${i - 1}`);
        await register(proxy, `multi-${i}`, origins[i]!.srtPort);
        pubs.push(publishOnce(files[i]!, srtUrl(proxy.ports.srt, `#!::r=live/multi${i},m=publish`)));
        await proxy.peer.waitForOutput(new RegExp(`"stream":"__defaultVhost__/live/multi${i}".*"msg":"srt session established"`), 10_000);
      }
      for (const p of pubs) await finished(p);
      for (let i = 0; i < sizes.length; i++) {
        const out = join(media.dir, `multi-${i}.ts`);
        sinks[i]!.save(out);
        assert.equal(checkTs(sinks[i]!.data()).continuityErrors, 0, `stream ${i}`);
        assert.equal(await videoSize(out), sizes[i], `origin ${i} got its own stream`);
        assert.deepEqual(await countFrames(out), await countFrames(files[i]!), `stream ${i} complete`);
      }
    } finally {
      await proxy.stop();
      for (const o of origins) await o.stop();
      for (const s of sinks) s.close();
    }
  });

  void test('scenario 75: a silent origin delays only its caller (clean rejection); another caller connects to a live origin in under 1 s', async () => {
    const silent = createSocket('udp4'); // binds and drops everything
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    const sink = await udpSink();
    const live = await startSrtListener(`udp://127.0.0.1:${sink.port}`);
    const proxy = await startProxy({ env: { ...NO_PROBES, PROXY_DIAL_TIMEOUT: '2s' } });
    try {
      await register(proxy, 'silent', silent.address().port);
      const t0 = Date.now();
      const stuck = startPeer('ffmpeg stuck', 'ffmpeg', [
        '-hide_banner',
        '-loglevel',
        'error',
        '-re',
        '-i',
        ts,
        '-c',
        'copy',
        '-f',
        'mpegts',
        `srt://127.0.0.1:${proxy.ports.srt}?streamid=#!::r=live/stuck,m=publish&latency=200000&connect_timeout=8000`,
      ]);
      await proxy.peer.waitForOutput(/"stream":"__defaultVhost__\/live\/stuck".*"msg":"srt caller admitted"/, 5000);
      await deregister(proxy, 'silent');
      await register(proxy, 'live', live.srtPort);
      // While ffmpeg waits on the silent origin, a packet-level caller completes a real libsrt handshake.
      const caller = await TestCaller.open(proxy.ports.srt);
      try {
        const { response, setupMs } = await caller.connect('#!::r=live/fast,m=publish');
        assert.equal(response.handshakeType, 0xffffffff, 'conclusion response from the live origin');
        assert.ok(response.socketId !== 0);
        assert.ok(
          response.extensions.some((e) => e.kind === 'hsrsp'),
          'libsrt HSRSP relayed',
        );
        assert.ok(setupMs < 1000, `connected in ${setupMs.toFixed(1)} ms`);
        assert.ok(!stuck.hasExited, 'the other caller is still waiting');
      } finally {
        caller.close();
      }
      const { code } = await stuck.exited;
      const waited = Date.now() - t0;
      assert.notEqual(code, 0);
      assert.ok(waited >= 1500 && waited < 7000, `the stuck caller ended after ${waited} ms`);
      await proxy.peer.waitForOutput(/"reason":"RejectAccessDown".*did not answer the SRT handshake/, 2000);
      assert.ok(!proxy.peer.hasExited);
    } finally {
      await proxy.stop();
      await live.stop();
      sink.close();
      silent.close();
    }
  });
});

void test('ffmpeg with a plain stream id (scenario 74) publishes', async () => {
  const sink = await udpSink();
  const origin = await startSrtListener(`udp://127.0.0.1:${sink.port}`);
  const proxy = await startProxy({ env: NO_PROBES });
  try {
    await register(proxy, 'origin-plain', origin.srtPort);
    const pub = startPeer('ffmpeg plain', 'ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'warning',
      '-re',
      '-i',
      ts,
      '-t',
      '2',
      '-c',
      'copy',
      '-f',
      'mpegts',
      `srt://127.0.0.1:${proxy.ports.srt}?streamid=live/livestream&latency=200000&linger=3`,
    ]);
    await finished(pub);
    await eventually(async () => assert.ok(sink.bytes() > 50_000, `${sink.bytes()} bytes`), 5000);
    await proxy.peer.waitForOutput(/"stream":"__defaultVhost__\/live\/livestream".*"msg":"srt session established"/);
  } finally {
    await proxy.stop();
    await origin.stop();
    sink.close();
  }
});
