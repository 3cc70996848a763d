// RTMP failure paths and hostile input (spec scenarios 19, 35, 39 and BEHAVIOUR.md §9.2 #11, improved): the client always
// hears why before its socket closes, both legs are released within 1 s, timeouts close what stalls, and no
// input stops the proxy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encodeCommand } from '../../src/rtmp/amf0.js';
import { ChunkWriter } from '../../src/rtmp/chunk.js';
import { ClientHandshake } from '../../src/rtmp/handshake.js';
import { MessageType } from '../../src/rtmp/messages.js';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { freePort } from '../fixtures/ports.js';
import { tempDir } from '../fixtures/paths.js';
import { run, stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin } from '../fixtures/rtmp-fake-origin.js';

const media = tempDir('rtmp-fail');
let flv: string;
let proxy: RunningProxy;
let url: string;
let registered: string[] = [];

before(async () => {
  flv = await makeTestFlv(media.dir, 6);
  proxy = await startProxy({
    env: { PROXY_HANDSHAKE_TIMEOUT: '1s', PROXY_IDLE_TIMEOUT: '2s', PROXY_DIAL_TIMEOUT: '1s', PROXY_RTMP_MAX_MESSAGE_SIZE: '1048576', PROXY_LOG_LEVEL: 'info' },
  });
  url = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
});
after(async () => {
  await stopAllPeers();
  media.remove();
});

/** Makes `rtmp` (a list of endpoints) the only registered origin. */
async function onlyOrigin(rtmp: string[]): Promise<void> {
  for (const id of registered) await fetch(`${proxy.systemApi}/api/v1/origins/${id}`, { method: 'DELETE' });
  const id = `o${registered.length}`;
  registered = [id];
  await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: id, service: 's', pid: '1', rtmp });
}

/** A raw TCP connection to the proxy's RTMP port that records when it closes. */
function raw(): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve) => {
    const socket = connect(proxy.ports.rtmp, '127.0.0.1', () => {
      const t0 = Date.now();
      const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
      resolve({ socket, closed });
    });
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
  });
}

/** A raw connection that has completed the handshake. */
async function handshaken(): Promise<{ socket: Socket; closed: Promise<number> }> {
  const c = await raw();
  const hs = new ClientHandshake();
  c.socket.removeAllListeners('data');
  await new Promise<void>((resolve) => {
    c.socket.on('data', (d: Buffer) => {
      const out = hs.feed(d);
      if (!out.done) return;
      c.socket.write(out.send);
      c.socket.removeAllListeners('data');
      c.socket.on('data', () => undefined);
      resolve();
    });
    c.socket.write(hs.start());
  });
  return c;
}

async function proxyStillServes(): Promise<void> {
  assert.equal(proxy.peer.hasExited, false, 'the proxy process is still running');
  const fo = await FakeRtmpOrigin.start();
  await onlyOrigin([String(fo.port)]);
  const { client } = await RtmpTestClient.open(`${url}/x`);
  const status = await client.start('publish', `alive${Date.now()}`, await client.createStream());
  assert.equal(status.get('code'), 'NetStream.Publish.Start');
  client.close();
  await fo.close();
}

