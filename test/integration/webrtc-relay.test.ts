// The UDP relay in-process, so its state can be inspected: bounded under floods, session cap, idle
// and DTLS teardown, full-ICE origins (STUN without USERNAME), address limits, records written by
// other proxies (no media address), upstream failures and shutdown.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { parseRegistration } from '../../src/balancer/origin.js';
import { encodeStunMessage } from '../fixtures/stun-encode.js';
import { TEST_ICE_PWD, UdpPeer, dtlsCloseNotify, dtlsRecord, rtpPacket, staysAbsent, stunBindingRequest, waitForItem } from '../fixtures/webrtc-udp.js';
import { waitFor } from '../fixtures/wait.js';
import { closeRelaySetup, startRelaySetup, UdpPeerPool, type RelaySetup } from '../fixtures/webrtc-relay-setup.js';

/** The relay with this file's alert grace (100 ms) and the given variables; `now` replaces its clock. */
function setup(env: Record<string, string> = {}, now?: () => number): Promise<RelaySetup> {
  return startRelaySetup({ env, relay: { alertGraceMs: 100 }, ...(now ? { now } : {}) });
}

async function session(s: RelaySetup, ufrag: string, media = true): Promise<void> {
  await s.balancer.putRtcSession({
    ufrag,
    streamKey: '__defaultVhost__/live/s',
    icePwd: TEST_ICE_PWD,
    ...(media ? { serverId: 'o1', mediaHost: '127.0.0.1', mediaPort: s.origin.port } : {}),
  });
}

/** Sends a binding request for `username` and waits until the origin has it; returns the upstream port. */
async function bindClient(s: RelaySetup, client: UdpPeer, username: string): Promise<number> {
  const stun = stunBindingRequest(username);
  await client.send(stun, s.relay.port);
  return (await waitForItem(s.origin.received, (d) => d.data.equals(stun))).from.port;
}

