// The heap guard on the RTSP listener: while the heap is above PROXY_MAX_HEAP_RATIO, a new connection is
// refused at accept and a connected client that now names its stream gets 503; once the heap falls
// back, clients are served again. The heap reading is injected; the origin is GStreamer's RTSP server.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin } from '../fixtures/proxy.js';
import { RawRtspClient } from '../fixtures/rtsp-client.js';
import { RtspOrigin } from '../fixtures/rtsp-origin.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

const LIMIT = 1_000_000_000;

test('heap above the ratio: new RTSP connections refused, a connected client gets 503; served again after', async () => {
  const heap = { over: false };
  const listen = '127.0.0.1:0';
  const { config } = loadConfig({
    env: {
      PROXY_SYSTEM_API: listen,
      PROXY_HTTP_API: listen,
      PROXY_HTTP_SERVER: listen,
      PROXY_RTMP_SERVER: listen,
      PROXY_WEBRTC_SERVER: listen,
      PROXY_SRT_SERVER: listen,
      PROXY_RTSP_SERVER: listen,
      PROXY_MAX_HEAP_RATIO: '0.8',
    },
    cwd: '/',
    readDotenv: () => undefined,
  });
  const proxy = new OriginProxy({
    config,
    log: createLogger({ level: 'silent', format: 'json' }),
    heap: () => ({ used: heap.over ? LIMIT * 0.9 : LIMIT * 0.1, limit: LIMIT }),
  });
  const [origin, rtmp] = await Promise.all([RtspOrigin.start({ play: ['/live/livestream'] }), RtmpListener.start()]);
  await proxy.start();
  try {
    const port = proxy.address('rtsp').port;
    const url = `rtsp://127.0.0.1:${port}/live/livestream`;
    await registerOrigin(`http://127.0.0.1:${proxy.address('systemApi').port}`, {
      ip: '127.0.0.1',
      server: 'o1',
      service: 's',
      pid: '1',
      rtmp: [String(rtmp.port)],
      rtsp: [String(origin.port)],
    });
    // Connected (and answered) before the heap rises.
    const early = await RawRtspClient.open(port);
    early.request('OPTIONS', '*', 1);
    assert.equal((await early.response()).status, 200);

    heap.over = true;
    // The guard samples the heap at most every 100 ms: wait until a new connection is refused.
    await waitFor(
      async () => {
        const c = await RawRtspClient.open(port);
        try {
          await c.closedWithin(300);
          return true;
        } catch {
          return false;
        } finally {
          c.destroy();
        }
      },
      { what: 'new connections refused' },
    );
    early.request('DESCRIBE', url, 2);
    const r = await early.response();
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('cseq'), '2');
    assert.match(JSON.parse(r.body).error as string, /overloaded/);
    await early.closedWithin(5000);

    heap.over = false;
    const ok = await waitFor(
      async () => {
        const c = await RawRtspClient.open(port);
        try {
          c.request('DESCRIBE', url, 1);
          return (await c.response(2000)).status === 200;
        } catch {
          return false;
        } finally {
          c.destroy();
        }
      },
      { what: 'served again once the heap fell back' },
    );
    assert.ok(ok);
  } finally {
    await proxy.stop(0);
    await origin.stop();
    await rtmp.close();
  }
});
