// RTMP through the proxy with real peers: FFmpeg publishes to two nginx-rtmp origins registered by the
// heartbeat sidecar; ffprobe, FFmpeg and rtmpdump (librtmp) play through the proxy (spec scenarios 29, 31,
// 32, 40 with real peers).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Amf0Object } from '../../src/rtmp/amf0.js';
import { MessageType } from '../../src/rtmp/messages.js';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, makeTestFlv, probeCodecs, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { tempDir } from '../fixtures/paths.js';
import { run, stopAllPeers, type Peer } from '../fixtures/process.js';
import { startProxy, waitForOrigins, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';

const media = tempDir('rtmp-media');
let flv: string;
/** Long enough that the frame-count and timestamp checks never see the loop point. */
let longFlv: string;
let proxy: RunningProxy;
const nginx: NginxOrigin[] = [];
const publishers: Peer[] = [];

before(async () => {
  [flv, longFlv] = await Promise.all([makeTestFlv(media.dir, 6), makeTestFlv(media.dir, 30)]);
  nginx.push(await startNginxRtmp(), await startNginxRtmp());
  proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'debug' } });
  nginx.forEach((n, i) => startHeartbeat({ systemApi: proxy.systemApi, rtmp: n.rtmpPort, http: n.httpPort, server: `nginx${i}` }));
  await waitForOrigins(proxy.systemApi, 2);
});
after(async () => {
  await stopAllPeers();
  for (const n of nginx) await n.stop();
  media.remove();
});