describe('RTMP failure paths', () => {
  test('no origin registered: the client gets an error status, then the socket closes (scenario 19)', async () => {
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('publish', 'nowhere', await client.createStream());
    assert.equal(status.get('level'), 'error');
    assert.equal(status.get('code'), 'NetStream.Publish.BadName');
    assert.match(String(status.get('description')), /no origin/);
    await client.closedWithin(2000);
    const player = (await RtmpTestClient.open(`${url}/x`)).client;
    assert.equal((await player.start('play', 'nowhere', await player.createStream())).get('code'), 'NetStream.Play.StreamNotFound');
    await player.closedWithin(2000);
    // FFmpeg reports the reason instead of a bare disconnect.
    const r = await run('ffmpeg', ['-hide_banner', '-re', '-i', flv, '-t', '1', '-c', 'copy', '-f', 'flv', `${url}/nowhere`], 20_000);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no origin available/);
  });

  test("the origin's RTMP port is closed: error status, the proxy stays up; a second endpoint is tried (scenario 35)", async () => {
    const closedPort = await freePort();
    await onlyOrigin([String(closedPort)]);
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('publish', 'refused', await client.createStream());
    assert.equal(status.get('level'), 'error');
    assert.equal(status.get('description'), 'origin unreachable');
    await client.closedWithin(2000);
    // The origin's first endpoint refuses, its second accepts.
    const fo = await FakeRtmpOrigin.start();
    await onlyOrigin([String(closedPort), String(fo.port)]);
    const second = (await RtmpTestClient.open(`${url}/x`)).client;
    assert.equal((await second.start('publish', 'fallback', await second.createStream())).get('code'), 'NetStream.Publish.Start');
    second.close();
    await fo.close();
  });

  test('the origin dies mid-stream: publisher and player are closed within 1 s; the proxy stays up', async () => {
    const nginx = await startNginxRtmp();
    await onlyOrigin([String(nginx.rtmpPort)]);
    const pub = publish(flv, `${url}/dies`);
    const { client: player } = await eventually(
      async () => {
        const opened = await RtmpTestClient.open(`${url}/x`);
        const status = await opened.client.start('play', 'dies', await opened.client.createStream());
        if (status.get('code') !== 'NetStream.Play.Start') {
          opened.client.close();
          throw new Error(String(status.get('code')));
        }
        return opened;
      },
      20_000,
      300,
    );
    await player.waitFor((m) => m.type === MessageType.Video);
    try {
      const t0 = Date.now();
      // SIGKILL to the master and its worker: the origin vanishes without a goodbye.
      const workers = readFileSync(`/proc/${nginx.peer.pid}/task/${nginx.peer.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const pid of [nginx.peer.pid, ...workers.map(Number)]) process.kill(pid, 'SIGKILL');
      assert.ok((await player.closedWithin(1000)) <= 1000);
      // FFmpeg's connection is closed too: it exits on its own.
      const exited = await Promise.race([pub.exited.then(() => Date.now() - t0), new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
      assert.ok(exited >= 0, 'the publisher was disconnected');
    } finally {
      player.close();
      await pub.stop();
      await nginx.stop();
    }
    await proxyStillServes();
  });

  test('the client vanishes: the origin drops the stream within 1 s (scenario 39, with nginx-rtmp)', async () => {
    const nginx = await startNginxRtmp();
    await onlyOrigin([String(nginx.rtmpPort)]);
    const pub = publish(flv, `${url}/vanish`);
    const publishing = (xml: string) =>
      /<name>vanish<\/name>[\s\S]*?<publishing\/>/.test(xml.split('<stream>').find((b) => b.includes('<name>vanish</name>')) ?? '');
    await eventually(async () => assert.ok(publishing(await nginx.stat())), 20_000, 100);
    const t0 = Date.now();
    pub.child.kill('SIGKILL');
    await eventually(async () => assert.ok(!publishing(await nginx.stat())), 1000, 50);
    assert.ok(Date.now() - t0 <= 1100);
    await nginx.stop();
  });

  test('a relay with no traffic either way is closed after the idle timeout', async () => {
    const fo = await FakeRtmpOrigin.start();
    // Closed on failure too: a listening fake origin keeps the test file from exiting (it then times out whole).
    try {
      await onlyOrigin([String(fo.port)]);
      const { client } = await RtmpTestClient.open(`${url}/x`);
      await client.start('publish', 'idle', await client.createStream());
      const s = await fo.started(0);
      const waited = await client.closedWithin(5000);
      assert.ok(waited >= 1500, `closed after ${waited} ms (idle timeout 2 s)`);
      await s.until(() => s.closedAt !== undefined, 1000);
    } finally {
      await fo.close();
    }
  });
});

describe('hostile input to the RTMP port', () => {
  test('a client that never completes the handshake is closed at the handshake timeout', async () => {
    const silent = await raw();
    const truncated = await raw();
    truncated.socket.write(Buffer.concat([Buffer.of(3), Buffer.alloc(1000, 7)]));
    const afterC1 = await raw();
    afterC1.socket.write(Buffer.concat([Buffer.of(3), Buffer.alloc(1536, 9)])); // C1 but never C2
    for (const c of [silent, truncated, afterC1]) {
      const ms = await c.closed;
      assert.ok(ms >= 800 && ms < 3000, `closed after ${ms} ms`);
    }
  });

  test('a connected client that never publishes or plays is closed at the same timeout', async () => {
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const waited = await client.closedWithin(3000);
    assert.ok(waited >= 500);
  });

  test('not RTMP (HTTP, version byte ≥ 32) is closed at once', async () => {
    const c = await raw();
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok((await c.closed) < 500);
  });

  test('random bytes after a valid handshake are closed at once or at the timeout', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await handshaken();
      const junk = Buffer.alloc(3000);
      for (let j = 0; j < junk.length; j++) junk[j] = (Math.random() * 256) | 0;
      c.socket.write(junk);
      assert.ok((await c.closed) < 3000);
    }
  });

  test('a chunk header announcing a message over PROXY_RTMP_MAX_MESSAGE_SIZE is refused at once', async () => {
    const c = await handshaken();
    // Type 0 header, chunk stream 4: length 0xffffff (the 24-bit maximum; 4 GiB cannot even be expressed).
    c.socket.write(Buffer.from('04 000000 ffffff 09 01000000'.replace(/ /g, ''), 'hex'));
    assert.ok((await c.closed) < 500);
  });

  test('deeply nested AMF0 in connect is refused, not a stack overflow', async () => {
    const c = await handshaken();
    const head = encodeCommand({ name: 'connect', transactionId: 1, commandObject: null, args: [] }).subarray(0, -1);
    const nested = Buffer.concat([head, ...Array.from({ length: 20_000 }, () => Buffer.from('0a00000001', 'hex'))]);
    c.socket.write(new ChunkWriter().encode({ type: MessageType.CommandAmf0, timestamp: 0, streamId: 0, csid: 3, payload: nested.subarray(0, 60_000) }));
    assert.ok((await c.closed) < 1500);
  });

  test('commands out of order (publish before connect) are refused', async () => {
    const c = await handshaken();
    const payload = encodeCommand({ name: 'publish', transactionId: 0, commandObject: null, args: ['x', 'live'] });
    c.socket.write(new ChunkWriter().encode({ type: MessageType.CommandAmf0, timestamp: 0, streamId: 1, csid: 3, payload }));
    assert.ok((await c.closed) < 500);
  });

  test('after all of that the proxy still serves', async () => {
    await proxyStillServes();
  });
});
