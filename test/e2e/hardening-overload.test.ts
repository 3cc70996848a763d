// The heap guard on the UDP protocols: while the heap is above PROXY_MAX_HEAP_RATIO, a new SRT caller
// gets a backlog rejection and a new WebRTC session is not opened, while sessions that already run keep
// relaying; once the heap falls back, new work is accepted again. The heap reading is injected, the
// peers are real: libsrt (srt-live-transmit), the hand-made SRT caller, werift clients and the
// node-datachannel WebRTC origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { HandshakeType, RejectionCode } from '../../src/srt/handshake.js';
import { buildShutdown } from '../../src/srt/packet.js';
import { startPeer } from '../fixtures/process.js';
import { registerOrigin } from '../fixtures/proxy.js';
import { FakeOrigin, TestCaller } from '../fixtures/srt-peers.js';
import { RtpSource, whepPlay, whipPublish, type SignalledClient } from '../fixtures/webrtc-client.js';
import { startWebrtcOrigin, type WebrtcOrigin } from '../fixtures/webrtc-origin.js';
import { TEST_ICE_PWD, UdpPeer, stunBindingRequest } from '../fixtures/webrtc-udp.js';
import { waitFor } from '../fixtures/wait.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

const LIMIT = 1_000_000_000;

/** An in-process proxy whose heap reading the test sets: `heap.over = true` puts it above the ratio. */
async function overloadableProxy(env: Record<string, string> = {}) {
  const heap = { over: false };
  const { config } = loadConfig({
    env: {
      ...LOOPBACK_EPHEMERAL_LISTENERS,
      PROXY_UDP_BUFFER_SIZE: '262144',
      PROXY_MAX_HEAP_RATIO: '0.8',
      ...env,
    },
    cwd: '/',
    readDotenv: () => undefined,
  });
  const proxy = new OriginProxy({
    config,
    log: createLogger({ level: 'silent', format: 'json' }),
    heap: () => ({ used: heap.over ? LIMIT * 0.9 : LIMIT * 0.1, limit: LIMIT }),
  });
  await proxy.start();
  const port = (name: Parameters<OriginProxy['address']>[0]) => proxy.address(name).port;
  /** The guard samples the heap at most every 100 ms: wait for a verdict through a real HTTP request. */
  const settle = (over: boolean) =>
    waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port('httpApi')}/api/v1/versions`);
        await res.arrayBuffer();
        return (res.status === 503) === over;
      },
      { what: `the heap guard to see over=${over}` },
    );
  const set = async (over: boolean) => {
    heap.over = over;
    await settle(over);
  };
  return { proxy, port, set, systemApi: `http://127.0.0.1:${port('systemApi')}` };
}

describe('heap guard: SRT callers', () => {
  let h: Awaited<ReturnType<typeof overloadableProxy>>;
  let origin: FakeOrigin;
  const callers: TestCaller[] = [];
  const caller = async () => {
    const c = await TestCaller.open(h.port('srt'));
    callers.push(c);
    return c;
  };
  const srtStats = () =>
    (
      h.proxy as unknown as { listeners: Map<string, { detail(): { drops: Record<string, number>; relaying: number; rejected: Record<string, number> } }> }
    ).listeners
      .get('srt')!
      .detail();

  before(async () => {
    h = await overloadableProxy();
    origin = await FakeOrigin.start('accept', {});
    await registerOrigin(h.systemApi, origin.registerBody('srt1'));
  });
  after(async () => {
    for (const c of callers) await c.close();
    await h?.proxy.stop(0);
    await origin?.close();
  });

  test('a hand-made caller is refused with a backlog rejection while overloaded; a running session keeps relaying', async () => {
    const running = await caller();
    const admitted = await running.connect('live/running');
    assert.equal(admitted.response.handshakeType, HandshakeType.Conclusion);
    await h.set(true);
    for (let i = 0; i < 2; i++) {
      assert.equal((await (await caller()).connect(`live/refused${i}`)).response.handshakeType, RejectionCode.Backlog);
    }
    assert.equal(srtStats().drops.overloaded, 2);
    assert.equal(srtStats().rejected.RejectBacklog, 2);
    // The admitted session still relays: a data packet reaches the origin.
    const before = origin.dataPackets;
    running.send(dataPacket(admitted.response.socketId, 1));
    await waitFor(() => origin.dataPackets > before, { what: 'the running session to relay a data packet' });
    await h.set(false);
    assert.equal((await (await caller()).connect('live/after')).response.handshakeType, HandshakeType.Conclusion);
    running.send(buildShutdown(admitted.response.socketId, 1));
  });

  test('libsrt (srt-live-transmit) as the caller gets the backlog rejection while overloaded', async () => {
    await h.set(true);
    const slt = startPeer('srt-live-transmit caller', 'srt-live-transmit', [
      '-a:no',
      '-v',
      '-ll:note',
      `srt://127.0.0.1:${h.port('srt')}?mode=caller&streamid=${encodeURIComponent('#!::r=live/slt,m=request')}&connect_timeout=2000`,
      'file://con',
    ]);
    // A refused connection ends the process; its output says why.
    await slt.exited;
    assert.match(slt.output, /backlog exceeded/i, slt.output);
    assert.ok(srtStats().drops.overloaded >= 3);
    await h.set(false);
  });
});

