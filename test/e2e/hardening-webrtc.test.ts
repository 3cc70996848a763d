// Attacks on the WebRTC relay with real UDP sockets: origins whose media address cannot be used (the
// process must stay up and serve the next session), and connectivity checks that know a session's
// USERNAME but not its ICE password (they must not bind or move the session's client address).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { parseRegistration } from '../../src/balancer/origin.js';
import { StunAttributeType } from '../../src/webrtc/stun.js';
import type { Redis } from 'ioredis';
import { encodeRtcRecord, ufragKey } from '../../src/balancer/redis-records.js';
import { registerOrigin, type RunningProxy } from '../fixtures/proxy.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { redisAdmin, startRedisProxies } from '../fixtures/redis-proxies.js';
import { encodeStunBindingRequest } from '../fixtures/stun-encode.js';
import { fakeOffer, startFakeRtcOrigin, type FakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';
import { TEST_ICE_PWD, UdpPeer, rtpPacket, staysAbsent, stunBindingRequest, waitForItem } from '../fixtures/webrtc-udp.js';
import { waitFor } from '../fixtures/wait.js';
import { closeRelaySetup, startRelaySetup, UdpPeerPool, type RelaySetup } from '../fixtures/webrtc-relay-setup.js';

const STREAM = '__defaultVhost__/live/s';

/** A check signed for a session the attacker owns, with `username` appended after MESSAGE-INTEGRITY. */
function usernameAfterIntegrity(username: string): Buffer {
  const signed = encodeStunBindingRequest({ transactionId: randomBytes(12), username: 'mine:1', integrityKey: 'my-own-password-my-own-pw' });
  const value = Buffer.from(username, 'utf8');
  const attribute = Buffer.alloc(4 + ((value.length + 3) & ~3));
  attribute.writeUInt16BE(StunAttributeType.Username, 0);
  attribute.writeUInt16BE(value.length, 2);
  value.copy(attribute, 4);
  const out = Buffer.concat([signed, attribute]);
  out.writeUInt16BE(out.length - 20, 2);
  return out;
}

/** The shared state poll, with this file's argument order and a 5 s default. */
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  await waitFor(ok, { what, timeoutMs: ms, everyMs: 10 });
}

describe('WebRTC relay: an origin media address that cannot be used', () => {
  let s: RelaySetup;
  const peers = new UdpPeerPool();
  const peer = () => peers.open();
  beforeEach(async () => {
    s = await startRelaySetup();
  });
  afterEach(async () => {
    await peers.closeAll();
    await closeRelaySetup(s);
  });

  /** Checks for a session with a bad media address; then a good session must still work. */
  async function survives(ufrag: string): Promise<void> {
    const before = s.relay.detail().sessionsClosed['upstream-error'];
    const c = await peer();
    // Several checks: the first opens the session, the later ones arrive while (or after) the connect fails.
    for (let i = 0; i < 3; i++) await c.send(stunBindingRequest(ufrag), s.relay.port);
    await until('the session to end', () => s.relay.detail().sessionsClosed['upstream-error'] > before);
    // The next checks find no record (it was forgotten: it can only fail again) and are dropped.
    const dropsBefore = s.relay.detail().dropped['unknown-username'];
    await c.send(stunBindingRequest(ufrag), s.relay.port);
    await until('the next check to be dropped', () => s.relay.detail().dropped['unknown-username'] > dropsBefore);
    assert.equal(await s.balancer.rtcSession(ufrag), undefined);
    assert.equal(s.relay.detail().sessions, 0);
    // The relay serves the next session.
    await s.balancer.putRtcSession({ ufrag: `good-${ufrag}`, streamKey: STREAM, icePwd: TEST_ICE_PWD, mediaHost: '127.0.0.1', mediaPort: s.origin.port });
    const good = stunBindingRequest(`good-${ufrag}`);
    await c.send(good, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(good));
  }

  test('broadcast address (connect refused with EACCES)', async () => {
    await s.balancer.putRtcSession({ ufrag: 'bcast:1', streamKey: STREAM, icePwd: TEST_ICE_PWD, mediaHost: '255.255.255.255', mediaPort: 8000 });
    await survives('bcast:1');
  });

  test('unresolvable host name (DNS failure)', async () => {
    await s.balancer.putRtcSession({ ufrag: 'dns:1', streamKey: STREAM, icePwd: TEST_ICE_PWD, mediaHost: 'no-such-host.invalid', mediaPort: 8000 });
    await survives('dns:1');
  });

  test('a port connect() refuses outright (a record written elsewhere)', async () => {
    await s.balancer.putRtcSession({ ufrag: 'port:1', streamKey: STREAM, icePwd: TEST_ICE_PWD, mediaHost: '127.0.0.1', mediaPort: 70_000 });
    await survives('port:1');
  });

  test('a registered origin whose rtc endpoint is the broadcast address (record without media address)', async () => {
    await s.balancer.register(
      parseRegistration({ ip: '127.0.0.1', server: 'bad', service: 'x', pid: '1', rtmp: ['1935'], rtc: ['udp://255.255.255.255:8000'] }, Date.now()),
    );
    await s.balancer.putRtcSession({ ufrag: 'reg:1', streamKey: STREAM, icePwd: TEST_ICE_PWD });
    const c = await peer();
    await c.send(stunBindingRequest('reg:1'), s.relay.port);
    await until('the session to end', () => s.relay.detail().sessionsClosed['upstream-error'] > 0);
    assert.equal(s.relay.detail().sessions, 0);
  });
});