describe('WebRTC UDP relay (in-process)', () => {
  let s: RelaySetup;
  const clients = new UdpPeerPool();
  const client = () => clients.open();
  beforeEach(async () => {
    s = await setup();
  });
  afterEach(async () => {
    await clients.closeAll();
    await closeRelaySetup(s);
  });

  test('a flood of unknown USERNAMEs leaves no state behind and does not disturb a live session', async () => {
    await session(s, 'good:one');
    const c = await client();
    await bindClient(s, c, 'good:one');
    const attacker = await client();
    const base = s.relay.detail().packetsFromClients;
    const N = 3000;
    // In batches the relay's socket buffer holds: each batch is sent once the previous one was read,
    // so the kernel loses none and every flood packet can be accounted for.
    for (let i = 0; i < N; i++) {
      void attacker.send(stunBindingRequest(`flood${i}:x${i}`), s.relay.port);
      if ((i + 1) % 200 === 0) await waitFor(() => s.relay.detail().packetsFromClients - base === i + 1, { what: `flood packet ${i + 1} to be read` });
    }
    const flooded = () => {
      const st = s.relay.detail();
      return st.dropped['unknown-username'] + st.dropped['lookup-cap'];
    };
    // Every flood packet is counted as dropped once its look-up is done.
    await waitFor(
      () => {
        const st = s.relay.detail();
        if (st.pendingLookups === 0 && flooded() === N) return true;
        throw new Error(`dropped ${flooded()} of ${st.packetsFromClients - base} received: ${JSON.stringify(st)}`);
      },
      { what: 'the flood to be dropped' },
    );
    const st = s.relay.detail();
    assert.equal(st.sessions, 1);
    assert.equal(st.boundAddresses, 1);
    await bindClient(s, c, 'good:one');
  });

  test('the session cap refuses new sessions until one ends', async () => {
    const capped = await setup({ PROXY_MAX_UDP_SESSIONS: '2' });
    try {
      for (const u of ['a:1', 'b:2', 'c:3']) await session(capped, u);
      await bindClient(capped, await client(), 'a:1');
      await bindClient(capped, await client(), 'b:2');
      assert.equal(capped.relay.hasCapacity(), false);
      const third = await client();
      const stun = stunBindingRequest('c:3');
      await third.send(stun, capped.relay.port);
      await waitFor(() => capped.relay.detail().dropped['session-cap'] === 1, { what: 'the third session to be refused' });
      assert.ok(!capped.origin.received.some((d) => d.data.equals(stun)));
      assert.equal(await capped.relay.closeSession('a:1', 'delete'), true);
      assert.equal(await capped.balancer.rtcSession('a:1'), undefined);
      await bindClient(capped, third, 'c:3');
    } finally {
      await closeRelaySetup(capped);
    }
  });

  test('an idle session is closed, its record forgotten and its upstream socket closed', async () => {
    // The relay's clock is the test's: time moves only when the test says so.
    let now = 1_000_000;
    const idle = await setup({ PROXY_IDLE_TIMEOUT: '300ms' }, () => now);
    try {
      await session(idle, 'idle:1');
      const c = await client();
      const upstreamPort = await bindClient(idle, c, 'idle:1');
      // Traffic every 100 ms keeps it alive past the timeout (1.2 s in all).
      for (let i = 0; i < 12; i++) {
        now += 100;
        const rtp = rtpPacket(i, 'keepalive');
        await c.send(rtp, idle.relay.port);
        await waitForItem(idle.origin.received, (d) => d.data.equals(rtp));
      }
      assert.equal(idle.relay.detail().sessions, 1);
      // Then silence: the clock moves on until a sweep finds the session idle.
      const silentFrom = now;
      await waitFor(
        () => {
          now += 50;
          return idle.relay.detail().sessions === 0;
        },
        { what: 'the silent session to be closed' },
      );
      assert.ok(now - silentFrom >= 300, `closed after ${now - silentFrom} ms of silence`);
      const st = idle.relay.detail();
      assert.equal(st.boundAddresses, 0);
      assert.equal(st.sessionsClosed.idle, 1);
      assert.equal(await idle.balancer.rtcSession('idle:1'), undefined);
      const late = Buffer.from('late');
      idle.origin.socket.send(late, upstreamPort, '127.0.0.1');
      // Nothing can prove a datagram to a closed socket never arrives; waiting a while is the test.
      assert.ok(await staysAbsent(c.received, (d) => d.data.equals(late), 200));
    } finally {
      await closeRelaySetup(idle);
    }
  });

  test('an encrypted DTLS alert from the origin ends the session after the grace period; the alert itself is delivered', async () => {
    await session(s, 'alert:1');
    const c = await client();
    const upstreamPort = await bindClient(s, c, 'alert:1');
    const alert = dtlsRecord(21, Buffer.alloc(26, 7), 1);
    s.origin.socket.send(alert, upstreamPort, '127.0.0.1');
    await waitForItem(c.received, (d) => d.data.equals(alert));
    // During the grace the client's own close_notify still goes through.
    const reply = dtlsRecord(21, Buffer.alloc(26, 9), 1);
    await c.send(reply, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(reply));
    await waitFor(() => s.relay.detail().sessions === 0, { what: 'the session to end after the grace period' });
    assert.equal(s.relay.detail().sessionsClosed['dtls-alert'], 1);
    assert.equal(await s.balancer.rtcSession('alert:1'), undefined);
  });

  test('a plaintext warning alert other than close_notify does not end the session', async () => {
    await session(s, 'warn:1');
    await session(s, 'control:1');
    const c = await client();
    await bindClient(s, c, 'warn:1');
    const control = await client();
    await bindClient(s, control, 'control:1');
    const warning = dtlsRecord(21, Buffer.from([1, 90])); // user_canceled, warning
    await c.send(warning, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(warning));
    // A close_notify on a control session, after the warning: once the control session has ended,
    // the sweep that ended it would have ended the other one too, had the warning counted.
    const closeNotify = dtlsCloseNotify();
    await control.send(closeNotify, s.relay.port);
    await waitFor(() => s.relay.detail().sessionsClosed['dtls-alert'] === 1, { what: 'the control session to end' });
    assert.equal(s.relay.detail().sessions, 1);
  });

  test('full-ICE origin: STUN without USERNAME and STUN responses from the bound address are relayed', async () => {
    await session(s, 'full:ice');
    const c = await client();
    const upstreamPort = await bindClient(s, c, 'full:ice');
    // The origin's own check reaches the client…
    const check = stunBindingRequest('cli:origin');
    s.origin.socket.send(check, upstreamPort, '127.0.0.1');
    await waitForItem(c.received, (d) => d.data.equals(check));
    // …and the client's answer (a success response, no USERNAME) reaches the origin.
    const response = encodeStunMessage({ method: 1, messageClass: 'success-response', transactionId: check.subarray(8, 20), fingerprint: true });
    await c.send(response, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(response));
    const noUser = stunBindingRequest(undefined);
    await c.send(noUser, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(noUser));
    // The same from an address never bound is dropped.
    const stranger = await client();
    const strangerResponse = encodeStunMessage({ method: 1, messageClass: 'success-response', transactionId: Buffer.alloc(12, 1) });
    await stranger.send(strangerResponse, s.relay.port);
    await waitFor(() => s.relay.detail().dropped['unbound-address'] === 1, { what: "the stranger's response to be dropped" });
    assert.ok(!s.origin.received.some((d) => d.data.equals(strangerResponse)));
  });

  test('the addresses bound to one session are capped; the newest always works', async () => {
    await session(s, 'many:addr');
    const peers: UdpPeer[] = [];
    for (let i = 0; i < 12; i++) {
      const c = await client();
      peers.push(c);
      await bindClient(s, c, 'many:addr');
    }
    assert.equal(s.relay.detail().boundAddresses, 8);
    const first = rtpPacket(1, 'from-evicted');
    await peers[0]!.send(first, s.relay.port);
    const last = rtpPacket(2, 'from-newest');
    await peers[11]!.send(last, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(last));
    assert.ok(!s.origin.received.some((d) => d.data.equals(first)));
  });

  test('a binding request moves an address from one session to another', async () => {
    await session(s, 'first:s');
    await session(s, 'second:s');
    const c = await client();
    const p1 = await bindClient(s, c, 'first:s');
    const p2 = await bindClient(s, c, 'second:s');
    assert.notEqual(p1, p2);
    const rtp = rtpPacket(5, 'now-second');
    await c.send(rtp, s.relay.port);
    const got = await waitForItem(s.origin.received, (d) => d.data.equals(rtp));
    assert.equal(got.from.port, p2);
  });

  test("a record without a media address (written by another proxy) is relayed to its stream's origin", async () => {
    await s.balancer.register(
      parseRegistration({ ip: '127.0.0.1', server: 'o1', service: 'x', pid: '1', rtmp: ['1935'], rtc: [`udp://0.0.0.0:${s.origin.port}`] }, Date.now()),
    );
    await session(s, 'go:proxy', false);
    await bindClient(s, await client(), 'go:proxy');
  });

  test('an origin whose media port is closed ends the session (upstream error), without harming the listener', async () => {
    const gone = await UdpPeer.open();
    const port = gone.port;
    await gone.close();
    await s.balancer.putRtcSession({
      ufrag: 'dead:origin',
      streamKey: '__defaultVhost__/live/d',
      icePwd: TEST_ICE_PWD,
      mediaHost: '127.0.0.1',
      mediaPort: port,
    });
    const c = await client();
    // The refusal (ICMP port unreachable) surfaces on a later send: the client keeps checking, as
    // ICE does, until the relay has given up on that origin.
    await waitFor(
      async () => {
        const st = s.relay.detail();
        if (st.sessionsClosed['upstream-error'] >= 1 && st.sessions === 0) return true;
        await c.send(stunBindingRequest('dead:origin'), s.relay.port);
        return false;
      },
      { what: 'an upstream error to end the session', everyMs: 50 },
    );
    // Its record stays: the client may retry once the origin is back.
    assert.ok(await s.balancer.rtcSession('dead:origin'));
  });

  test('property: arbitrary datagrams (random, and mutated STUN/DTLS/RTP) from bound and unbound addresses never break the relay', async () => {
    await session(s, 'fuzz:me');
    const bound = await client();
    await bindClient(s, bound, 'fuzz:me');
    const stranger = await client();
    const valid = [stunBindingRequest('fuzz:me'), dtlsRecord(21, Buffer.from([2, 40])), dtlsRecord(22, Buffer.alloc(30, 1)), rtpPacket(1, 'x')];
    const mutated = fc
      .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.integer({ min: 0, max: 80 }))
      .map(([base, edits, cut]) => {
        const b = Buffer.from(base.subarray(0, Math.max(0, base.length - cut)));
        for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
        return b;
      });
    const datagrams = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)),
        mutated,
      ),
      1500,
    );
    for (let i = 0; i < datagrams.length; i++) {
      await (i % 2 ? bound : stranger).send(datagrams[i]!, s.relay.port);
      if (i % 100 === 0) await sleep(1); // paced so the kernel buffers keep (nearly) every datagram
    }
    // Still relaying (a fresh session: the fuzz may legitimately have ended the first one with a
    // fatal DTLS alert), nothing leaked, the listener never failed. The relay reads its socket in
    // order, so this check is handled after every fuzz datagram; their look-ups may still be running.
    await session(s, 'fuzz:after');
    await bindClient(s, await client(), 'fuzz:after');
    await waitFor(() => s.relay.detail().pendingLookups === 0, { what: 'the fuzz look-ups to finish' });
    const st = s.relay.detail();
    assert.ok(st.sessions <= 2 && st.boundAddresses <= 3 && st.pendingLookups === 0, JSON.stringify(st));
    assert.deepEqual(s.fatal, []);
  });

  test('shutdown closes every session and the socket but keeps the records (another proxy may carry on)', async () => {
    await session(s, 'shut:down');
    await bindClient(s, await client(), 'shut:down');
    await s.relay.close(0);
    assert.equal(s.relay.detail().sessions, 0);
    assert.equal(s.relay.detail().sessionsClosed.shutdown, 1);
    assert.ok(await s.balancer.rtcSession('shut:down'));
  });
});
