// The fast origin leg (BEHAVIOUR.md §4.5), against scripted origins that record every connection: publish/play
// goes out on stream 1 with connect and createStream; an origin that answers createStream with 1 sees each
// command once on one connection; one that answers another id never sees publish/play twice on a connection,
// the client still starts through a careful re-dial, and a publish taken on the abandoned connection is
// released before the re-dial's publish. The memory of careful endpoints is bounded under a flood of distinct
// misbehaving origins.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MessageType, type RtmpMessage } from '../../src/rtmp/messages.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration } from '../../src/balancer/origin.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { CarefulOrigins } from '../../src/rtmp/careful-origins.js';
import { startRtmpServer, type RtmpService } from '../../src/rtmp/server.js';
import { Router } from '../../src/routing/router.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin, type FakeOriginOptions, type FakeOriginSession } from '../fixtures/rtmp-fake-origin.js';

after(stopAllPeers);

const video = (timestamp: number, streamId: number): RtmpMessage => ({
  type: MessageType.Video,
  timestamp,
  streamId,
  csid: 6,
  payload: Buffer.alloc(500, timestamp & 0xff),
});

const names = (s: FakeOriginSession) => s.commands.map((c) => c.name);
const streamCommandsOf = (s: FakeOriginSession) => s.commands.filter((c) => c.name === 'publish' || c.name === 'play');