/** A minimal SRT data packet (destination socket id, sequence number), 100 bytes of payload. */
function dataPacket(destination: number, seq: number): Buffer {
  const b = Buffer.alloc(16 + 100);
  b.writeUInt32BE(seq & 0x7fffffff, 0);
  b.writeUInt32BE(0xc0000000, 4);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(destination, 12);
  return b;
}

describe('heap guard: WebRTC sessions', () => {
  let h: Awaited<ReturnType<typeof overloadableProxy>>;
  let o1: WebrtcOrigin;
  let source: RtpSource;
  const clients: SignalledClient[] = [];
  const peers: UdpPeer[] = [];
  const relayStats = () =>
    (h.proxy as unknown as { listeners: Map<string, { detail(): { sessions: number; dropped: Record<string, number> } }> }).listeners.get('webrtc')!.detail();
  const whipUrl = (stream: string) => `http://127.0.0.1:${h.port('httpApi')}/rtc/v1/whip/?app=live&stream=${stream}`;
  const whepUrl = (stream: string) => `http://127.0.0.1:${h.port('httpApi')}/rtc/v1/whep/?app=live&stream=${stream}`;

  before(async () => {
    o1 = await startWebrtcOrigin('o1');
    h = await overloadableProxy({ PROXY_IDLE_TIMEOUT: '10s' });
    await registerOrigin(h.systemApi, o1.registerBody());
    source = await RtpSource.start();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const p of peers) await p.close();
    await source?.stop();
    await h?.proxy.stop(0);
    await o1?.stop();
  });

  test('a werift publish and player keep flowing while overloaded; a new offer gets 503 and a new check opens no session', async () => {
    const pub = await whipPublish(whipUrl('flow'), source);
    clients.push(pub);
    const player = await whepPlay(whepUrl('flow'));
    clients.push(player);
    await waitFor(() => player.counts.video > 20, { what: 'the player to receive media', timeoutMs: 15_000 });
    const sessions = relayStats().sessions;
    await h.set(true);
    // Variant 1: a new WHEP offer is refused at the HTTP level.
    const offer = await fetch(whepUrl('flow'), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
    assert.equal(offer.status, 503);
    assert.match(((await offer.json()) as { error: string }).error, /overloaded/);
    // Variant 2: a check for a session record that exists (signalled before the overload, e.g. by another
    // proxy) does not open an upstream socket: dropped and counted.
    await h.proxy.balancer.putRtcSession({
      ufrag: 'late:c',
      streamKey: '__defaultVhost__/live/flow',
      icePwd: TEST_ICE_PWD,
      mediaHost: '127.0.0.1',
      mediaPort: o1.udpPort,
    });
    const late = await UdpPeer.open();
    peers.push(late);
    for (let i = 0; i < 2; i++) await late.send(stunBindingRequest('late:c'), h.port('webrtc'));
    await waitFor(() => (relayStats().dropped.overloaded ?? 0) >= 2, { what: 'two overloaded drops' });
    assert.equal(relayStats().sessions, sessions);
    // Running sessions still relay in both directions.
    const seen = player.counts.video;
    await waitFor(() => player.counts.video > seen + 20, { what: 'media to keep reaching the player while overloaded' });
    await h.set(false);
    // Back below the ratio: the same record now opens its session.
    await late.send(stunBindingRequest('late:c'), h.port('webrtc'));
    await waitFor(() => relayStats().sessions === sessions + 1, { what: 'the late session to open' });
  });
});
