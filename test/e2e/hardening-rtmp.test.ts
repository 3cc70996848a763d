// Attacks on what the RTMP proxy does before publish/play and on the answers it gives itself: commands
// before publish/play are bounded in count and bytes (an error status, then the connection closes), only
// what the origin needs is replayed, and a client that floods pings or commands but never reads cannot make
// the proxy queue answers without bound — during the handshake/identification or the relay — while other
// clients keep working.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Amf0Object, encodeCommand } from '../../src/rtmp/amf0.js';
import { ChunkWriter } from '../../src/rtmp/chunk.js';
import { MAX_COMMANDS_BEFORE_PUBLISH } from '../../src/rtmp/client.js';
import { ClientHandshake } from '../../src/rtmp/handshake.js';
import { MessageType, controlMessage } from '../../src/rtmp/messages.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration } from '../../src/balancer/origin.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startRtmpServer, type RtmpService } from '../../src/rtmp/server.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin } from '../fixtures/rtmp-fake-origin.js';
import { Router } from '../../src/routing/router.js';

let proxy: RunningProxy;
let origin: FakeRtmpOrigin;
let url: string;

before(async () => {
  origin = await FakeRtmpOrigin.start();
  proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info' } });
  await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'fake', service: 's', pid: '1', rtmp: [String(origin.port)] });
  url = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
});
after(async () => {
  await origin.close();
  await stopAllPeers();
});

/** `count` Ping Request messages, encoded back to back (what a flooding client writes). */
function pings(count: number): Buffer {
  const one = new ChunkWriter().encode(controlMessage(MessageType.UserControl, Buffer.from([0, 6, 0, 0, 0, 1])));
  const out = Buffer.alloc(one.length * count);
  for (let i = 0; i < count; i++) one.copy(out, i * one.length);
  return out;
}

/** Writes `data` in 64 KiB pieces (as a client would), without waiting for any of it to be taken. */
function writeInPieces(socket: Socket, data: Buffer): void {
  for (let at = 0; at < data.length; at += 65_536) socket.write(data.subarray(at, at + 65_536));
}

/** A normal publish still works through `rtmpUrl`. */
async function othersStillServed(rtmpUrl: string, tag: string): Promise<void> {
  const { client } = await RtmpTestClient.open(`${rtmpUrl}/x`);
  const status = await client.start('publish', `ok-${tag}`, await client.createStream());
  assert.equal(status.get('code'), 'NetStream.Publish.Start');
  client.close();
}

const FLOOD = 16 * 1024 * 1024;
/** Most bytes the proxy may hold for one client: the high-water mark plus the answers to one read. */
const BACKLOG_BOUND = 1024 * 1024;

