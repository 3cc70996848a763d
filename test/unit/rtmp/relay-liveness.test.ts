// When an RTMP relay ends for want of traffic, driven with a clock the test controls (Relay.check takes the
// time) over loopback socket pairs: a publisher is idle; a player's silent origin is pinged, judged by its
// answers when it gives them, and left to TCP when it never does.
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { ChunkReader, ChunkWriter } from '../../../src/rtmp/chunk.js';
import { RtmpLeg } from '../../../src/rtmp/leg.js';
import { MessageType, userControlMessage, type RtmpMessage } from '../../../src/rtmp/messages.js';
import { decodeUserControl } from '../../fixtures/rtmp-codec.js';
import { Relay, type RelayEnd } from '../../../src/rtmp/relay.js';
import { sweepPeriodMs } from '../../../src/rtmp/server.js';

const IDLE_MS = 2000;
const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) s.destroy();
});

/** A connected loopback pair: [the proxy's end, the peer's end]. */
async function pair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const ours = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((r) => ours.once('connect', r));
  const theirs = await accepted;
  server.close();
  sockets.push(ours, theirs);
  return [ours, theirs];
}

/** The far end of a leg: decodes what the proxy sends it. */
class Peer {
  readonly received: RtmpMessage[] = [];
  private readonly reader = new ChunkReader();
  private readonly writer = new ChunkWriter();
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.received.push(...this.reader.feed(d)));
  }
  pings(): number {
    return this.received.filter((m) => m.type === MessageType.UserControl && decodeUserControl(m.payload).kind === 'pingRequest').length;
  }
  send(m: RtmpMessage): void {
    this.socket.write(this.writer.encode(m));
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function relay(kind: 'publish' | 'play') {
  const [clientSide, clientPeer] = await pair();
  const [originSide, originPeer] = await pair();
  const ends: RelayEnd[] = [];
  const r = new Relay({
    client: new RtmpLeg(clientSide, { maxMessageSize: 1 << 20 }),
    origin: new RtmpLeg(originSide, { maxMessageSize: 1 << 20 }),
    kind,
    clientStreamId: 1,
    originStreamId: 7,
    onEnd: (reason) => ends.push(reason),
  });
  r.start([], [], []);
  return { relay: r, ends, origin: new Peer(originPeer), client: new Peer(clientPeer), originSide, t0: Date.now() };
}

describe('RTMP relay liveness', () => {
  test('a publisher with no traffic either way is idle after the idle timeout', async () => {
    const { relay: r, ends, origin, t0 } = await relay('publish');
    r.check(t0, IDLE_MS);
    r.check(t0 + IDLE_MS - 1, IDLE_MS);
    assert.deepEqual(ends, []);
    r.check(t0 + IDLE_MS, IDLE_MS);
    assert.deepEqual(ends, ['idle']);
    assert.equal(origin.pings(), 0, 'publishers are not pinged');
  });

  test('a player whose origin answers pings waits; when the answers stop, it is dropped', async () => {
    const { relay: r, ends, origin, originSide, t0 } = await relay('play');
    r.check(t0 + IDLE_MS / 2 - 10, IDLE_MS);
    assert.equal(origin.pings(), 0, 'no ping before half the idle timeout of silence');
    r.check(t0 + IDLE_MS / 2, IDLE_MS);
    await until(() => origin.pings() === 1, 'the first ping');
    const read = originSide.bytesRead;
    origin.send(userControlMessage({ kind: 'pingResponse', timestamp: 1 }));
    await until(() => originSide.bytesRead > read, 'the answer');
    // Long past the idle timeout, and still alive: the origin answers.
    for (let t = t0 + IDLE_MS; t <= t0 + 5 * IDLE_MS; t += IDLE_MS / 2) {
      const pings = origin.pings();
      const before = originSide.bytesRead;
      r.check(t, IDLE_MS);
      if (await sentPing(origin, pings)) {
        origin.send(userControlMessage({ kind: 'pingResponse', timestamp: 2 }));
        await until(() => originSide.bytesRead > before, 'an answer');
      }
    }
    assert.deepEqual(ends, []);
    // The origin hangs: the next ping goes unanswered.
    const last = t0 + 6 * IDLE_MS;
    const pings = origin.pings();
    r.check(last, IDLE_MS);
    await until(() => origin.pings() === pings + 1, 'a ping to the hung origin');
    r.check(last + IDLE_MS / 2 - 1, IDLE_MS);
    assert.deepEqual(ends, []);
    r.check(last + IDLE_MS / 2, IDLE_MS);
    assert.deepEqual(ends, ['origin stopped answering pings']);
  });

  test('a player whose origin never answers pings waits; the origin is pinged once', async () => {
    const { relay: r, ends, origin, t0 } = await relay('play');
    r.check(t0 + IDLE_MS / 2, IDLE_MS);
    await until(() => origin.pings() === 1, 'the first ping');
    for (let t = t0 + IDLE_MS; t <= t0 + 20 * IDLE_MS; t += IDLE_MS / 4) r.check(t, IDLE_MS);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(origin.pings(), 1);
    assert.deepEqual(ends, []);
  });

  test('anything from the origin is a sign of life: a silent stretch restarts from it', async () => {
    const { relay: r, ends, origin, originSide, t0 } = await relay('play');
    const read = originSide.bytesRead;
    // The origin's own ping (answered by the leg, never forwarded) is traffic on the origin side.
    origin.send(userControlMessage({ kind: 'pingRequest', timestamp: 9 }));
    await until(() => originSide.bytesRead > read, 'the origin ping');
    r.check(t0 + IDLE_MS, IDLE_MS);
    assert.equal(origin.pings(), 0, 'the origin just spoke: no ping yet');
    assert.deepEqual(ends, []);
  });
});

/** Whether a ping beyond `count` reaches the peer within a moment. */
async function sentPing(origin: Peer, count: number): Promise<boolean> {
  await new Promise((r) => setTimeout(r, 20));
  return origin.pings() > count;
}

describe('RTMP idle sweep period', () => {
  test('a twentieth of the idle timeout, between 1 s and 5 s, never longer than the timeout', () => {
    assert.equal(sweepPeriodMs(30_000), 1500);
    assert.equal(sweepPeriodMs(600_000), 5000);
    assert.equal(sweepPeriodMs(3_600_000), 5000);
    assert.equal(sweepPeriodMs(IDLE_MS), 1000);
    assert.equal(sweepPeriodMs(400), 400);
  });
});
