// One client address (any number of source ports) must not take every SRT or WebRTC session: past
// PROXY_MAX_UDP_SESSIONS_PER_IP, SRT callers get a backlog rejection and WebRTC checks are dropped, both
// counted, while another address still gets in and a freed slot is usable again.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { Router } from '../../src/routing/router.js';
import { parseRegistration } from '../../src/balancer/origin.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { HandshakeType, RejectionCode } from '../../src/srt/handshake.js';
import { buildShutdown } from '../../src/srt/packet.js';
import { startSrtServer } from '../../src/srt/server.js';
import { startWebrtcRelay } from '../../src/webrtc/relay.js';
import { FakeOrigin, TestCaller } from '../fixtures/srt-peers.js';
import { TEST_ICE_PWD, UdpPeer, stunBindingRequest } from '../fixtures/webrtc-udp.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(env: Record<string, string>) {
  return loadConfig({ env, cwd: '/nonexistent', readDotenv: () => undefined, isDirectory: () => false }).config;
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The routing seam over a test balancer (every origin up, no probes). */
function testRouter(balancer: MemoryBalancer): Router {
  return new Router({ balancer, log: createLogger({ level: 'silent', format: 'json' }), originExpireMs: 30_000 });
}

describe('PROXY_MAX_UDP_SESSIONS_PER_IP', () => {
  test('defaults to an eighth of PROXY_MAX_UDP_SESSIONS but at least 256 (never above the total); validated', () => {
    assert.equal(config({}).maxUdpSessionsPerIp, 1250);
    assert.equal(config({ PROXY_MAX_UDP_SESSIONS: '1000' }).maxUdpSessionsPerIp, 256);
    assert.equal(config({ PROXY_MAX_UDP_SESSIONS: '100' }).maxUdpSessionsPerIp, 100);
    assert.equal(config({ PROXY_MAX_UDP_SESSIONS_PER_IP: '7' }).maxUdpSessionsPerIp, 7);
    for (const bad of ['0', '-1', 'many']) {
      assert.throws(
        () => config({ PROXY_MAX_UDP_SESSIONS_PER_IP: bad }),
        (err: unknown) => err instanceof ConfigError && /PROXY_MAX_UDP_SESSIONS_PER_IP/.test(err.message),
      );
    }
  });
});

describe('SRT: sessions per source address', () => {
  async function harness() {
    const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 1000 });
    const cfg = config({ PROXY_SRT_SERVER: '127.0.0.1:0', PROXY_DIAL_TIMEOUT: '2s', PROXY_UDP_BUFFER_SIZE: '262144', PROXY_MAX_UDP_SESSIONS_PER_IP: '4' });
    const service = await startSrtServer({
      config: cfg,
      log: createLogger({ level: 'silent', format: 'json' }),
      balancer,
      router: testRouter(balancer),
      onFatal: (err) => assert.fail(err),
    });
    const origin = await FakeOrigin.start('accept', {});
    await balancer.register(
      parseRegistration({ ip: '127.0.0.1', server: 'o1', service: 'svc', pid: '1', rtmp: ['1935'], srt: [origin.endpoint()] }, Date.now()),
    );
    const callers: TestCaller[] = [];
    const caller = async (host = '127.0.0.1') => {
      const c = await TestCaller.open(service.address().port, undefined, host);
      callers.push(c);
      return c;
    };
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await service.close(0);
      for (const c of callers) await c.close();
      await origin.close();
    };
    cleanups.push(stop);
    return { service, caller, stop };
  }

  test('many source ports from one address: the fifth caller is rejected (backlog), another address gets in', async () => {
    const h = await harness();
    for (let i = 0; i < 4; i++) {
      assert.equal((await (await h.caller()).connect(`live/p${i}`)).response.handshakeType, HandshakeType.Conclusion);
    }
    for (let i = 0; i < 2; i++) {
      assert.equal((await (await h.caller()).connect(`live/x${i}`)).response.handshakeType, RejectionCode.Backlog);
    }
    const st = h.service.detail();
    assert.equal(st.drops['ip-cap'], 2);
    assert.equal(st.established, 4);
    assert.equal((await (await h.caller('127.0.0.2')).connect('live/other')).response.handshakeType, HandshakeType.Conclusion);
    await h.stop();
  });

  test('a slot freed by a SHUTDOWN can be used again by the same address', async () => {
    const h = await harness();
    const held: { c: TestCaller; originSocketId: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await h.caller();
      const r = await c.connect(`live/s${i}`);
      assert.equal(r.response.handshakeType, HandshakeType.Conclusion);
      held.push({ c, originSocketId: r.response.socketId });
    }
    assert.equal((await (await h.caller()).connect('live/refused')).response.handshakeType, RejectionCode.Backlog);
    const first = held[0]!;
    first.c.send(buildShutdown(first.originSocketId, 1));
    await until('the session to close', () => h.service.detail().relaying === 3);
    assert.equal((await (await h.caller()).connect('live/again')).response.handshakeType, HandshakeType.Conclusion);
    await h.stop();
  });
});