describe('WebRTC relay: checks without the ICE password', () => {
  let s: RelaySetup;
  const peers = new UdpPeerPool();
  const peer = () => peers.open();
  beforeEach(async () => {
    s = await startRelaySetup();
    await s.balancer.putRtcSession({ ufrag: 'victim:1', streamKey: STREAM, icePwd: TEST_ICE_PWD, mediaHost: '127.0.0.1', mediaPort: s.origin.port });
  });
  afterEach(async () => {
    await peers.closeAll();
    await closeRelaySetup(s);
  });

  /** A bound victim; returns it and the upstream port the origin sees. */
  async function victim(): Promise<{ c: UdpPeer; upstream: number }> {
    const c = await peer();
    const check = stunBindingRequest('victim:1');
    await c.send(check, s.relay.port);
    return { c, upstream: (await waitForItem(s.origin.received, (d) => d.data.equals(check))).from.port };
  }

  /** The origin's media still reaches the victim and not the attacker. */
  async function mediaStaysWithVictim(v: { c: UdpPeer; upstream: number }, attacker: UdpPeer): Promise<void> {
    const media = rtpPacket(9, 'for-the-victim');
    s.origin.socket.send(media, v.upstream, '127.0.0.1');
    await waitForItem(v.c.received, (d) => d.data.equals(media));
    assert.ok(await staysAbsent(attacker.received, (d) => d.data.equals(media), 100));
    assert.equal(s.relay.detail().boundAddresses, 1);
  }

  const forgeries: [string, () => Buffer][] = [
    ['no MESSAGE-INTEGRITY', () => stunBindingRequest('victim:1', null)],
    ['MESSAGE-INTEGRITY with a guessed password', () => stunBindingRequest('victim:1', 'guessedpasswordguessedpwd')],
    [
      'a valid check with one byte changed after signing',
      () => {
        const b = Buffer.from(stunBindingRequest('victim:1'));
        b[b.length - 20]! ^= 0x01; // inside MESSAGE-INTEGRITY's HMAC (FINGERPRINT is the last 8 bytes)
        return b;
      },
    ],
    ['the USERNAME placed after a MESSAGE-INTEGRITY the attacker computed for another session', () => usernameAfterIntegrity('victim:1')],
  ];

  for (const [name, forge] of forgeries) {
    test(`a bound session keeps its address against ${name}`, async () => {
      const v = await victim();
      const attacker = await peer();
      const forged = forge();
      await attacker.send(forged, s.relay.port);
      await until(
        'the forged check to be counted',
        () => s.relay.detail().dropped.unverified + s.relay.detail().dropped['unknown-username'] + s.relay.detail().dropped['malformed-stun'] >= 1,
      );
      assert.ok(await staysAbsent(s.origin.received, (d) => d.data.equals(forged), 50));
      await mediaStaysWithVictim(v, attacker);
    });
  }

  test('an unsigned first check opens no session (no upstream socket); the signed one does', async () => {
    const attacker = await peer();
    for (let i = 0; i < 5; i++) await attacker.send(stunBindingRequest('victim:1', null), s.relay.port);
    await until('the checks to be counted', () => s.relay.detail().dropped.unverified === 5);
    assert.equal(s.relay.detail().sessions, 0);
    assert.equal(s.relay.detail().sessionsOpened, 0);
    await victim();
    assert.equal(s.relay.detail().sessions, 1);
  });

  test('a session record without a password (written by the Go proxy) binds nothing', async () => {
    await s.balancer.putRtcSession({ ufrag: 'nopwd:1', streamKey: STREAM, mediaHost: '127.0.0.1', mediaPort: s.origin.port });
    const c = await peer();
    const check = stunBindingRequest('nopwd:1');
    await c.send(check, s.relay.port);
    await until('the check to be counted', () => s.relay.detail().dropped.unverified === 1);
    assert.equal(s.relay.detail().sessions, 0);
  });
});

