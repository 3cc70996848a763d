// One stream key across protocols: publish over RTMP through the proxy, play over HTTP-FLV and HLS
// through the proxy — the proxy must send the players to the origin the publish landed on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, probeCodecs, publish, useTestFlv } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import type { Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy } from '../fixtures/proxy.js';

const testFlv = useTestFlv('cross-media');

test('RTMP publish through the proxy → HLS through the proxy, from the right one of two origins', async () => {
  const o1 = await startNginxRtmp();
  const o2 = await startNginxRtmp();
  const proxy = await startProxy();
  const pubs: Peer[] = [];
  try {
    for (const [id, o] of [
      ['ng1', o1],
      ['ng2', o2],
    ] as const) {
      await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: id, service: 's', pid: '1', rtmp: [String(o.rtmpPort)], http: [String(o.httpPort)] });
    }
    const names = ['x1', 'x2', 'x3', 'x4'];
    for (const n of names) pubs.push(publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${n}`));
    const { streams } = await eventually(async () => {
      const view = (await (await fetch(`${proxy.systemApi}/api/v1/streams`)).json()) as { streams: { stream: string; server: string }[] };
      assert.equal(view.streams.length, names.length);
      return view;
    }, 15_000);
    for (const n of names) {
      const server = streams.find((s) => s.stream === `__defaultVhost__/live/${n}`)!.server;
      const origin = server === 'ng1' ? o1 : o2;
      await eventually(async () => assert.match(await origin.stat(), new RegExp(`<name>${n}</name>[\\s\\S]*?<publishing/>`)), 15_000);
      await eventually(async () => assert.equal((await fetch(`${proxy.httpServer}/live/${n}.m3u8`)).status, 200), 30_000, 500);
    }
    assert.deepEqual(await probeCodecs(`${proxy.httpServer}/live/${names[0]}.m3u8`, 20_000), ['aac', 'h264']);
  } finally {
    await Promise.all(pubs.map((p) => p.stop()));
    await proxy.stop();
    await o1.stop();
    await o2.stop();
  }
});

test('RTMP publish through the proxy → HTTP-FLV through the proxy (node-media-server)', async () => {
  const nms = await startNodeMediaServer();
  const proxy = await startProxy();
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'nms',
      service: 's',
      pid: '1',
      rtmp: [String(nms.rtmpPort)],
      http: [String(nms.httpPort)],
    });
    const pub = publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/crossflv`);
    assert.deepEqual(await eventually(() => probeCodecs(`${proxy.httpServer}/live/crossflv.flv`, 8000), 20_000), ['aac', 'h264']);
    await pub.stop();
  } finally {
    await proxy.stop();
    await nms.stop();
  }
});
