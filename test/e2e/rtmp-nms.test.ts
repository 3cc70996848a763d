// RTMP through the proxy with Node-Media-Server as the origin (another RTMP server implementation):
// FFmpeg publishes through the proxy, FFmpeg/ffprobe and rtmpdump play through it, and the origin serves the
// same stream over HTTP-FLV (so it really received it).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, makeTestFlv, probeCodecs, publish } from '../fixtures/media.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { run, stopAllPeers } from '../fixtures/process.js';
import { startProxy, waitForOrigins, type RunningProxy } from '../fixtures/proxy.js';

const media = tempDir('rtmp-nms');
let flv: string;
let proxy: RunningProxy;
let nms: NmsOrigin;

before(async () => {
  flv = await makeTestFlv(media.dir, 30);
  nms = await startNodeMediaServer();
  proxy = await startProxy();
  startHeartbeat({ systemApi: proxy.systemApi, rtmp: nms.rtmpPort, http: nms.httpPort, server: 'nms' });
  await waitForOrigins(proxy.systemApi, 1);
});
after(async () => {
  await stopAllPeers();
  await nms.stop();
  media.remove();
});

async function framesIn3s(url: string): Promise<number> {
  const r = await run(
    'ffmpeg',
    ['-hide_banner', '-rw_timeout', '10000000', '-i', url, '-t', '3', '-map', '0:v', '-c', 'copy', '-f', 'null', '-', '-progress', 'pipe:1'],
    30_000,
  );
  assert.equal(r.code, 0, r.stderr.slice(-1000));
  return Number([...r.stdout.matchAll(/^frame=(\d+)$/gm)].map((m) => m[1]).pop() ?? 0);
}

describe('RTMP through the proxy to node-media-server', () => {
  test('FFmpeg publishes through the proxy; FFmpeg, ffprobe and rtmpdump play through it', async () => {
    const viaProxy = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/nms1`;
    const pub = publish(flv, `${viaProxy}?token=t`);
    assert.deepEqual(await eventually(() => probeCodecs(viaProxy, 8000), 20_000), ['aac', 'h264']);
    // The origin has it: its own HTTP-FLV output carries the stream.
    assert.deepEqual(await probeCodecs(`http://127.0.0.1:${nms.httpPort}/live/nms1.flv`, 8000), ['aac', 'h264']);
    const direct = `rtmp://127.0.0.1:${nms.rtmpPort}/live/nms1`;
    const [proxied, straight] = await Promise.all([framesIn3s(viaProxy), framesIn3s(direct)]);
    assert.ok(straight >= 50, `direct play read ${straight} frames`);
    assert.ok(Math.abs(proxied - straight) <= straight * 0.1, `proxy ${proxied} frames, direct ${straight}`);

    const out = join(media.dir, 'nms-dump.flv');
    await run('rtmpdump', ['-q', '-v', '-r', viaProxy, '-o', out], 4000);
    assert.ok(existsSync(out) && readFileSync(out).length > 50_000, 'rtmpdump wrote the stream');
    const r = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', out]);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['aac', 'h264']);
    // node-media-server answers createStream with 1: publish and plays kept the fast origin leg (BEHAVIOUR.md §4.5).
    assert.match(proxy.peer.output, /"originStreamId":1\b/);
    assert.doesNotMatch(proxy.peer.output, /re-dialed with the careful leg/);
    await pub.stop();
  });
});
