// RTSP timeouts and backpressure against a scripted origin: the origin's first answer, an idle relay,
// a client that stops reading, and a client that sends far ahead while its origin is dialled.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtspDetail } from '../../src/rtsp/server.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RawRtspClient } from '../fixtures/rtsp-client.js';
import { FakeRtspOrigin, type FakeRtspBehaviour } from '../fixtures/rtsp-fake-origin.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

async function rtspStats(proxy: RunningProxy): Promise<RtspDetail> {
  const detail = (await proxy.stats()).detail.rtsp;
  assert.ok(detail, 'the RTSP listener reports its detail');
  return detail;
}

async function withOrigin(
  behaviour: FakeRtspBehaviour,
  env: Record<string, string>,
  body: (proxy: RunningProxy, origin: FakeRtspOrigin) => Promise<void>,
): Promise<void> {
  const [origin, rtmp] = await Promise.all([FakeRtspOrigin.start(behaviour), RtmpListener.start()]);
  const proxy = await startProxy({ env });
  try {
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'fake', service: 's', pid: '1', rtmp: [String(rtmp.port)], rtsp: [String(origin.port)] });
    await body(proxy, origin);
  } finally {
    await proxy.stop();
    await origin.close();
    await rtmp.close();
  }
}

describe('RTSP limits against a scripted origin', () => {
  test('an origin that connects but never answers gets the client a 504 at PROXY_ORIGIN_ANSWER_TIMEOUT', async () => {
    await withOrigin('silent', { PROXY_ORIGIN_ANSWER_TIMEOUT: '1s' }, async (proxy, origin) => {
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      c.request('DESCRIBE', `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/s`, 5);
      const r = await c.response(10_000);
      assert.equal(r.status, 504);
      assert.equal(r.headers.get('cseq'), '5');
      assert.doesNotMatch(r.body, new RegExp(String(origin.port)));
      await c.closedWithin(5000);
      await waitFor(() => origin.sockets.size === 0, { what: 'the origin connection closed' });
    });
  });

  test('a relay with no byte either way for PROXY_IDLE_TIMEOUT is closed on both sides', async () => {
    await withOrigin('answer', { PROXY_IDLE_TIMEOUT: '1s' }, async (proxy, origin) => {
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      c.request('DESCRIBE', `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/s`, 1);
      assert.equal((await c.response()).status, 200);
      assert.equal((await rtspStats(proxy)).relays, 1);
      await c.closedWithin(10_000);
      await waitFor(() => origin.sockets.size === 0, { what: 'the origin connection closed' });
    });
  });

  test('a player that stops reading pauses its origin; the proxy holds a bounded backlog', async () => {
    await withOrigin('flood', {}, async (proxy, origin) => {
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      const url = `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/s`;
      c.request('DESCRIBE', url, 1);
      await c.response();
      c.request('PLAY', url, 2, { Session: '1234' });
      await c.response();
      c.socket.pause();
      const stats = await waitFor(
        async () => {
          const s = await rtspStats(proxy);
          return s.originsPaused === 1 ? s : undefined;
        },
        { what: 'the origin socket paused', timeoutMs: 20_000 },
      );
      // The high-water mark plus what one read of the origin can bring (a chunk of at most 64 KiB).
      assert.ok(stats.largestClientBacklog <= 64 * 1024 + 65_536, `backlog ${stats.largestClientBacklog}`);
      // The origin is stalled too (its writes wait for 'drain'), not buffered without end by the proxy. The
      // kernel buffers between them still fill after the proxy pauses, so the stall is proven by two polls
      // that both see the origin waiting with the same byte count (a 'drain' between them would write more).
      let seen = -1;
      const flooded = await waitFor(
        async () => {
          const now = origin.floodWaiting && (await rtspStats(proxy)).originsPaused === 1 ? origin.flooded : -1;
          const held = now !== -1 && now === seen && origin.floodWaiting;
          seen = now;
          return held ? now : undefined;
        },
        { what: 'the flood stalled' },
      );
      c.socket.resume();
      await waitFor(() => origin.flooded > flooded + 1_000_000, { what: 'the flood resumed once the player read again', timeoutMs: 20_000 });
      c.destroy();
    });
  });

  test('a client that sends far ahead while its origin is dialled is not read meanwhile; a silent origin still gets it a 504', async () => {
    await withOrigin('silent', { PROXY_ORIGIN_ANSWER_TIMEOUT: '3s' }, async (proxy) => {
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      const url = `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/s`;
      // The naming request and, in the same write, 720 KB of interleaved bytes: the proxy stops reading the
      // client once the stream is named, so at most one read's worth waits in the proxy for the origin.
      const frame = Buffer.alloc(4 + 60_000, 1);
      frame[0] = 0x24;
      frame.writeUInt16BE(60_000, 2);
      c.send(Buffer.concat([Buffer.from(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`), ...Array.from({ length: 12 }, () => frame)]));
      const r = await c.response(15_000);
      assert.equal(r.status, 504);
      await c.closedWithin(15_000);
    });
  });
});
