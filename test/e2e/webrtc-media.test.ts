// WebRTC media through the proxy with real stacks: werift clients (H.264/Opus RTP made by ffmpeg)
// and SRS-like single-port origins built on node-datachannel (full ICE, ufrag demultiplexing).
// WHIP publish and WHEP play, SRS's JSON API, two origins with several sessions each, teardown by
// DELETE on the origin and in the proxy, and a client whose source port changes mid-stream.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../fixtures/media.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtpSource, whepPlay, whipPublish, type SignalledClient } from '../fixtures/webrtc-client.js';
import { startWebrtcOrigin, type OriginStats, type WebrtcOrigin } from '../fixtures/webrtc-origin.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

/** A STUN Binding request (an ICE connectivity or consent check): type 0x0001 and the magic cookie. */
function isBindingRequest(m: Buffer): boolean {
  return m.length >= 20 && m.readUInt16BE(0) === 0x0001 && m.readUInt32BE(4) === 0x2112a442;
}

/**
 * A NAT between a client and the proxy: the client talks to `port`; the shim talks to the proxy from
 * an outside socket that `rebind()` replaces (a NAT mapping change) and `blackhole()` cuts.
 *
 * A receive-only client's only traffic is its consent checks, every 4-6 s (werift), which races the
 * proxy's idle timeout. The shim makes that activity deterministic: it repeats the client's latest
 * check at once after a rebind (the check that moves the session to the new address) and then every
 * `keepaliveMs` until cut.
 */
class NatShim {
  private outside!: Socket;
  private client: { address: string; port: number } | undefined;
  private dead = false;
  private lastCheck: Buffer | undefined;
  private readonly keepalive: NodeJS.Timeout;
  outsidePorts: number[] = [];

  private constructor(
    private readonly inside: Socket,
    private readonly proxyPort: number,
  ) {
    inside.on('message', (m, from) => {
      this.client = { address: from.address, port: from.port };
      if (isBindingRequest(m)) this.lastCheck = Buffer.from(m);
      if (!this.dead) this.outside.send(m, this.proxyPort, '127.0.0.1');
    });
    this.keepalive = setInterval(() => this.repeatCheck(), 1000);
  }

  /** Sends the client's latest consent check again, from the current outside port. */
  private repeatCheck(): void {
    if (!this.dead && this.lastCheck) this.outside.send(this.lastCheck, this.proxyPort, '127.0.0.1');
  }

  static async start(proxyPort: number): Promise<NatShim> {
    const inside = createSocket('udp4');
    await new Promise<void>((r) => inside.bind(0, '127.0.0.1', r));
    const shim = new NatShim(inside, proxyPort);
    await shim.rebind();
    return shim;
  }

  get port(): number {
    return (this.inside.address() as AddressInfo).port;
  }

  async rebind(): Promise<void> {
    const old = this.outside;
    const next = createSocket('udp4');
    await new Promise<void>((r) => next.bind(0, '127.0.0.1', r));
    next.on('message', (m) => {
      if (!this.dead && this.client) this.inside.send(m, this.client.port, this.client.address);
    });
    this.outside = next;
    this.outsidePorts.push((next.address() as AddressInfo).port);
    old?.close();
    this.repeatCheck();
  }

  blackhole(): void {
    this.dead = true;
  }

  close(): void {
    clearInterval(this.keepalive);
    this.inside.close();
    this.outside.close();
  }
}