describe('RTMP fast origin leg (proxy process, scripted origins)', () => {
  let proxy: RunningProxy;
  let url: string;
  const origins: FakeRtmpOrigin[] = [];

  before(async () => {
    // One process: the careful-origin memory belongs to an RTMP listener, so each worker learns an origin on its own
    // (docs/BEHAVIOUR.md §4.5, §8.5) and the counts of fast and careful legs below are per process. The client sees the
    // origin leg's own answers and media as the origin sent them (a per-client relay): edge mode answers plays itself
    // and starts a player at a keyframe (§11.2), so it stays off whatever the suite's overlay.
    proxy = await startProxy({ env: { PROXY_ORIGIN_ANSWER_TIMEOUT: '1500ms', PROXY_LOG_LEVEL: 'info', PROXY_WORKERS: '1', PROXY_EDGE: 'off' } });
    url = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
  });
  after(async () => {
    for (const o of origins) await o.close();
    await proxy.stop();
  });

  /** A fresh scripted origin registered as the only one. */
  async function origin(options: FakeOriginOptions = {}): Promise<FakeRtmpOrigin> {
    for (let i = 0; i < origins.length; i++) await fetch(`${proxy.systemApi}/api/v1/origins/fl${i}`, { method: 'DELETE' });
    const o = await FakeRtmpOrigin.start(options);
    origins.push(o);
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: `fl${origins.length - 1}`, service: 's', pid: '1', rtmp: [String(o.port)] });
    return o;
  }

  test('an origin that answers createStream with 1 gets one connection and each command once (play)', async () => {
    const fo = await origin({ streamId: 1 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('play', 'one?t=1', await client.createStream(), [-1000]);
    assert.equal(status.get('code'), 'NetStream.Play.Start');
    const s = await fo.started(0);
    assert.deepEqual(names(s), ['connect', 'createStream', 'play']);
    assert.equal(s.commands[2]!.streamId, 1);
    assert.deepEqual(s.commands[2]!.args, ['one?t=1', -1000], 'play arguments as the client sent them');
    // Media flows on the origin's stream 1 to the client's stream 1.
    const from = client.received.length;
    s.send(video(40, 1));
    const { message } = await client.waitFor((m) => m.type === MessageType.Video, from);
    assert.equal(message.streamId, 1);
    assert.equal(fo.sessions.length, 1, 'no second connection');
    assert.equal(s.closedAt, undefined);
    client.close();
  });

  test('an origin that answers createStream with 1 gets one connection and each command once (publish with preamble)', async () => {
    const fo = await origin({ streamId: 1 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    client.invoke('releaseStream', null, ['pub']);
    client.invoke('FCPublish', null, ['pub']);
    const status = await client.start('publish', 'pub', await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Publish.Start');
    const s = await fo.started(0);
    assert.deepEqual(names(s), ['connect', 'releaseStream', 'FCPublish', 'createStream', 'publish']);
    assert.deepEqual(s.commands[4]!.args, ['pub', 'live']);
    client.send(video(40, 1));
    await s.until(() => s.media.some((m) => m.type === MessageType.Video));
    assert.equal(s.media.find((m) => m.type === MessageType.Video)!.streamId, 1);
    assert.equal(fo.sessions.length, 1, 'no second connection');
    client.close();
  });

  test('a fast leg refused by the origin: its status reaches the client, no re-dial', async () => {
    const fo = await origin({ streamId: 1, playCode: 'NetStream.Play.StreamNotFound', playLevel: 'error' });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('play', 'missing', await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Play.StreamNotFound');
    await client.closedWithin(3000);
    assert.equal(fo.sessions.length, 1);
    assert.equal(streamCommandsOf(fo.sessions[0]!).length, 1);
  });

  test('an origin that answers 7: play never twice on a connection, the client plays through the careful re-dial, which is remembered', async () => {
    const fo = await origin({ streamId: 7 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('play', 'seven', await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Play.Start');
    const careful = await fo.started(0);
    const fast = fo.sessions[0]!;
    assert.notEqual(fast, careful);
    // The fast leg: one play on stream 1, then the proxy closed it (nothing more was sent on it).
    assert.deepEqual(names(fast), ['connect', 'createStream', 'play']);
    assert.equal(fast.commands[2]!.streamId, 1);
    await fast.until(() => fast.closedAt !== undefined, 3000);
    // The careful leg: play only after createStream's answer, on the origin's id.
    assert.deepEqual(names(careful), ['connect', 'createStream', 'play']);
    assert.equal(careful.commands[2]!.streamId, 7);
    const from = client.received.length;
    careful.send(video(80, 7));
    const { message } = await client.waitFor((m) => m.type === MessageType.Video, from);
    assert.equal(message.streamId, 1, "the origin's 7 is the client's 1");
    // The endpoint is remembered: the next player gets the careful leg at once (one new connection).
    const { client: second } = await RtmpTestClient.open(`${url}/x`);
    assert.equal((await second.start('play', 'seven-b', await second.createStream())).get('code'), 'NetStream.Play.Start');
    const next = await fo.started(1);
    assert.deepEqual(names(next), ['connect', 'createStream', 'play']);
    assert.equal(next.commands[2]!.streamId, 7);
    assert.equal(fo.sessions.length, 3, 'one fast leg, then careful legs only');
    for (const s of fo.sessions) assert.ok(streamCommandsOf(s).length <= 1, `a connection saw ${names(s).join(',')}`);
    client.close();
    second.close();
  });

  test('publish to an origin that answers 7 and holds names until it notices a close: the re-dial is not refused as busy', async () => {
    // The origin takes the fast leg's publish on stream 1 and keeps the name 300 ms after the proxy ends that
    // connection: a re-dial that did not wait for the origin to close would be refused "Already publishing".
    const fo = await origin({ streamId: 7, exclusivePublish: true, slowReleaseMs: 300 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    client.invoke('FCPublish', null, ['held']);
    const status = await client.start('publish', 'held', await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Publish.Start', String(status.get('description')));
    const fast = fo.sessions[0]!;
    assert.deepEqual(names(fast), ['connect', 'FCPublish', 'createStream', 'publish']);
    assert.equal(fast.commands[3]!.streamId, 1);
    assert.ok(fast.closedAt !== undefined, 'the fast leg was closed before the careful one published');
    const careful = await fo.started(0);
    assert.deepEqual(names(careful), ['connect', 'FCPublish', 'createStream', 'publish']);
    client.send(video(40, 1));
    await careful.until(() => careful.media.some((m) => m.type === MessageType.Video && m.streamId === 7));
    assert.equal(fo.sessions.length, 2);
    client.close();
  });

  test('an origin that never lets go of the abandoned publish: the proxy waits at most 1 s, then the origin answers the re-dial', async () => {
    const fo = await origin({ streamId: 7, exclusivePublish: true, slowReleaseMs: 20_000 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const sid = await client.createStream();
    const t0 = Date.now();
    const status = await client.start('publish', 'stuck', sid);
    const waited = Date.now() - t0;
    // The re-dial's publish meets the name still held: the origin's own refusal reaches the client.
    assert.equal(status.get('code'), 'NetStream.Publish.BadName');
    assert.ok(waited >= 1000, `re-dialed after ${waited} ms: the proxy waited for the origin's close`);
    assert.ok(waited < 5000, `answered after ${waited} ms`);
    assert.equal(fo.sessions.length, 2);
    await client.closedWithin(3000);
  });
});

describe('RTMP careful-origin memory under a flood of distinct origins (listener in-process)', () => {
  const MAX = 8;
  const FLOOD = 24;
  let service: RtmpService;
  let balancer: MemoryBalancer;
  let careful: CarefulOrigins;
  const fakes: FakeRtmpOrigin[] = [];
  let url: string;

  before(async () => {
    const { config } = loadConfig({
      env: { PROXY_RTMP_SERVER: '127.0.0.1:0', PROXY_ORIGIN_ANSWER_TIMEOUT: '2s' },
      cwd: '/nonexistent',
      readDotenv: () => undefined,
      isDirectory: () => false,
    });
    balancer = new MemoryBalancer({ originExpireMs: 60_000, sessionTtlMs: 120_000, maxStreamPins: 1000 });
    await balancer.start();
    const log = createLogger({ level: 'silent', format: 'json' });
    const router = new Router({ balancer, log, originExpireMs: 60_000 });
    careful = new CarefulOrigins({ max: MAX });
    service = await startRtmpServer({ config, log, balancer, router, onFatal: (err) => assert.fail(err) }, { careful });
    url = `rtmp://127.0.0.1:${service.address().port}/live`;
  });
  after(async () => {
    await service.close(0);
    await balancer.close();
    for (const f of fakes) await f.close();
  });

  /** Makes origin `i` the only one, then plays a new stream through it; returns the sessions that play added. */
  async function playVia(i: number, stream: string): Promise<FakeOriginSession[]> {
    const fo = fakes[i]!;
    for (let j = 0; j < fakes.length; j++) await balancer.deregister(`flood${j}`);
    await balancer.register(parseRegistration({ ip: '127.0.0.1', server: `flood${i}`, service: 's', pid: '1', rtmp: [String(fo.port)] }, Date.now()));
    const before = fo.sessions.length;
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('play', stream, await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Play.Start', `${stream} via origin ${i}`);
    client.close();
    return fo.sessions.slice(before);
  }

  test(`${FLOOD} distinct origins answering 7: at most ${MAX} remembered, every player served, the oldest forgotten`, async () => {
    for (let i = 0; i < FLOOD; i++) fakes.push(await FakeRtmpOrigin.start({ streamId: 7 }));
    for (let i = 0; i < FLOOD; i++) {
      const added = await playVia(i, `flood-${i}`);
      assert.equal(added.length, 2, `origin ${i}: one fast leg, one careful re-dial`);
      for (const s of added) assert.ok(streamCommandsOf(s).length <= 1);
      assert.ok(service.detail().carefulOrigins <= MAX, `${service.detail().carefulOrigins} endpoints remembered`);
      assert.equal(careful.size, Math.min(i + 1, MAX));
    }
    // The most recent one is still careful: one connection, play after createStream's answer.
    const recent = await playVia(FLOOD - 1, 'again-recent');
    assert.equal(recent.length, 1);
    assert.equal(streamCommandsOf(recent[0]!)[0]!.streamId, 7);
    // The first one was displaced: it gets the fast leg (and a re-dial) again.
    const first = await playVia(0, 'again-first');
    assert.equal(first.length, 2);
    assert.equal(streamCommandsOf(first[0]!)[0]!.streamId, 1);
    assert.equal(service.detail().carefulOrigins, MAX);
  });
});
