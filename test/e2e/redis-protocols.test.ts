// WebRTC and SRT across two proxies sharing Redis: WHIP through proxy A with every UDP packet sent to
// proxy B (B finds the session by its ufrag record in Redis, BEHAVIOUR.md §3.6 / BEHAVIOUR.md §9.2 #3) and WHEP the other way
// round, real werift clients and node-datachannel origin; SRT publish through A and play through B of
// the same stream key reach the same origin, and data flows through B.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { HandshakeType } from '../../src/srt/handshake.js';
import { isHandshakePacket } from '../../src/srt/packet.js';
import { eventually } from '../fixtures/media.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, type RunningProxy } from '../fixtures/proxy.js';
import { redisAdmin, startRedisProxies } from '../fixtures/redis-proxies.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { FakeOrigin, TestCaller } from '../fixtures/srt-peers.js';
import { RtpSource, whepPlay, whipPublish, type SignalledClient } from '../fixtures/webrtc-client.js';
import { startWebrtcOrigin, type WebrtcOrigin } from '../fixtures/webrtc-origin.js';

const PASSWORD = 'protocols-secret';
let redis: RedisServer;

before(async () => {
  redis = await startRedis({ password: PASSWORD });
});
after(stopAllPeers);

/** An SDP answer's host candidate moved from one proxy's UDP port to another's (what a UDP load balancer does). */
function candidatePort(from: number, to: number): (sdp: string) => string {
  return (sdp) => {
    assert.match(sdp, new RegExp(` 127\\.0\\.0\\.1 ${from} typ host`), 'the answer names the answering proxy');
    return sdp.replace(new RegExp(` 127\\.0\\.0\\.1 ${from} typ host`, 'g'), ` 127.0.0.1 ${to} typ host`);
  };
}

describe('WebRTC across two proxies (werift clients, node-datachannel origin)', () => {
  const opts = { password: PASSWORD, db: 7 };
  let a: RunningProxy;
  let b: RunningProxy;
  let origin: WebrtcOrigin;
  let source: RtpSource;
  let admin: Redis;
  const clients: SignalledClient[] = [];

  before(async () => {
    [a, b] = await startRedisProxies(redis, 2, opts);
    admin = redisAdmin(redis, opts);
    origin = await startWebrtcOrigin('rtc1');
    await registerOrigin(a.systemApi, origin.registerBody());
    source = await RtpSource.start();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await source?.stop();
    admin?.disconnect();
    await a?.stop();
    await b?.stop();
    await origin?.stop();
  });

  test('WHIP through A, all media to B: the origin gets H.264 and Opus; WHEP through B, media via A: the player gets them', async () => {
    const pub = await whipPublish(`${a.httpApi}/rtc/v1/whip/?app=live&stream=hop`, source, {
      api: 'whip',
      editAnswer: candidatePort(a.ports.webrtc, b.ports.webrtc),
    });
    clients.push(pub);
    assert.equal(pub.status, 201);
    await eventually(async () => {
      const s = (await origin.stats()).sessions.find((x) => x.kind === 'publisher' && x.stream === 'live/hop' && !x.closed);
      assert.ok(s && (s.received.h264 ?? 0) > 50 && (s.received.opus ?? 0) > 50, JSON.stringify(s));
    }, 20_000);
    // Proxy B relayed it from the Redis record that proxy A wrote; A's relay never saw the session.
    assert.match(b.peer.output, /"msg":"WebRTC session opened"/);
    assert.doesNotMatch(a.peer.output, /"msg":"WebRTC session opened"/);

    const player = await whepPlay(`${b.httpApi}/rtc/v1/whep/?app=live&stream=hop`, { api: 'whip', editAnswer: candidatePort(b.ports.webrtc, a.ports.webrtc) });
    clients.push(player);
    await eventually(async () => {
      assert.ok(player.counts.video > 50 && player.counts.audio > 50, JSON.stringify({ ...player.counts, nalTypes: [...player.counts.nalTypes] }));
      assert.ok(player.counts.nalTypes.has(5), 'keyframes arrive');
    }, 20_000);
    assert.match(a.peer.output, /"msg":"WebRTC session opened"/);

    // The session records are the Go proxy's shape plus ours, with the session TTL (120 s).
    const keys = await admin.keys('srs-proxy-ufrag:*');
    assert.equal(keys.length, 2);
    for (const k of keys) {
      const record = JSON.parse((await admin.get(k))!) as Record<string, unknown>;
      assert.equal(record.stream_url, '__defaultVhost__/live/hop');
      assert.equal(`srs-proxy-ufrag:${String(record.ufrag)}`, k);
      assert.equal(record.serverId, 'rtc1');
      assert.equal(record.mediaPort, origin.udpPort);
      const ttl = await admin.ttl(k);
      assert.ok(ttl > 0 && ttl <= 120, `TTL ${ttl}`);
    }
    assert.ok(await admin.exists('srs-proxy-rtc:__defaultVhost__/live/hop'));
  });
});

describe('SRT across two proxies (stream key shared)', () => {
  const opts = { password: PASSWORD, db: 8 };
  let a: RunningProxy;
  let b: RunningProxy;
  const origins: FakeOrigin[] = [];
  const callers: TestCaller[] = [];

  before(async () => {
    [a, b] = await startRedisProxies(redis, 2, opts);
    for (const server of ['srtA', 'srtB']) {
      const o = await FakeOrigin.start('accept');
      origins.push(o);
      await registerOrigin(b.systemApi, o.registerBody(server));
    }
  });
  after(async () => {
    for (const c of callers) c.close();
    for (const o of origins) o.close();
    await a?.stop();
    await b?.stop();
  });

  test('publish through A and play through B of each stream reach one origin; data through B comes back from it', async () => {
    const used = new Set<number>();
    // 12 streams over 2 origins: all on one origin by chance is 1 in 2048.
    for (const name of Array.from({ length: 12 }, (_, i) => `s${i}`)) {
      const publisher = await TestCaller.open(a.ports.srt);
      const player = await TestCaller.open(b.ports.srt);
      callers.push(publisher, player);
      const pub = await publisher.connect(`#!::r=live/${name},m=publish`);
      const play = await player.connect(`#!::r=live/${name},m=request`);
      assert.equal(pub.response.handshakeType, HandshakeType.Conclusion);
      assert.equal(play.response.handshakeType, HandshakeType.Conclusion);
      // The conclusion response carries the origin's own socket id: both sessions met the same origin.
      assert.equal(play.response.socketId, pub.response.socketId, `${name}: B routed to another origin than A`);
      used.add(pub.response.socketId);
      const payload = Buffer.from(`through B for ${name}`);
      const mark = player.inbox.received.length;
      player.send(player.data(play.response.socketId, player.initialSequenceNumber, payload));
      const echoed = await player.inbox.next((d) => !isHandshakePacket(d) && d.subarray(16).equals(payload), 3000, mark);
      assert.equal(echoed.readUInt32BE(12), player.socketId);
    }
    assert.equal(used.size, 2, 'the streams were spread over both origins (so agreement is not luck)');
  });
});