describe('WebRTC: sessions per source address', () => {
  async function harness() {
    const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 1000 });
    await balancer.start();
    const cfg = config({ PROXY_WEBRTC_SERVER: '127.0.0.1:0', PROXY_UDP_BUFFER_SIZE: '262144', PROXY_MAX_UDP_SESSIONS_PER_IP: '3' });
    const relay = await startWebrtcRelay(
      { config: cfg, log: createLogger({ level: 'silent', format: 'json' }), balancer, router: testRouter(balancer), onFatal: (err) => assert.fail(err) },
      { sweepIntervalMs: 50 },
    );
    const origin = await UdpPeer.open();
    const peers: UdpPeer[] = [];
    const peer = async (host = '127.0.0.1') => {
      const p = await UdpPeer.open(0, host);
      peers.push(p);
      return p;
    };
    let n = 0;
    /** A session record and a client that sends a verified check for it; resolves true when the origin got it. */
    const open = async (host = '127.0.0.1'): Promise<{ ufrag: string; reached: boolean }> => {
      const ufrag = `cap${++n}:c`;
      await balancer.putRtcSession({ ufrag, streamKey: '__defaultVhost__/live/s', icePwd: TEST_ICE_PWD, mediaHost: '127.0.0.1', mediaPort: origin.port });
      const check = stunBindingRequest(ufrag);
      const dropsBefore = relay.detail().dropped['ip-cap'];
      await (await peer(host)).send(check, relay.port);
      await until(
        'the check to be relayed or dropped',
        () => origin.received.some((d) => d.data.equals(check)) || relay.detail().dropped['ip-cap'] > dropsBefore,
      );
      return { ufrag, reached: origin.received.some((d) => d.data.equals(check)) };
    };
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await relay.close(0);
      await balancer.close();
      for (const p of peers) await p.close();
      await origin.close();
    };
    cleanups.push(stop);
    return { relay, open, stop };
  }

  test('many source ports from one address: the fourth session is dropped and counted, another address gets in', async () => {
    const h = await harness();
    for (let i = 0; i < 3; i++) assert.equal((await h.open()).reached, true);
    assert.equal((await h.open()).reached, false);
    assert.equal((await h.open()).reached, false);
    assert.equal(h.relay.detail().dropped['ip-cap'], 2);
    assert.equal(h.relay.detail().sessions, 3);
    assert.equal((await h.open('127.0.0.2')).reached, true);
    await h.stop();
  });

  test('a session that ends frees its slot for the same address', async () => {
    const h = await harness();
    const first = await h.open();
    for (let i = 0; i < 2; i++) await h.open();
    assert.equal((await h.open()).reached, false);
    assert.equal(await h.relay.closeSession(first.ufrag, 'delete'), true);
    assert.equal((await h.open()).reached, true);
    await h.stop();
  });
});
