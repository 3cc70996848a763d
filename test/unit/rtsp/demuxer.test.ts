import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RtspDemuxer, type DemuxItem } from '../../../src/rtsp/demuxer.js';
import { MAX_BODY_BYTES, MAX_HEAD_BYTES, RtspParseError, type RtspMessage } from '../../../src/rtsp/message.js';

const DESCRIBE = 'DESCRIBE rtsp://h:1/live/s RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n';
const ANSWER = 'RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n';

function frame(channel: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = 0x24;
  h[1] = channel;
  h.writeUInt16BE(payload.length, 2);
  return Buffer.concat([h, payload]);
}

/** Feeds `chunks`; returns messages and the concatenated frame bytes, in order of arrival. */
function demux(chunks: Buffer[], copy = true): { messages: RtspMessage[]; frames: Buffer; order: string[] } {
  const d = new RtspDemuxer();
  const messages: RtspMessage[] = [];
  const frames: Buffer[] = [];
  const order: string[] = [];
  const emit = (item: DemuxItem) => {
    if (item.kind === 'frame') {
      // Without the copy, the slices the demuxer handed out are read only after every chunk was fed.
      frames.push(copy ? Buffer.from(item.bytes) : item.bytes);
      if (order.at(-1) !== 'frame') order.push('frame');
    } else {
      messages.push(item.message);
      order.push('message');
    }
  };
  for (const c of chunks) d.push(c, emit);
  return { messages, frames: Buffer.concat(frames), order };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out.filter((b) => b.length > 0);
}

describe('RTSP demuxer', () => {
  test('splits requests, responses with bodies and interleaved frames, in order', () => {
    const f1 = frame(0, Buffer.alloc(300, 1));
    const f2 = frame(1, Buffer.alloc(20, 2));
    const stream = Buffer.concat([Buffer.from(DESCRIBE), f1, Buffer.from(ANSWER), f2]);
    const { messages, frames, order } = demux([stream]);
    assert.deepEqual(order, ['message', 'frame', 'message', 'frame']);
    assert.equal(messages.length, 2);
    const req = messages[0]!;
    assert.equal(req.kind, 'request');
    assert.equal(req.kind === 'request' && req.uri, 'rtsp://h:1/live/s');
    assert.equal(messages[1]!.body.toString(), 'v=0\r\n');
    assert.deepEqual(frames, Buffer.concat([f1, f2]));
  });

  test('gives the same result however the bytes are cut into chunks', () => {
    const stream = Buffer.concat([
      Buffer.from(DESCRIBE),
      frame(0, Buffer.alloc(1000, 7)),
      Buffer.from(ANSWER),
      frame(1, Buffer.alloc(3, 9)),
      Buffer.from('GET_PARAMETER rtsp://h/live/s RTSP/1.0\nCSeq: 9\n\n'),
      frame(0, Buffer.alloc(0)),
    ]);
    const whole = demux([stream]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
        const parts = demux(splitAt(stream, cuts), false);
        assert.deepEqual(parts.frames, whole.frames);
        assert.deepEqual(
          parts.messages.map((m) => [m.kind, m.headers, m.body.toString('hex')]),
          whole.messages.map((m) => [m.kind, m.headers, m.body.toString('hex')]),
        );
      }),
    );
  });

  test('one byte at a time works and frame slices stay intact after later chunks', () => {
    const stream = Buffer.concat([Buffer.from(DESCRIBE), frame(0, Buffer.from('abcdef')), Buffer.from(ANSWER)]);
    const one = demux(
      [...stream].map((b) => Buffer.from([b])),
      false,
    );
    assert.equal(one.messages.length, 2);
    assert.deepEqual(one.frames, frame(0, Buffer.from('abcdef')));
  });

  test('a head over 64 KiB is refused with 400, with or without its end line', () => {
    const long = `OPTIONS * RTSP/1.0\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    for (const input of [long, `${long}\r\n\r\n`]) {
      const d = new RtspDemuxer();
      assert.throws(
        () => d.push(Buffer.from(input), () => undefined),
        (e: unknown) => e instanceof RtspParseError && e.status === 400,
      );
    }
    // Dribbled in small pieces, the bound holds too (and the buffer never exceeds it by more than a chunk).
    const d = new RtspDemuxer();
    const piece = Buffer.from('X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n');
    let threw = false;
    d.push(Buffer.from('OPTIONS * RTSP/1.0\r\n'), () => undefined);
    for (let i = 0; i < 4000 && !threw; i++) {
      try {
        d.push(piece, () => undefined);
      } catch (e) {
        threw = e instanceof RtspParseError;
      }
      assert.ok(d.buffered <= MAX_HEAD_BYTES + piece.length);
    }
    assert.ok(threw);
  });

  test('malformed input: request line, header line, Content-Length', () => {
    const cases: [string, number][] = [
      ['GET / HTTP/1.1 x\r\n\r\n', 400],
      ['DESCRIBE rtsp://h/a/b\r\n\r\n', 400],
      ['DESCRIBE rtsp://h/a/b RTSP/1.0\r\nno colon here\r\n\r\n', 400],
      ['DESCRIBE rtsp://h/a/b RTSP/1.0\r\nContent-Length: -1\r\n\r\n', 400],
      ['DESCRIBE rtsp://h/a/b RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
      [`ANNOUNCE rtsp://h/a/b RTSP/1.0\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`, 413],
      ['RTSP/1.0 2000 OK\r\n\r\n', 400],
      ['\x00\x01\x02 garbage\r\n\r\n', 400],
    ];
    for (const [input, status] of cases) {
      assert.throws(
        () => new RtspDemuxer().push(Buffer.from(input, 'latin1'), () => undefined),
        (e: unknown) => e instanceof RtspParseError && e.status === status,
        JSON.stringify(input),
      );
    }
  });

  test('never throws anything but RtspParseError on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const d = new RtspDemuxer();
        try {
          for (const c of chunks) d.push(Buffer.from(c), () => undefined);
        } catch (e) {
          assert.ok(e instanceof RtspParseError, String(e));
        }
      }),
    );
  });
});
