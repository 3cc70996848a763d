// The per-leg protocol control (RtmpLeg) and the client's identification (ClientSession), driven with a
// socket stand-in that records what is written.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Amf0Object, decodeCommand, encodeCommand, type Amf0Value } from '../../../src/rtmp/amf0.js';
import { ChunkReader, ChunkWriter } from '../../../src/rtmp/chunk.js';
import { ClientError, ClientSession, type ClientIntent } from '../../../src/rtmp/client.js';
import { RtmpError } from '../../../src/rtmp/errors.js';
import { ClientHandshake } from '../../../src/rtmp/handshake.js';
import { RtmpLeg } from '../../../src/rtmp/leg.js';
import {
  MessageType,
  controlMessage,
  decodeSetChunkSize,
  decodeSetPeerBandwidth,
  decodeWindowAckSize,
  encodeSetPeerBandwidth,
  encodeWindowAckSize,
  userControlMessage,
  type RtmpMessage,
} from '../../../src/rtmp/messages.js';
import { decodeAcknowledgement, decodeUserControl } from '../../fixtures/rtmp-codec.js';
import { FFMPEG_CONNECT } from './vectors.js';

/** Records writes; enough of net.Socket for RtmpLeg and ClientSession. */
class FakeSocket {
  readonly written: Buffer[] = [];
  destroyed = false;
  writableNeedDrain = false;
  paused = false;
  write(b: Buffer): boolean {
    this.written.push(Buffer.from(b));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    this.paused = true;
    return this;
  }
  /** Everything written, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.written);
  }
}

function leg(): { leg: RtmpLeg; socket: FakeSocket; peer: ChunkWriter; sent: () => RtmpMessage[] } {
  const socket = new FakeSocket();
  const l = new RtmpLeg(socket as unknown as Socket, { maxMessageSize: 1 << 20 });
  const reader = new ChunkReader();
  let taken = 0;
  return {
    leg: l,
    socket,
    peer: new ChunkWriter(),
    sent: () => {
      l.flush();
      const all = socket.bytes();
      const fresh = all.subarray(taken);
      taken = all.length;
      return reader.feed(Buffer.from(fresh));
    },
  };
}

const video = (n: number): RtmpMessage => ({ type: MessageType.Video, timestamp: n, streamId: 1, csid: 6, payload: Buffer.alloc(n, 1) });

describe('RtmpLeg: protocol control per leg', () => {
  test('media and data are returned untouched, in the same array when there is no control message', () => {
    const { leg: l, peer } = leg();
    const wire = Buffer.concat([peer.encode(video(10)), peer.encode({ ...video(20), type: MessageType.DataAmf0 })]);
    const out = l.read(wire);
    assert.deepEqual(
      out.map((m) => [m.type, m.payload.length]),
      [
        [9, 10],
        [18, 20],
      ],
    );
    assert.equal(l.pending, false);
  });

  test('a ping request is answered with a ping response carrying the same time, and not returned', () => {
    const { leg: l, peer, sent } = leg();
    const out = l.read(
      Buffer.concat([peer.encode(video(1)), peer.encode(userControlMessage({ kind: 'pingRequest', timestamp: 123456 })), peer.encode(video(2))]),
    );
    assert.deepEqual(
      out.map((m) => m.payload.length),
      [1, 2],
    );
    const [pong] = sent();
    assert.equal(pong!.type, MessageType.UserControl);
    assert.deepEqual(decodeUserControl(pong!.payload), { kind: 'pingResponse', timestamp: 123456 });
  });

  test('stream events (StreamBegin, SetBufferLength…) are returned for the relay; ping responses are not', () => {
    const { leg: l, peer } = leg();
    const out = l.read(
      Buffer.concat([
        peer.encode(userControlMessage({ kind: 'streamBegin', streamId: 1 })),
        peer.encode(userControlMessage({ kind: 'pingResponse', timestamp: 1 })),
        peer.encode(userControlMessage({ kind: 'setBufferLength', streamId: 1, bufferLengthMs: 100 })),
      ]),
    );
    assert.deepEqual(
      out.map((m) => decodeUserControl(m.payload).kind),
      ['streamBegin', 'setBufferLength'],
    );
  });

  test('Set Chunk Size, Abort, Acknowledgement and Window Ack Size are consumed; the chunk size applies', () => {
    const { leg: l, peer } = leg();
    const big = { ...video(0), payload: Buffer.alloc(5000, 2) };
    const wire = Buffer.concat([
      peer.encodeSetChunkSize(4096),
      peer.encode(controlMessage(MessageType.Acknowledgement, Buffer.alloc(4))),
      peer.encode(controlMessage(MessageType.WindowAckSize, encodeWindowAckSize(1 << 30))),
      peer.encode(big),
    ]);
    const out = l.read(wire);
    assert.equal(out.length, 1);
    assert.ok(out[0]!.payload.equals(big.payload));
    assert.equal(l.reader.chunkSize, 4096);
  });

  test('after the window the peer asked for, an Acknowledgement with the bytes received so far', () => {
    const { leg: l, peer, sent } = leg();
    l.read(peer.encode(controlMessage(MessageType.WindowAckSize, encodeWindowAckSize(1000))));
    assert.equal(sent().length, 0);
    l.read(peer.encode({ ...video(0), payload: Buffer.alloc(500) }));
    assert.equal(sent().length, 0, 'window not reached yet');
    l.read(peer.encode({ ...video(0), payload: Buffer.alloc(600) }));
    const acks = sent();
    assert.equal(acks.length, 1);
    assert.equal(acks[0]!.type, MessageType.Acknowledgement);
    assert.equal(decodeAcknowledgement(acks[0]!.payload), l.reader.bytesRead);
  });

  test('Set Peer Bandwidth is answered with our Window Acknowledgement Size, once per value', () => {
    const { leg: l, peer, sent } = leg();
    const spb = (n: number) => peer.encode(controlMessage(MessageType.SetPeerBandwidth, encodeSetPeerBandwidth({ windowSize: n, limitType: 2 })));
    l.read(spb(5_000_000));
    const [was] = sent();
    assert.equal(was!.type, MessageType.WindowAckSize);
    assert.equal(decodeWindowAckSize(was!.payload), 5_000_000);
    l.read(spb(5_000_000));
    assert.equal(sent().length, 0);
  });

  test('setChunkSize announces the size, then writes with it', () => {
    const { leg: l, sent } = leg();
    l.setChunkSize(60000);
    l.send({ ...video(0), payload: Buffer.alloc(50_000, 3) });
    const out = sent();
    assert.equal(decodeSetChunkSize(out[0]!.payload), 60000);
    // The decoding reader applied 60000 too: one 50,000-byte message came through.
    assert.equal(out[1]!.payload.length, 50_000);
  });

  test('malformed input is an RtmpError', () => {
    const { leg: l } = leg();
    assert.throws(() => l.read(Buffer.from('c3', 'hex')), RtmpError);
    const { leg: l2, peer } = leg();
    assert.throws(() => l2.read(peer.encode(controlMessage(MessageType.SetChunkSize, Buffer.from('00000000', 'hex')))), RtmpError);
  });
});

/** A client that has done its handshake, then sends `messages`; returns the session and what it wrote back. */
function identify(messages: RtmpMessage[], chunkSize = 128): { session: ClientSession; socket: FakeSocket; answers: () => RtmpMessage[] } {
  const socket = new FakeSocket();
  const session = new ClientSession(socket as unknown as Socket, { cid: 'c0ffee1', version: '9.9.9', maxMessageSize: 1 << 20 });
  const hs = new ClientHandshake();
  session.onData(hs.start());
  const s0s1s2 = socket.bytes();
  const c2 = hs.feed(s0s1s2).send;
  socket.written.length = 0;
  const w = new ChunkWriter();
  const wire = [c2];
  if (chunkSize !== 128) wire.push(w.encodeSetChunkSize(chunkSize));
  for (const m of messages) wire.push(w.encode(m));
  session.onData(Buffer.concat(wire));
  const reader = new ChunkReader();
  return { session, socket, answers: () => reader.feed(socket.bytes()) };
}

function cmd(name: string, tid: number, commandObject: Amf0Value, args: Amf0Value[], streamId = 0): RtmpMessage {
  return { type: MessageType.CommandAmf0, timestamp: 0, streamId, csid: 3, payload: encodeCommand({ name, transactionId: tid, commandObject, args }) };
}

const connect = (tid = 1, obj: Record<string, Amf0Value> = { app: 'live', tcUrl: 'rtmp://proxy/live' }) => cmd('connect', tid, Amf0Object.fromRecord(obj), []);

describe('ClientSession: identification (BEHAVIOUR.md §4.3, improved)', () => {
  test('FFmpeg/OBS publish: answers in order, and the intent to replay', async () => {
    const { session, answers } = identify([
      { type: MessageType.CommandAmf0, timestamp: 0, streamId: 0, csid: 3, payload: FFMPEG_CONNECT },
      cmd('releaseStream', 2, null, ['s?k=1']),
      cmd('FCPublish', 3, null, ['s?k=1']),
      cmd('createStream', 4, null, []),
      cmd('publish', 5, null, ['s?k=1', 'live'], 1),
      { type: MessageType.DataAmf0, timestamp: 0, streamId: 1, csid: 5, payload: Buffer.from('meta') },
    ]);
    const out = answers();
    const kinds = out.map((m) => (m.type === MessageType.CommandAmf0 ? decodeCommand(m.payload).name : m.type));
    assert.deepEqual(kinds, [5, 6, 1, '_result', '_result', '_result', '_result']);
    assert.equal(decodeWindowAckSize(out[0]!.payload), 2_500_000);
    assert.deepEqual(decodeSetPeerBandwidth(out[1]!.payload), { windowSize: 2_500_000, limitType: 2 });
    assert.equal(decodeSetChunkSize(out[2]!.payload), 60000);
    const connectAnswer = decodeCommand(out[3]!.payload);
    assert.equal(connectAnswer.transactionId, 1);
    const data = (connectAnswer.args[0] as Amf0Object).get('data') as Map<string, Amf0Value>;
    assert.equal(data.get('srs_id'), 'c0ffee1');
    assert.equal(data.get('srs_version'), '9.9.9');
    assert.deepEqual(
      out
        .slice(4)
        .map((m) => decodeCommand(m.payload))
        .map((c) => [c.transactionId, c.args[0]]),
      [
        [2, undefined],
        [3, undefined],
        [4, 1],
      ],
    );
    const intent: ClientIntent = await session.identified;
    assert.equal(intent.request.kind, 'publish');
    assert.equal(intent.request.name, 's?k=1');
    assert.equal(intent.connect.tcUrl, 'rtmp://127.0.0.1:1935/live');
    assert.deepEqual(
      intent.preamble.map((c) => c.name),
      ['releaseStream', 'FCPublish'],
    );
    assert.equal(intent.clientStreamId, 1);
    assert.deepEqual(
      session.queued.map((m) => m.payload.toString()),
      ['meta'],
      'what follows publish waits for the relay',
    );
  });

  test('play with FCSubscribe, getStreamLength and _checkbw; any connect transaction id', async () => {
    const { session, answers } = identify(
      [
        connect(7),
        cmd('_checkbw', 2, null, []),
        cmd('createStream', 3, null, []),
        cmd('FCSubscribe', 4, null, ['cam']),
        cmd('getStreamLength', 5, null, ['cam']),
        cmd('play', 6, null, ['cam', -2000, -1, false], 1),
      ],
      4096,
    );
    const results = answers()
      .filter((m) => m.type === MessageType.CommandAmf0)
      .map((m) => decodeCommand(m.payload));
    assert.deepEqual(
      results.map((c) => c.transactionId),
      [7, 2, 3, 4],
      'getStreamLength gets no answer',
    );
    const intent = await session.identified;
    assert.equal(intent.request.kind, 'play');
    assert.deepEqual(intent.request.command.args, ['cam', -2000, -1, false]);
    assert.deepEqual(
      intent.preamble.map((c) => c.name),
      ['FCSubscribe'],
    );
  });

  test('commands before connect, a second connect, a connect without object, play without a name: refused', async () => {
    for (const messages of [[cmd('createStream', 1, null, [])], [connect(), connect()], [cmd('connect', 1, null, [])], [connect(), cmd('play', 0, null, [])]]) {
      assert.throws(
        () => identify(messages),
        (e: unknown) => e instanceof ClientError,
      );
    }
    // The connect without a command object still got an _error first.
    const socket = new FakeSocket();
    const session = new ClientSession(socket as unknown as Socket, { cid: 'x', version: 'v', maxMessageSize: 1 << 20 });
    const hs = new ClientHandshake();
    session.onData(hs.start());
    const c2 = hs.feed(socket.bytes()).send;
    socket.written.length = 0;
    assert.throws(() => session.onData(Buffer.concat([c2, new ChunkWriter().encode(cmd('connect', 1, null, []))])), ClientError);
    const answers = new ChunkReader().feed(socket.bytes());
    assert.equal(decodeCommand(answers[0]!.payload).name, '_error');
  });

  test('arbitrary bytes after a good handshake: only RtmpError or ClientError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          identify([]).session.onData(Buffer.from(bytes));
        } catch (e) {
          if (!(e instanceof RtmpError) && !(e instanceof ClientError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('arbitrary first bytes (no handshake): only RtmpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4000 }), (bytes) => {
        const session = new ClientSession(new FakeSocket() as unknown as Socket, { cid: 'x', version: 'v', maxMessageSize: 1 << 20 });
        try {
          session.onData(Buffer.from(bytes));
        } catch (e) {
          if (!(e instanceof RtmpError) && !(e instanceof ClientError)) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });

  test('deeply nested AMF0 in connect is an RtmpError, not a stack overflow', () => {
    const depth = 10_000;
    const nested = Buffer.concat([
      Buffer.from(encodeCommand({ name: 'connect', transactionId: 1, commandObject: null, args: [] })).subarray(0, -1),
      Buffer.alloc(depth, 0x0a),
      Buffer.alloc(0),
    ]);
    // 0x0a is a strict-array marker whose length bytes are cut off: either too deep or truncated.
    const withLengths = Buffer.concat([
      nested.subarray(0, nested.length - depth),
      Buffer.concat(Array.from({ length: depth }, () => Buffer.from('0a00000001', 'hex'))),
    ]);
    assert.throws(() => identify([{ type: MessageType.CommandAmf0, timestamp: 0, streamId: 0, csid: 3, payload: withLengths }]), RtmpError);
  });

  test('a flood of queued messages after publish pauses the client socket', async () => {
    const big = (i: number): RtmpMessage => ({ type: MessageType.Video, timestamp: i, streamId: 1, csid: 6, payload: Buffer.alloc(500_000, i) });
    const { session, socket } = identify(
      [connect(), cmd('createStream', 2, null, []), cmd('publish', 3, null, ['s'], 1), ...Array.from({ length: 10 }, (_, i) => big(i))],
      1 << 20,
    );
    await session.identified;
    assert.equal(session.queued.length, 10);
    assert.equal(socket.paused, true);
  });
});
