// The real peers every protocol test builds on: each starts on free loopback ports, does its job with
// ffmpeg/ffprobe as the client, registers through the heartbeat sidecar, and stops without leftovers.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, makeTestFlv, probeCodecs, publish } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { freePort } from '../fixtures/ports.js';
import { tempDir } from '../fixtures/paths.js';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy, suiteOverlay } from '../fixtures/proxy.js';
import { startRedis } from '../fixtures/redis.js';
import { startSrtListener } from '../fixtures/srt.js';

const media = tempDir('media');
let flv: string;

before(async () => {
  flv = await makeTestFlv(media.dir, 6);
});
after(async () => {
  await stopAllPeers();
  media.remove();
});

describe('real peers', () => {
  test('nginx-rtmp origin: RTMP publish and play, /stat, HLS; registered by the heartbeat sidecar', async () => {
    const nginx = await startNginxRtmp();
    const proxy = await startProxy();
    try {
      const hb = startHeartbeat({ systemApi: proxy.systemApi, rtmp: nginx.rtmpPort, http: nginx.httpPort, server: 'nginx1' });
      const pub = publish(flv, `rtmp://127.0.0.1:${nginx.rtmpPort}/live/fixture?token=abc`);
      const codecs = await eventually(() => probeCodecs(`rtmp://127.0.0.1:${nginx.rtmpPort}/live/fixture`), 20_000);
      assert.deepEqual(codecs, ['aac', 'h264']);
      assert.match(await nginx.stat(), /<name>fixture<\/name>/);
      const playlist = await eventually(
        async () => {
          const res = await fetch(`http://127.0.0.1:${nginx.httpPort}/live/fixture.m3u8`);
          assert.equal(res.status, 200);
          return res.text();
        },
        20_000,
        500,
      );
      assert.match(playlist, /#EXTM3U[\s\S]*fixture-\d+\.ts/);
      const list = (await (await fetch(`${proxy.systemApi}/api/v1/origins`)).json()) as { origins: { server_id: string; rtmp: string[] }[] };
      assert.deepEqual(
        list.origins.map((o) => [o.server_id, o.rtmp]),
        [['nginx1', [String(nginx.rtmpPort)]]],
      );
      await pub.stop();
      await hb.stop();
    } finally {
      await proxy.stop();
      await nginx.stop();
    }
  });

  test('node-media-server origin: RTMP publish, HTTP-FLV play', async () => {
    const nms = await startNodeMediaServer();
    try {
      const pub = publish(flv, `rtmp://127.0.0.1:${nms.rtmpPort}/live/nms`);
      const codecs = await eventually(() => probeCodecs(`http://127.0.0.1:${nms.httpPort}/live/nms.flv`, 8000), 20_000);
      assert.deepEqual(codecs, ['aac', 'h264']);
      await pub.stop();
    } finally {
      await nms.stop();
    }
  });

  test('redis-server answers PING (with a password)', async () => {
    const redis = await startRedis({ password: 'pw' });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(redis.port, '127.0.0.1', () => s.write('AUTH pw\r\nPING\r\n'));
        let data = '';
        s.on('data', (d) => {
          data += d.toString();
          if (data.includes('PONG')) {
            s.destroy();
            resolve(data);
          }
        });
        s.on('error', reject);
      });
      assert.equal(reply, '+OK\r\n+PONG\r\n');
    } finally {
      await redis.stop();
    }
  });

  test('srt-live-transmit origin: an ffmpeg SRT publish comes out as MPEG-TS on UDP', async () => {
    const udpPort = await freePort();
    const sink = createSocket('udp4');
    let bytes = 0;
    let syncOk = true;
    sink.on('message', (m) => {
      bytes += m.length;
      if (m[0] !== 0x47) syncOk = false;
    });
    await new Promise<void>((r) => sink.bind(udpPort, '127.0.0.1', r));
    const srt = await startSrtListener(`udp://127.0.0.1:${udpPort}`);
    try {
      const pub = publish(flv, `srt://127.0.0.1:${srt.srtPort}?streamid=#!::r=live/s,m=publish&latency=200000`, 'mpegts');
      await eventually(async () => assert.ok(bytes > 100_000, `got ${bytes} bytes`), 15_000);
      assert.ok(syncOk, 'every datagram starts with a TS sync byte');
      await pub.stop();
    } finally {
      await srt.stop();
      sink.close();
    }
  });
});

describe('TEST_PROXY_ENV', () => {
  test('space-separated PROXY_NAME=value pairs; anything else stops the run with the pair named', () => {
    assert.deepEqual(suiteOverlay(''), {});
    assert.deepEqual(suiteOverlay(' PROXY_WORKERS=2  PROXY_EDGE=on '), { PROXY_WORKERS: '2', PROXY_EDGE: 'on' });
    assert.deepEqual(suiteOverlay('PROXY_LOG_LEVEL='), { PROXY_LOG_LEVEL: '' });
    assert.throws(() => suiteOverlay('WORKERS=2'), /"WORKERS=2" is not PROXY_NAME=value/);
    assert.throws(() => suiteOverlay('PROXY_EDGE'), /"PROXY_EDGE" is not/);
  });
});