describe('WebRTC through the proxy process: session records with unusable media addresses', () => {
  // Registration refuses such origins now; but a session record in a shared Redis may come from anywhere
  // (another proxy, an older version, an attacker with Redis access), and DNS may change after registration.
  let redis: RedisServer;
  let admin: Redis;
  let proxy: RunningProxy;
  let fo: FakeRtcOrigin;
  before(async () => {
    redis = await startRedis();
    admin = redisAdmin(redis);
    fo = await startFakeRtcOrigin();
    [proxy] = await startRedisProxies(redis, 1);
    await registerOrigin(proxy!.systemApi, fo.registerBody('fo'));
  });
  after(async () => {
    await proxy.stop();
    admin.disconnect();
    await fo.close();
    await redis.stop();
  });

  let offers = 0;
  /** WHIP offer; returns the session's USERNAME and the answer's password. */
  async function whip(stream: string): Promise<{ username: string; pwd: string }> {
    const offerUfrag = `hc${++offers}`;
    const res = await fetch(`${proxy.httpApi}/rtc/v1/whip/?app=live&stream=${stream}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: fakeOffer(offerUfrag, 'clientpasswordclientpassword'),
    });
    const sdp = await res.text();
    assert.equal(res.status, 201, sdp);
    return { username: `${/a=ice-ufrag:(\S+)/.exec(sdp)![1]}:${offerUfrag}`, pwd: /a=ice-pwd:(\S+)/.exec(sdp)![1]! };
  }

  const variants: [string, string, number][] = [
    ['broadcast address', '255.255.255.255', 8000],
    ['unresolvable host name', 'no-such-host.invalid', 8000],
    ['port out of range', '127.0.0.1', 70_000],
  ];
  for (const [name, mediaHost, mediaPort] of variants) {
    test(`${name}: checks for that session do not stop the proxy; the next session works`, async () => {
      const ufrag = `bad${offers}:${name.replace(/\W/g, '')}`;
      await admin.set(ufragKey(ufrag), encodeRtcRecord({ ufrag, streamKey: STREAM, icePwd: TEST_ICE_PWD, mediaHost, mediaPort }), 'PX', 60_000);
      const client = await UdpPeer.open();
      try {
        for (let i = 0; i < 5; i++) await client.send(stunBindingRequest(ufrag), proxy.ports.webrtc);
        // The proxy forgets a record it cannot use.
        await until('the record to be forgotten', async () => (await admin.exists(ufragKey(ufrag))) === 0);
        await client.send(stunBindingRequest(ufrag), proxy.ports.webrtc);
        const good = await whip(`good${offers}`);
        const check = stunBindingRequest(good.username, good.pwd);
        await client.send(check, proxy.ports.webrtc);
        await waitForItem(fo.datagrams, (d) => d.data.equals(check));
        assert.equal(proxy.peer.hasExited, false);
      } finally {
        await client.close();
      }
    });
  }
});
