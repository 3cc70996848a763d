// Failover for WebRTC: two real origins (node-datachannel, in child processes); the one holding a WHIP
// publish and its WHEP player is killed with SIGKILL. Each origin's media port is reached through a
// UDP forwarder that goes silent when its origin dies, as the network path to a dead host does: no
// ICMP comes back, so the proxy's UDP relays cannot notice by themselves, and only the health verdict
// (its relay registry) can close them. Then a new WHIP and a re-published stream land on the survivor.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { killTree } from '../fixtures/kill-tree.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtpSource, whepPlay, whipPublish, type SignalledClient } from '../fixtures/webrtc-client.js';
import { startWebrtcOrigin, type WebrtcOrigin } from '../fixtures/webrtc-origin.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

const INTERVAL_MS = 500;

/**
 * A UDP forwarder in front of an origin's media port: one outside socket per sender (the proxy opens
 * one upstream socket per session), replies sent back to that sender. `silence()` drops everything
 * from then on while keeping every socket bound, so no port-unreachable ever reaches the proxy.
 */
class UdpForwarder {
  private readonly outside = new Map<string, Socket>();
  private silent = false;

  private constructor(
    private readonly inside: Socket,
    private readonly originPort: number,
  ) {
    inside.on('message', (m, from) => {
      if (this.silent) return;
      const key = `${from.address}:${from.port}`;
      let out = this.outside.get(key);
      if (!out) {
        out = createSocket('udp4');
        out.on('error', () => undefined);
        out.on('message', (reply) => {
          if (!this.silent) this.inside.send(reply, from.port, from.address);
        });
        out.bind(0, '127.0.0.1');
        this.outside.set(key, out);
      }
      out.send(m, this.originPort, '127.0.0.1');
    });
  }

  static async start(originPort: number): Promise<UdpForwarder> {
    const inside = createSocket('udp4');
    inside.on('error', () => undefined);
    await new Promise<void>((r) => inside.bind(0, '127.0.0.1', r));
    return new UdpForwarder(inside, originPort);
  }

  get port(): number {
    return (this.inside.address() as AddressInfo).port;
  }

  silence(): void {
    this.silent = true;
  }

  close(): void {
    this.inside.close();
    for (const s of this.outside.values()) s.close();
  }
}

interface OriginRow {
  server_id: string;
  state: string;
  relays: number;
}

describe('failover: a WebRTC origin killed while it holds a publisher and a player', () => {
  let proxy: RunningProxy;
  let source: RtpSource;
  const origins: { origin: WebrtcOrigin; forwarder: UdpForwarder }[] = [];
  const clients: SignalledClient[] = [];

  before(async () => {
    proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: `${INTERVAL_MS}ms` } });
    for (const name of ['rtc-a', 'rtc-b']) {
      const origin = await startWebrtcOrigin(name);
      const forwarder = await UdpForwarder.start(origin.udpPort);
      origins.push({ origin, forwarder });
      await registerOrigin(proxy.systemApi, { ...origin.registerBody(), rtc: [`udp://127.0.0.1:${forwarder.port}`] });
    }
    source = await RtpSource.start();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await source?.stop();
    await proxy?.stop();
    for (const { origin, forwarder } of origins) {
      forwarder.close();
      await origin.stop();
    }
  });

  const whipUrl = (stream: string) => `${proxy.httpApi}/rtc/v1/whip/?app=live&stream=${stream}`;
  const whepUrl = (stream: string) => `${proxy.httpApi}/rtc/v1/whep/?app=live&stream=${stream}`;

  async function originRows(): Promise<OriginRow[]> {
    return ((await (await fetch(`${proxy.systemApi}/api/v1/origins`)).json()) as { origins: OriginRow[] }).origins;
  }

  async function receivingPublisher(origin: WebrtcOrigin, stream: string): Promise<boolean> {
    const s = (await origin.stats()).sessions.find((x) => x.kind === 'publisher' && x.stream === `live/${stream}` && !x.closed);
    return (s?.received.h264 ?? 0) > 10;
  }

  test('its UDP relays are closed by the health verdict; new and re-published streams go to the survivor', async () => {
    await waitFor(async () => (await originRows()).filter((o) => o.state === 'up').length === 2, { what: 'both origins up' });
    const pub = await whipPublish(whipUrl('cam'), source);
    clients.push(pub);
    assert.equal(pub.status, 201);
    const victim = await waitFor(
      async () => {
        for (const o of origins) if (await receivingPublisher(o.origin, 'cam')) return o;
        return undefined;
      },
      { what: 'the publisher reaching its origin', timeoutMs: 20_000 },
    );
    const survivor = origins.find((o) => o !== victim)!;
    const player = await whepPlay(whepUrl('cam'));
    clients.push(player);
    await waitFor(() => player.counts.video > 20, { what: 'the player receiving video', timeoutMs: 20_000 });
    await waitFor(async () => (await originRows()).find((o) => o.server_id === victim.origin.name)?.relays === 2, {
      what: 'two relays registered for the origin',
    });
    const closedBefore = (await proxy.stats()).detail.webrtc.sessionsClosed;

    victim.forwarder.silence();
    killTree(victim.origin.peer.pid);

    await waitFor(async () => (await originRows()).find((o) => o.server_id === victim.origin.name)?.state === 'down', {
      what: 'the killed origin marked down',
    });
    await waitFor(async () => (await proxy.stats()).detail.webrtc.sessions === 0, { what: 'every UDP relay session closed' });
    const closed = (await proxy.stats()).detail.webrtc.sessionsClosed;
    assert.equal(closed['origin-down'] - closedBefore['origin-down'], 2, 'both sessions closed because their origin is down');
    assert.equal(closed['upstream-error'], closedBefore['upstream-error'], 'none closed by a socket error');
    await waitFor(async () => (await originRows()).find((o) => o.server_id === victim.origin.name)?.relays === 0, {
      what: 'no relay to the dead origin in the registry',
    });

    const fresh = await whipPublish(whipUrl('fresh'), source);
    clients.push(fresh);
    assert.equal(fresh.status, 201, 'a new WHIP is answered');
    await waitFor(() => receivingPublisher(survivor.origin, 'fresh'), { what: 'the new stream on the survivor', timeoutMs: 20_000 });
    const again = await whipPublish(whipUrl('cam'), source);
    clients.push(again);
    assert.equal(again.status, 201, 'the re-publish is answered');
    await waitFor(() => receivingPublisher(survivor.origin, 'cam'), { what: 'the re-published stream on the survivor', timeoutMs: 20_000 });
  });
});
