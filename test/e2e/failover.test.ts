// Failover against real peers: one of two nginx-rtmp origins is killed with SIGKILL while it carries a
// live stream published with ffmpeg through the proxy; its RTMP players through the proxy are closed
// (and its HTTP-FLV players, with Node-Media-Server origins: nginx-rtmp serves no HTTP-FLV), and the
// encoder re-publishing through the proxy lands on the other origin. Drain with a live stream: it keeps
// playing while new streams avoid the draining origin. Needs the routing seam (protocols registering
// their relays, the router asking origin health): it passes once the routing branch is merged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { killTree } from '../fixtures/kill-tree.js';
import { eventually, publish, useTestFlv } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';

const testFlv = useTestFlv('failover', 30);
const INTERVAL_MS = 500;

async function pinOf(proxy: RunningProxy, stream: string): Promise<string> {
  const r = await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`);
  const pins = ((await r.json()) as { streams: { stream: string; server: string }[] }).streams;
  const pin = pins.find((p) => p.stream === `__defaultVhost__/live/${stream}`);
  assert.ok(pin, `stream ${stream} pinned`);
  return pin.server;
}

/** Registers each origin with the proxy as `<prefix>-<index>` (its RTMP and HTTP ports). */
async function registerEach(proxy: RunningProxy, origins: readonly { rtmpPort: number; httpPort: number }[], prefix: string): Promise<void> {
  await Promise.all(
    origins.map((o, i) =>
      registerOrigin(proxy.systemApi, {
        ip: '127.0.0.1',
        server: `${prefix}-${i}`,
        service: 'svc',
        pid: '1',
        rtmp: [String(o.rtmpPort)],
        http: [String(o.httpPort)],
      }),
    ),
  );
}

/** An RTMP player of `live/<stream>` through the proxy; throws until the origin answers Play.Start. */
async function playThroughProxy(proxy: RunningProxy, stream: string): Promise<Awaited<ReturnType<typeof RtmpTestClient.open>>> {
  const c = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`, { timeoutMs: 10_000, ackEverySegment: true });
  const playing = await c.client.start('play', stream, await c.client.createStream());
  assert.equal(String(playing.get('code')), 'NetStream.Play.Start');
  return c;
}

/** One RTMP publish through the proxy; the client is returned open when the origin accepted. */
async function publishOnce(proxy: RunningProxy, name: string): Promise<RtmpTestClient | undefined> {
  try {
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`, { timeoutMs: 5000, ackEverySegment: true });
    const info = await client.start('publish', name, await client.createStream());
    if (String(info.get('code')) === 'NetStream.Publish.Start') return client;
    client.close();
  } catch {
    // refused or cut: the caller tries again
  }
  return undefined;
}

/** Reads an HTTP-FLV response through the proxy, counting bytes, until it ends. */
function flvPlayer(url: string) {
  const abort = new AbortController();
  const state = { bytes: 0, ended: false };
  const done = (async () => {
    try {
      const res = await fetch(url, { signal: abort.signal });
      assert.equal(res.status, 200);
      for await (const chunk of res.body!) state.bytes += (chunk as Uint8Array).length;
    } catch {
      // an abrupt end is an end
    }
    state.ended = true;
  })();
  return { state, done, stop: () => abort.abort() };
}

interface KilledOrigin {
  peer: { pid: number };
  rtmpPort: number;
  httpPort: number;
}

/** RTMP players (and HTTP-FLV players where the origin serves them) of a stream whose origin is killed. */
function killScenario(kind: 'nginx-rtmp' | 'node-media-server', start: () => Promise<KilledOrigin>, withFlv: boolean) {
  describe(`failover: a ${kind} origin killed mid-stream`, () => {
    let proxy: RunningProxy;
    let origins: KilledOrigin[];
    before(async () => {
      origins = await Promise.all([start(), start()]);
      proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: `${INTERVAL_MS}ms` } });
      await registerEach(proxy, origins, 'o');
    });
    after(async () => {
      await proxy?.stop();
    });

    test(`its RTMP${withFlv ? ' and HTTP-FLV' : ''} players through the proxy are closed; the re-publishing encoder lands on the other origin`, async () => {
      const stream = `killed-${kind}`;
      const encoder = publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${stream}`);
      const victimId = await eventually(() => pinOf(proxy, stream));
      const victim = origins[Number(victimId.slice(2))]!;
      const survivorId = victimId === 'o-0' ? 'o-1' : 'o-0';

      const { client: rtmpPlayer } = await eventually(() => playThroughProxy(proxy, stream));
      const flv = withFlv ? flvPlayer(`${proxy.httpServer}/live/${stream}.flv`) : undefined;
      if (flv) await eventually(async () => assert.ok(flv.state.bytes > 10_000, 'the FLV player receives the stream'));

      killTree(victim.peer.pid);
      await rtmpPlayer.closedWithin(10_000);
      if (flv) {
        await Promise.race([flv.done, new Promise((_, reject) => setTimeout(() => reject(new Error('FLV player still open')), 10_000))]);
        assert.equal(flv.state.ended, true);
      }
      await encoder.exited;

      // The encoder comes back every second, through the proxy, until an attempt is accepted.
      let client: RtmpTestClient | undefined;
      for (let attempt = 0; attempt < 15 && !client; attempt++) {
        client = await publishOnce(proxy, stream);
        if (!client) await new Promise((r) => setTimeout(r, 1000));
      }
      assert.ok(client, 'a re-publish was accepted');
      assert.equal(await pinOf(proxy, stream), survivorId);
      client.close();
    });
  });
}