/** Which nginx holds a stream (by the proxy's pin). */
async function originOf(key: string): Promise<NginxOrigin> {
  const pins = (await (await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`)).json()) as { streams: { stream: string; server: string }[] };
  const pin = pins.streams.find((p) => p.stream === key);
  assert.ok(pin, `no pin for ${key}`);
  return nginx[Number(pin.server.replace('nginx', ''))]!;
}

/** The `<stream>` element of nginx-rtmp's /stat for `name`, or undefined. */
function streamBlock(xml: string, name: string): string | undefined {
  return xml.split('<stream>').find((b) => b.trimStart().startsWith(`<name>${name}</name>`));
}

/**
 * Video frames in the first 3 s of video time a player reads from `url`, counted from its first video
 * frame. nginx-rtmp sends a joining player audio at once but video only from the next keyframe (GOP
 * 2 s), so a window that starts at the first packet of either stream (FFmpeg's `-t 3`) held 1 to 3 s of
 * video, depending on where in the GOP the player joined: 25 to 75 frames, with nothing lost.
 */
async function videoFramesIn3s(url: string): Promise<number> {
  // 6 s read: up to 2 s waiting for the keyframe, then the 3 s counted, and a margin.
  const r = await run(
    'ffprobe',
    ['-v', 'error', '-rw_timeout', '10000000', '-select_streams', 'v', '-read_intervals', '%+6', '-show_entries', 'packet=dts_time', '-of', 'csv=p=0', url],
    30_000,
  );
  assert.equal(r.code, 0, r.stderr.slice(-1000));
  const times = r.stdout
    .split('\n')
    .map((line) => Number.parseFloat(line))
    .filter((t) => Number.isFinite(t));
  assert.ok(times.length > 0, `no video read from ${url}`);
  const first = times[0]!;
  assert.ok(times[times.length - 1]! - first >= 3, `only ${(times[times.length - 1]! - first).toFixed(2)} s of video read from ${url}`);
  return times.filter((t) => t - first < 3).length;
}

/** Per-stream packet timestamps over ~3 s, read with ffprobe. */
async function packetTimes(url: string): Promise<Map<string, number[]>> {
  const r = await run(
    'ffprobe',
    ['-v', 'error', '-rw_timeout', '10000000', '-read_intervals', '%+3', '-show_entries', 'packet=stream_index,dts', '-of', 'csv=p=0', url],
    30_000,
  );
  assert.equal(r.code, 0, r.stderr.slice(-1000));
  const out = new Map<string, number[]>();
  for (const line of r.stdout.trim().split('\n')) {
    const [stream, dts] = line.split(',');
    if (dts === undefined || dts === 'N/A') continue;
    const list = out.get(stream!) ?? [];
    list.push(Number(dts));
    out.set(stream!, list);
  }
  return out;
}

describe('RTMP through the proxy to nginx-rtmp origins', () => {
  test('FFmpeg publishes; ffprobe and FFmpeg play through the proxy like directly from the origin', async () => {
    publishers.push(publish(longFlv, `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/main`));
    const viaProxy = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/main`;
    assert.deepEqual(await eventually(() => probeCodecs(viaProxy), 20_000), ['aac', 'h264']);
    const origin = await originOf('__defaultVhost__/live/main');
    const direct = `rtmp://127.0.0.1:${origin.rtmpPort}/live/main`;
    assert.deepEqual(await probeCodecs(direct), ['aac', 'h264']);
    // Played at the same time through the proxy and directly: 3 s of video at 25 fps is 75 frames on
    // both sides (a frame at either edge of the window may fall out), nothing dropped on the way.
    const [proxied, straight] = await Promise.all([videoFramesIn3s(viaProxy), videoFramesIn3s(direct)]);
    assert.ok(straight >= 73, `direct play read ${straight} frames`);
    assert.ok(Math.abs(proxied - straight) <= 2, `proxy ${proxied} frames, direct ${straight}`);
    // Timestamps through the proxy never go back, per stream.
    const times = await packetTimes(viaProxy);
    assert.ok(times.size >= 2, 'audio and video packets');
    for (const [stream, list] of times) {
      assert.ok(list.length > 20, `stream ${stream}: ${list.length} packets`);
      for (let i = 1; i < list.length; i++) assert.ok(list[i]! >= list[i - 1]!, `stream ${stream} goes back at packet ${i}`);
    }
    // The origin saw FFmpeg's own connect (flashVer passes through the proxy).
    assert.match(await origin.stat(), /<name>main<\/name>[\s\S]*?<flashver>FMLE\/3\.0 \(compatible; Lavf/);
    // FFmpeg's digest handshake was answered in kind.
    assert.match(proxy.peer.output, /"handshake":"digest"/);
  });

  test('rtmpdump (librtmp) plays through the proxy', async () => {
    const out = join(media.dir, 'dump.flv');
    await run('rtmpdump', ['-q', '-v', '-r', `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/main`, '-o', out], 4000);
    assert.ok(existsSync(out) && readFileSync(out).length > 50_000, 'rtmpdump wrote the stream');
    const r = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', out]);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['aac', 'h264']);
  });

  test('20 streams spread over both origins; each plays through the proxy from the origin it landed on', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `spread${i}`);
    for (const n of names) publishers.push(publish(flv, `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${n}`));
    const held = new Map<string, NginxOrigin>();
    await eventually(async () => {
      for (const n of names) if (!held.has(n)) held.set(n, await originOf(`__defaultVhost__/live/${n}`));
    }, 20_000);
    assert.equal(new Set(held.values()).size, 2, 'both origins got streams');
    await Promise.all(
      nginx.map((n) =>
        eventually(async () => {
          const xml = await n.stat();
          for (const [name, o] of held) {
            if (o === n) assert.match(streamBlock(xml, name) ?? '', /<publishing\/>/, `${name} is published on its origin`);
            else assert.equal(streamBlock(xml, name), undefined, `${name} only on its own origin`);
          }
        }, 20_000),
      ),
    );
    // Play each one through the proxy: Play.Start and media arrive, and its origin counts the player.
    await Promise.all(
      names.map(async (name) => {
        const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/x`);
        const status = await client.start('play', name, await client.createStream());
        assert.equal(status.get('code'), 'NetStream.Play.Start', name);
        await client.waitFor((m) => m.type === MessageType.Video || m.type === MessageType.Audio);
        const origin = held.get(name)!;
        await eventually(async () => assert.match(streamBlock(await origin.stat(), name) ?? '', /<nclients>2<\/nclients>/), 10_000);
        client.close();
      }),
    );
    // nginx-rtmp answers createStream with 1: every publish and play kept the fast origin leg (BEHAVIOUR.md §4.5).
    assert.doesNotMatch(proxy.peer.output, /re-dialed with the careful leg/);
    assert.ok(!/"originStreamId":(?!1\b)\d+/.test(proxy.peer.output), 'every relay is on the origin stream id 1');
    assert.match(proxy.peer.output, /"originStreamId":1\b/);
    for (const p of publishers.splice(1)) await p.stop();
  });

  test('a publish URL with ?token=… reaches the origin with its query; the key has none', async () => {
    const pub = publish(flv, `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/tok?token=abc123`);
    const origin = await eventually(() => originOf('__defaultVhost__/live/tok'), 20_000);
    await eventually(async () => assert.match(streamBlock(await origin.stat(), 'tok') ?? '', /<publishing\/>/), 20_000);
    await pub.stop();
    // nginx-rtmp logs the publish arguments when the session ends.
    const log = join(origin.dir, 'logs', 'rtmp-access.log');
    await eventually(async () => assert.match(readFileSync(log, 'utf8'), /PUBLISH "live" "tok" "token=abc123"/), 10_000);
  });

  test('a tcUrl naming a vhost keys the stream by it (scenario 40)', async () => {
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/x`, {
      connectObject: { app: 'live', tcUrl: 'rtmp://media.example.com/live', flashVer: 'FMLE/3.0' },
    });
    const status: Amf0Object = await client.start('publish', 's40', await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Publish.Start');
    await originOf('media.example.com/live/s40');
    client.close();
  });
});
