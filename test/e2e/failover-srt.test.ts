// Failover for SRT: two SRT origins (packet-level HSv5 listeners, each with an RTMP port the health
// probe connects to); the one holding a live SRT publish dies. It dies as a host does: its RTMP port
// refuses and its SRT port swallows every datagram without a word (no ICMP either), so nothing but
// the proxy's health verdict can end the relay. The proxy must close its relay to the dead origin
// (the caller gets SHUTDOWN, the origin list shows 0 relays, the SRT relay count drops), and both a
// new stream and a re-publish of the same stream must land on the surviving origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HandshakeType } from '../../src/srt/handshake.js';
import { ControlType } from '../../src/srt/packet.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { FakeOrigin, TestCaller } from '../fixtures/srt-peers.js';
import { waitFor } from '../fixtures/wait.js';

const INTERVAL_MS = 500;

interface OriginRow {
  server_id: string;
  state: string;
  relays: number;
}

describe('failover: an SRT origin dies while it holds a live publish', () => {
  let proxy: RunningProxy;
  const origins = new Map<string, FakeOrigin>();
  const callers: TestCaller[] = [];

  before(async () => {
    proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: `${INTERVAL_MS}ms` } });
    for (const server of ['srt-a', 'srt-b']) {
      const o = await FakeOrigin.start('accept');
      origins.set(server, o);
      await registerOrigin(proxy.systemApi, o.registerBody(server));
    }
  });
  after(async () => {
    for (const c of callers) c.close();
    for (const o of origins.values()) o.close();
    await proxy?.stop();
  });

  async function originRows(): Promise<OriginRow[]> {
    const r = await fetch(`${proxy.systemApi}/api/v1/origins`);
    return ((await r.json()) as { origins: OriginRow[] }).origins;
  }

  async function pinOf(stream: string): Promise<string | undefined> {
    const r = await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`);
    const pins = ((await r.json()) as { streams: { stream: string; server: string }[] }).streams;
    return pins.find((p) => p.stream === `__defaultVhost__/live/${stream}`)?.server;
  }

  /** An SRT publish through the proxy; resolves with the caller and the origin's socket id once accepted. */
  async function publish(stream: string): Promise<{ caller: TestCaller; originSocketId: number }> {
    const caller = await TestCaller.open(proxy.ports.srt);
    callers.push(caller);
    const { response } = await caller.connect(`#!::r=live/${stream},m=publish`);
    assert.equal(response.handshakeType, HandshakeType.Conclusion, `publish of ${stream} accepted`);
    return { caller, originSocketId: response.socketId };
  }

  function sawShutdown(caller: TestCaller): boolean {
    return caller.inbox.received.some(({ datagram: d }) => d.length >= 16 && d.readUInt32BE(0) >>> 16 === (0x8000 | ControlType.Shutdown));
  }

  test('its relay is closed, and new and re-published streams land on the surviving origin', async () => {
    await waitFor(async () => (await originRows()).filter((o) => o.state === 'up').length === 2, { what: 'both origins up' });
    const { caller, originSocketId } = await publish('live1');
    const victimId = await waitFor(() => pinOf('live1'), { what: 'live1 pinned' });
    const survivorId = victimId === 'srt-a' ? 'srt-b' : 'srt-a';
    const victim = origins.get(victimId)!;
    const survivor = origins.get(survivorId)!;
    await waitFor(async () => (await proxy.stats()).detail.srt.relaying === 1, { what: 'the relay counted' });
    await waitFor(async () => (await originRows()).find((o) => o.server_id === victimId)?.relays === 1, { what: 'the relay registered for its origin' });

    // The encoder keeps sending media: a relay is never idle, so only the health verdict can end it.
    let seq = caller.initialSequenceNumber;
    const media = setInterval(() => caller.send(caller.data(originSocketId, seq++ & 0x7fffffff, Buffer.alloc(1316, 0x47))), 20);
    try {
      await waitFor(() => victim.dataPackets > 5, { what: 'media reaching the origin' });
      // The origin host dies: the RTMP port refuses, the SRT port answers nothing.
      victim.mode = 'silent';
      await victim.rtmp.close();

      await waitFor(async () => (await originRows()).find((o) => o.server_id === victimId)?.state === 'down', { what: 'the dead origin marked down' });
      await waitFor(() => sawShutdown(caller), { what: 'SHUTDOWN sent to the caller of the dead origin' });
      await waitFor(async () => (await proxy.stats()).detail.srt.relaying === 0, { what: 'no SRT relay left' });
      // The origin list re-reads the registry's counts on its sync timer.
      await waitFor(async () => (await originRows()).find((o) => o.server_id === victimId)?.relays === 0, {
        what: 'no relay to the dead origin in the registry',
      });
    } finally {
      clearInterval(media);
    }

    const conclusionsBefore = survivor.conclusions.length;
    await publish('fresh');
    assert.equal(await pinOf('fresh'), survivorId, 'a new stream goes to the surviving origin');
    await publish('live1');
    assert.equal(await pinOf('live1'), survivorId, 'the re-published stream moved to the surviving origin');
    assert.equal(survivor.conclusions.length, conclusionsBefore + 2, 'the survivor concluded both handshakes');
    assert.equal((await proxy.stats()).detail.srt.relaying, 2);
  });
});