describe('WebRTC media through the proxy (werift clients, node-datachannel origins)', () => {
  let proxy: RunningProxy;
  let o1: WebrtcOrigin;
  let o2: WebrtcOrigin;
  let source: RtpSource;
  const clients: SignalledClient[] = [];

  before(async () => {
    [o1, o2] = await Promise.all([startWebrtcOrigin('o1'), startWebrtcOrigin('o2')]);
    // Probes off: these origins serve WebRTC only (nothing answers on the RTMP port they register).
    proxy = await startProxy({ env: { PROXY_IDLE_TIMEOUT: '5s', PROXY_HEALTH_INTERVAL: '0' } });
    await registerOrigin(proxy.systemApi, o1.registerBody());
    source = await RtpSource.start();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await source?.stop();
    await proxy?.stop();
    await o1?.stop();
    await o2?.stop();
  });

  const whipUrl = (stream: string) => `${proxy.httpApi}/rtc/v1/whip/?app=live&stream=${stream}`;
  const whepUrl = (stream: string) => `${proxy.httpApi}/rtc/v1/whep/?app=live&stream=${stream}`;

  async function publisherOn(origin: WebrtcOrigin, stream: string): Promise<OriginStats['sessions'][number] | undefined> {
    return (await origin.stats()).sessions.find((s) => s.kind === 'publisher' && s.stream === `live/${stream}` && !s.closed);
  }

  test('WHIP publish through the proxy: the origin receives H.264 and Opus RTP; a WHEP player through the proxy receives it', async () => {
    const pub = await whipPublish(whipUrl('one'), source);
    clients.push(pub);
    assert.equal(pub.status, 201);
    assert.match(pub.answer, new RegExp(` 127\\.0\\.0\\.1 ${proxy.ports.webrtc} typ host`));
    await eventually(async () => {
      const s = await publisherOn(o1, 'one');
      assert.ok(s && (s.received.h264 ?? 0) > 50 && (s.received.opus ?? 0) > 50, JSON.stringify(s));
    }, 15_000);
    const player = await whepPlay(whepUrl('one'));
    clients.push(player);
    await eventually(async () => {
      assert.ok(player.counts.video > 50 && player.counts.audio > 50, JSON.stringify({ ...player.counts, nalTypes: [...player.counts.nalTypes] }));
      assert.ok(player.counts.nalTypes.has(5) && player.counts.nalTypes.has(7), `NAL types ${[...player.counts.nalTypes]}`);
    }, 15_000);
  });

  test('SRS JSON API through the proxy: /rtc/v1/publish/ and /rtc/v1/play/ routed by streamurl', async () => {
    const streamurl = 'webrtc://localhost/live/json';
    const pub = await whipPublish(`${proxy.httpApi}/rtc/v1/publish/`, source, { api: 'json', streamurl });
    clients.push(pub);
    const player = await whepPlay(`${proxy.httpApi}/rtc/v1/play/`, { api: 'json', streamurl });
    clients.push(player);
    await eventually(async () => {
      const s = await publisherOn(o1, 'json');
      assert.ok(s && (s.received.h264 ?? 0) > 20, JSON.stringify(s));
      assert.ok(player.counts.video > 20 && player.counts.audio > 20, JSON.stringify(player.counts));
    }, 15_000);
  });

  test('two origins, several concurrent sessions on each: every player gets its stream from its origin', async () => {
    await registerOrigin(proxy.systemApi, o2.registerBody());
    const streams: { name: string; origin: WebrtcOrigin }[] = [];
    // Picks are random: publish until each origin holds a stream (bounded).
    for (let i = 0; i < 12 && new Set(streams.map((s) => s.origin.name)).size < 2; i++) {
      const name = `multi${i}`;
      clients.push(await whipPublish(whipUrl(name), source));
      const origin = (await publisherOn(o1, name)) ? o1 : o2;
      streams.push({ name, origin });
    }
    assert.equal(new Set(streams.map((s) => s.origin.name)).size, 2, 'both origins hold streams');
    const chosen = [streams.find((s) => s.origin === o1)!, streams.find((s) => s.origin === o2)!];
    const players = await Promise.all(chosen.flatMap((s) => [whepPlay(whepUrl(s.name)), whepPlay(whepUrl(s.name))]));
    clients.push(...players);
    await eventually(async () => {
      for (const p of players) assert.ok(p.counts.video > 30 && p.counts.audio > 30, JSON.stringify(p.counts));
    }, 20_000);
    for (const s of chosen) {
      const stats = await s.origin.stats();
      const live = stats.sessions.filter((x) => x.stream === `live/${s.name}` && !x.closed);
      assert.equal(live.filter((x) => x.kind === 'publisher').length, 1);
      assert.equal(live.filter((x) => x.kind === 'player').length, 2);
      for (const x of live.filter((x) => x.kind === 'player')) assert.ok((x.sent.h264 ?? 0) > 30, JSON.stringify(x));
      // The origin sees the proxy, never the client: its remote is a proxy upstream socket.
      for (const x of live) assert.ok(x.remote && x.remote.port !== proxy.ports.webrtc, JSON.stringify(x));
    }
  });

  test('DELETE through the rewritten Location ends the session on the origin and in the proxy', async () => {
    const pub = await whipPublish(whipUrl('del'), source);
    clients.push(pub);
    assert.ok(pub.resource?.startsWith(`${proxy.httpApi}/rtc/v1/whip/?action=delete&`), pub.resource);
    await eventually(async () => assert.ok(((await publisherOn(o1, 'del')) ?? (await publisherOn(o2, 'del')))?.received.h264));
    const deletedBefore = (await proxy.stats()).detail.webrtc.sessionsClosed.delete;
    const res = await fetch(pub.resource!, { method: 'DELETE' });
    assert.equal(res.status, 200);
    const session = new URL(pub.resource!).searchParams.get('proxy_session')!;
    await eventually(async () => {
      const all = [...(await o1.stats()).sessions, ...(await o2.stats()).sessions];
      assert.equal(all.find((s) => s.id === session)?.closed, true);
    }, 5000);
    // Only this test sends DELETE: the proxy's count of sessions ended by DELETE goes up by one.
    await waitFor(async () => (await proxy.stats()).detail.webrtc.sessionsClosed.delete === deletedBefore + 1, {
      what: 'the proxy ending the session on DELETE',
      timeoutMs: 5000,
    });
  });

  test('a player whose source port changes (NAT rebinding) keeps receiving; once it goes silent the session idles out', async () => {
    // The sessions of the tests above end first (their players could idle out too), so that the
    // proxy's idle count below is this player's alone; a publisher (never idle: it sends media) feeds it.
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await waitFor(async () => (await proxy.stats()).detail.webrtc.sessions === 0, { what: 'the earlier sessions to end', timeoutMs: 15_000 });
    clients.push(await whipPublish(whipUrl('nat'), source));
    const shim = await NatShim.start(proxy.ports.webrtc);
    try {
      const player = await whepPlay(whepUrl('nat'), {
        api: 'whip',
        editAnswer: (sdp) => sdp.replaceAll(` ${proxy.ports.webrtc} typ host`, ` ${shim.port} typ host`),
      });
      clients.push(player);
      await eventually(async () => assert.ok(player.counts.video > 30));
      // The old outside socket is closed by the rebind: whatever arrives from now on came the new way.
      // The consent check from the new port carries the USERNAME and moves the session there.
      await shim.rebind();
      const before = player.counts.video;
      await waitFor(() => player.counts.video > before + 50, { what: `video after the rebind (${player.counts.video} vs ${before})`, timeoutMs: 10_000 });
      const { sessions, sessionsClosed } = (await proxy.stats()).detail.webrtc;
      assert.equal(sessions, 2, 'the publisher and the player, which kept its one session');
      shim.blackhole();
      // Silent for PROXY_IDLE_TIMEOUT (5 s) plus one sweep (1.25 s): the proxy ends the session as idle.
      await waitFor(
        async () => {
          const now = (await proxy.stats()).detail.webrtc;
          return now.sessions === 1 && now.sessionsClosed.idle === sessionsClosed.idle + 1;
        },
        { what: 'the silent session to idle out', timeoutMs: 10_000 },
      );
    } finally {
      shim.close();
    }
  });
});