describe('RTMP: a client that sends but never reads (listener in-process, its stats observed)', () => {
  let service: RtmpService;
  let balancer: MemoryBalancer;
  let local: string;
  before(async () => {
    const { config } = loadConfig({
      env: { PROXY_RTMP_SERVER: '127.0.0.1:0', PROXY_HANDSHAKE_TIMEOUT: '60s', PROXY_IDLE_TIMEOUT: '60s' },
      cwd: '/nonexistent',
      readDotenv: () => undefined,
      isDirectory: () => false,
    });
    balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 1000 });
    await balancer.start();
    await balancer.register(parseRegistration({ ip: '127.0.0.1', server: 'fake', service: 's', pid: '1', rtmp: [String(origin.port)] }, Date.now()));
    const log = createLogger({ level: 'silent', format: 'json' });
    const router = new Router({ balancer, log, originExpireMs: 30_000 });
    service = await startRtmpServer({ config, log, balancer, router, onFatal: (err) => assert.fail(err) });
    local = `rtmp://127.0.0.1:${service.address().port}/live`;
  });
  after(async () => {
    await service.close(0);
    await balancer.close();
  });

  /** Waits until the listener stops reading a client, then checks what it holds for it stays bounded. */
  async function heldBack(): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (service.detail().clientsPaused === 0) {
      if (Date.now() > deadline) throw new Error(`the client was never paused; backlog ${service.detail().largestClientBacklog}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 20; i++) {
      const { largestClientBacklog } = service.detail();
      assert.ok(largestClientBacklog <= BACKLOG_BOUND, `${largestClientBacklog} bytes held for one client`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('pings pipelined with the handshake and connect, nothing ever read', async () => {
    const socket = connect(service.address().port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause(); // never read: S0S1S2, the connect answer and every ping answer stay unread
    const connectCmd = new ChunkWriter().encode({
      type: MessageType.CommandAmf0,
      timestamp: 0,
      streamId: 0,
      csid: 3,
      payload: encodeCommand({ name: 'connect', transactionId: 1, commandObject: Amf0Object.fromRecord({ app: 'live', tcUrl: local }), args: [] }),
    });
    // C2's content is not checked by the proxy: sent blind, with everything else.
    socket.write(Buffer.concat([new ClientHandshake().start(), Buffer.alloc(1536, 7), connectCmd]));
    writeInPieces(socket, pings(Math.floor(FLOOD / 18)));
    await heldBack();
    await othersStillServed(local, 'handshake');
    socket.destroy();
  });

  test('pings during the relay (after publish), never read', async () => {
    const { client } = await RtmpTestClient.open(`${local}/x`);
    assert.equal((await client.start('publish', 'flooder', await client.createStream())).get('code'), 'NetStream.Publish.Start');
    client.socket.pause();
    writeInPieces(client.socket, pings(Math.floor(FLOOD / 18)));
    await heldBack();
    await othersStillServed(local, 'relay');
    client.close();
  });

  test('commands answered with _result, flooded without reading: a bounded number of answers, then closed', async () => {
    const { client } = await RtmpTestClient.open(`${local}/x`);
    const from = client.received.length;
    client.socket.pause();
    for (let i = 0; i < 10_000; i++) client.invoke('_checkbw', null, []);
    // Only now read what the proxy queued for us: no more answers than the bound allows, then the close.
    client.socket.resume();
    await client.closedWithin(5000);
    const answers = client.received.slice(from).filter((m) => m.type === MessageType.CommandAmf0).length;
    assert.ok(answers <= MAX_COMMANDS_BEFORE_PUBLISH, `${answers} answers`);
    await othersStillServed(local, 'commands');
  });
});

describe('RTMP: commands before publish/play', () => {
  /** Opens a client and sends `n` calls of `name`; returns the client and the answer to the last one. */
  async function callMany(name: string, n: number, args: Amf0Object[] | string[] = []) {
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const from = client.received.length;
    let tid = 0;
    for (let i = 0; i < n; i++) tid = client.invoke(name, null, args);
    return { client, tid, from };
  }

  test(`more than ${MAX_COMMANDS_BEFORE_PUBLISH} commands: an _error naming the bound, then the connection closes`, async () => {
    // connect was the first command; this many more passes the bound by one.
    const { client, tid, from } = await callMany('releaseStream', MAX_COMMANDS_BEFORE_PUBLISH);
    const answer = await client.waitCommand('_error', tid, from);
    const info = answer.args[0] as Amf0Object;
    assert.equal(info.get('code'), 'NetConnection.Connect.Rejected');
    assert.match(String(info.get('description')), /commands .*before publish\/play/);
    await client.closedWithin(3000);
  });

  test('commands under the count bound but over the byte bound: the same refusal', async () => {
    const big = 'x'.repeat(60_000);
    const { client, from } = await callMany('_checkbw', 5, [big]);
    await client.waitCommand('_error', undefined, from);
    await client.closedWithin(3000);
  });

  test('unknown calls count too (they are answered but never replayed)', async () => {
    const { client, tid, from } = await callMany('someUnknownCall', MAX_COMMANDS_BEFORE_PUBLISH);
    await client.waitCommand('_error', tid, from);
    await client.closedWithin(3000);
  });

  test('only what the origin needs is replayed: one releaseStream and one FCPublish, no FCSubscribe, no _checkbw', async () => {
    const before = origin.sessions.filter((s) => s.started).length;
    const { client } = await RtmpTestClient.open(`${url}/x`);
    for (let i = 0; i < 5; i++) client.invoke('releaseStream', null, [`s${i}`]);
    for (let i = 0; i < 5; i++) client.invoke('FCPublish', null, ['replayed']);
    for (let i = 0; i < 5; i++) client.invoke('FCSubscribe', null, ['replayed']);
    client.invoke('_checkbw', null, []);
    client.invoke('someUnknownCall', null, []);
    assert.equal((await client.start('publish', 'replayed', await client.createStream())).get('code'), 'NetStream.Publish.Start');
    const session = await origin.started(before);
    const names = session.commands.map((c) => c.name);
    assert.deepEqual(
      names.filter((n) => n === 'releaseStream'),
      ['releaseStream'],
    );
    assert.deepEqual(
      names.filter((n) => n === 'FCPublish'),
      ['FCPublish'],
    );
    assert.ok(!names.includes('FCSubscribe') && !names.includes('_checkbw') && !names.includes('someUnknownCall'), names.join(','));
    // The last releaseStream is the one replayed.
    assert.equal(session.commands.find((c) => c.name === 'releaseStream')!.args[0], 's4');
    client.close();
    // A player's FCSubscribe is replayed, a publisher's FCPublish is not.
    const { client: player } = await RtmpTestClient.open(`${url}/x`);
    player.invoke('FCPublish', null, ['p']);
    player.invoke('FCSubscribe', null, ['p']);
    assert.equal((await player.start('play', 'replayed', await player.createStream())).get('code'), 'NetStream.Play.Start');
    const playSession = await origin.started(before + 1);
    const playNames = playSession.commands.map((c) => c.name);
    assert.ok(playNames.includes('FCSubscribe') && !playNames.includes('FCPublish'), playNames.join(','));
    player.close();
  });
});