killScenario('nginx-rtmp', startNginxRtmp, false);

describe('an origin removed with DELETE while it carries a stream', () => {
  let proxy: RunningProxy;
  before(async () => {
    const origins = await Promise.all([startNginxRtmp(), startNginxRtmp()]);
    // Probes off: only the removal can end the relays (the origin itself stays up and healthy).
    proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0' } });
    await registerEach(proxy, origins, 'del');
  });
  after(async () => {
    await proxy?.stop();
  });

  test('its relays (encoder and player) are closed at once; the encoder comes back on the other origin', async () => {
    const encoder = publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/removed`);
    const removed = await eventually(() => pinOf(proxy, 'removed'));
    const { client: player } = await eventually(() => playThroughProxy(proxy, 'removed'));
    assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/${removed}`, { method: 'DELETE' })).status, 200);
    await player.closedWithin(5000);
    await encoder.exited;
    const client = await publishOnce(proxy, 'removed');
    assert.ok(client, 're-publish accepted');
    assert.notEqual(await pinOf(proxy, 'removed'), removed);
    client.close();
  });
});
// nginx-rtmp serves no HTTP-FLV; Node-Media-Server does.
killScenario('node-media-server', startNodeMediaServer, true);

describe('drain with a live stream', () => {
  let proxy: RunningProxy;
  before(async () => {
    const origins = await Promise.all([startNginxRtmp(), startNginxRtmp()]);
    proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: `${INTERVAL_MS}ms` } });
    await registerEach(proxy, origins, 'drain');
  });
  after(async () => {
    await proxy?.stop();
  });

  test('the draining origin keeps its stream playing and takes no new one; undrain restores it', async () => {
    const encoder = publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/running`);
    const drained = await eventually(() => pinOf(proxy, 'running'));
    const { client: player } = await eventually(() => playThroughProxy(proxy, 'running'));
    const mediaReceived = () => player.received.filter((m) => m.type === 8 || m.type === 9).length;
    await eventually(async () => assert.ok(mediaReceived() > 20, 'the player receives the stream'));
    const r = await fetch(`${proxy.systemApi}/api/v1/origins/${drained}/drain`, { method: 'POST' });
    assert.equal(r.status, 200);

    const clients: RtmpTestClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await publishOnce(proxy, `fresh${i}`);
      assert.ok(c, `new stream ${i} accepted`);
      clients.push(c);
      assert.notEqual(await pinOf(proxy, `fresh${i}`), drained, 'a new stream avoided the draining origin');
    }
    const before = mediaReceived();
    await eventually(async () => {
      player.ack();
      assert.ok(mediaReceived() > before + 50, 'the running stream keeps playing');
    });
    assert.equal(await pinOf(proxy, 'running'), drained, 'its pin did not move');

    assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins/${drained}/undrain`, { method: 'POST' })).status, 200);
    const landed = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const c = await publishOnce(proxy, `again${i}`);
      assert.ok(c);
      clients.push(c);
      landed.add(await pinOf(proxy, `again${i}`));
    }
    assert.ok(landed.has(drained), 'after undrain the origin takes new streams again');
    for (const c of clients) c.close();
    player.close();
    await encoder.stop();
  });
});
