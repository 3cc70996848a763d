import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeCommand } from '../../../src/rtmp/amf0.js';
import { ChunkReader, ChunkWriter, type ChunkReaderOptions, type RtmpMessage } from '../../../src/rtmp/chunk.js';
import { SplitPayloadMessage, payloadLength } from '../../../src/rtmp/messages.js';
import { hex, onlyRtmpErrors, splitAt, throwsRtmp } from './helpers.js';
import { FFMPEG_CONNECT } from './vectors.js';

/** Payload bytes 0, 1, 2, ... (mod 256) offset by `seed`. */
function pattern(length: number, seed = 0): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i + seed) & 0xff;
  return b;
}

function readAll(bytes: Buffer | Buffer[], options?: ChunkReaderOptions): RtmpMessage[] {
  const reader = new ChunkReader(options);
  const parts = Array.isArray(bytes) ? bytes : [bytes];
  return parts.flatMap((p) => reader.feed(p));
}

function byteByByte(bytes: Buffer, options?: ChunkReaderOptions): RtmpMessage[] {
  const reader = new ChunkReader(options);
  const out: RtmpMessage[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...reader.feed(bytes.subarray(i, i + 1)));
  return out;
}

/** Compares messages field by field (payload by content). */
function plain(messages: RtmpMessage[]): object[] {
  return messages.map((m) => ({ type: m.type, timestamp: m.timestamp, streamId: m.streamId, csid: m.csid, payload: Buffer.from(m.payload) }));
}

describe('RTMP specification 1.0 §5.3.2 examples, byte by byte', () => {
  // Example 1: four 32-byte audio messages on chunk stream 3, message stream 12345, timestamps 1000 + 20n.
  const audio = [pattern(32, 1), pattern(32, 2), pattern(32, 3), pattern(32, 4)];
  const example1 = Buffer.concat([
    hex('03 | 0003e8 | 000020 | 08 | 39300000'),
    audio[0], // type 0: timestamp 1000, length 32, type 8, stream 12345
    hex('83 | 000014'),
    audio[1], //                           type 2: delta 20
    hex('c3'),
    audio[2], //                                    type 3
    hex('c3'),
    audio[3],
  ]);
  // Example 2: one 307-byte video message on chunk stream 4, chunk size 128.
  const video = pattern(307, 7);
  const example2 = Buffer.concat([
    hex('04 | 0003e8 | 000133 | 09 | 3a300000'),
    video.subarray(0, 128),
    hex('c4'),
    video.subarray(128, 256),
    hex('c4'),
    video.subarray(256),
  ]);

  test('example 1 reads as four messages with timestamps 1000, 1020, 1040, 1060', () => {
    const msgs = readAll(example1);
    assert.deepStrictEqual(
      plain(msgs),
      audio.map((payload, i) => ({ type: 8, timestamp: 1000 + 20 * i, streamId: 12345, csid: 3, payload })),
    );
    assert.deepStrictEqual(plain(byteByByte(example1)), plain(msgs));
  });

  test('example 1 is exactly what a compressing writer produces', () => {
    const w = new ChunkWriter({ compressHeaders: true });
    const out = Buffer.concat(audio.map((payload, i) => w.encode({ type: 8, timestamp: 1000 + 20 * i, streamId: 12345, csid: 3, payload })));
    assert.deepStrictEqual(out, example1);
  });

  test('example 2 reads as one message and is what the writer produces', () => {
    assert.deepStrictEqual(plain(readAll(example2)), [{ type: 9, timestamp: 1000, streamId: 12346, csid: 4, payload: video }]);
    const w = new ChunkWriter();
    assert.deepStrictEqual(w.encode({ type: 9, timestamp: 1000, streamId: 12346, csid: 4, payload: video }), example2);
  });
});

describe('FFmpeg connect over chunks', () => {
  // 139-byte AMF0 command, chunk size 128: type 0 header on chunk stream 3 then one type 3 chunk.
  const wire = Buffer.concat([hex('03 | 000000 | 00008b | 14 | 00000000'), FFMPEG_CONNECT.subarray(0, 128), hex('c3'), FFMPEG_CONNECT.subarray(128)]);

  test('read and decoded', () => {
    assert.equal(FFMPEG_CONNECT.length, 0x8b);
    const [msg, ...more] = readAll(wire);
    assert.equal(more.length, 0);
    assert.deepStrictEqual(plain([msg]), [{ type: 20, timestamp: 0, streamId: 0, csid: 3, payload: FFMPEG_CONNECT }]);
    assert.equal(decodeCommand(msg.payload).name, 'connect');
  });

  test('written identically', () => {
    assert.deepStrictEqual(new ChunkWriter().encode({ type: 20, timestamp: 0, streamId: 0, csid: 3, payload: FFMPEG_CONNECT }), wire);
  });
});

describe('basic headers (1, 2 and 3 bytes)', () => {
  const cases: [number, string, string][] = [
    [2, '02', 'c2'],
    [63, '3f', 'ff'],
    [64, '00 00', 'c0 00'],
    [319, '00 ff', 'c0 ff'],
    [320, '01 00 01', 'c1 00 01'],
    [65599, '01 ff ff', 'c1 ff ff'],
  ];
  const payload = pattern(200);
  for (const [csid, first, continuation] of cases) {
    test(`chunk stream ${csid}`, () => {
      const wire = Buffer.concat([hex(first), hex('000000 | 0000c8 | 08 | 01000000'), payload.subarray(0, 128), hex(continuation), payload.subarray(128)]);
      assert.deepStrictEqual(new ChunkWriter().encode({ type: 8, timestamp: 0, streamId: 1, csid, payload }), wire);
      assert.deepStrictEqual(plain(readAll(wire)), [{ type: 8, timestamp: 0, streamId: 1, csid, payload }]);
      assert.deepStrictEqual(plain(byteByByte(wire)), [{ type: 8, timestamp: 0, streamId: 1, csid, payload }]);
    });
  }

  test('the 3-byte form may also name ids below 320', () => {
    const wire = hex('01 00 00 | 000000 | 000001 | 08 | 00000000 | aa');
    assert.equal(readAll(wire)[0].csid, 64);
  });

  test('the writer rejects ids outside 2..65599', () => {
    for (const csid of [0, 1, 65600, 2.5, -3]) {
      throwsRtmp(() => new ChunkWriter().encode({ type: 8, timestamp: 0, streamId: 0, csid, payload: pattern(1) }), 'CHUNK_INVALID_MESSAGE');
    }
  });
});

describe('extended timestamps', () => {
  const payload = pattern(300);
  const second = pattern(300, 9);
  // Timestamp 0x01020304 does not fit 24 bits: the field is 0xffffff and the value follows the header.
  const repeated = Buffer.concat([
    hex('06 | ffffff | 00012c | 09 | 01000000 | 01020304'),
    payload.subarray(0, 128),
    hex('c6 | 01020304'),
    payload.subarray(128, 256),
    hex('c6 | 01020304'),
    payload.subarray(256),
    // A type 3 chunk starting the next message reuses the delta (= the type 0 timestamp, RTMP specification 1.0 §5.3.1.2.4).
    hex('c6 | 01020304'),
    second.subarray(0, 128),
    hex('c6 | 01020304'),
    second.subarray(128, 256),
    hex('c6 | 01020304'),
    second.subarray(256),
  ]);
  const notRepeated = Buffer.concat([
    hex('06 | ffffff | 00012c | 09 | 01000000 | 01020304'),
    payload.subarray(0, 128),
    hex('c6'),
    payload.subarray(128, 256),
    hex('c6'),
    payload.subarray(256),
  ]);
  const expected = [
    { type: 9, timestamp: 0x01020304, streamId: 1, csid: 6, payload },
    { type: 9, timestamp: 0x02040608, streamId: 1, csid: 6, payload: second },
  ];

  test('repeated on type 3 chunks (as the spec and FFmpeg do): detected', () => {
    assert.deepStrictEqual(plain(readAll(repeated)), expected);
    assert.deepStrictEqual(plain(byteByByte(repeated)), expected);
    assert.deepStrictEqual(plain(readAll(repeated, { type3ExtendedTimestamp: 'always' })), expected);
  });

  test('not repeated (some old encoders): detected', () => {
    assert.deepStrictEqual(plain(readAll(notRepeated)), expected.slice(0, 1));
    assert.deepStrictEqual(plain(byteByByte(notRepeated)), expected.slice(0, 1));
    assert.deepStrictEqual(plain(readAll(notRepeated, { type3ExtendedTimestamp: 'never' })), expected.slice(0, 1));
  });

  test('the writer repeats it on every type 3 chunk', () => {
    const w = new ChunkWriter();
    assert.deepStrictEqual(w.encode(expected[0]), repeated.subarray(0, 16 + 300 + 2 * 5));
    const vectored = new ChunkWriter().encodeVectored(expected[0]);
    assert.deepStrictEqual(Buffer.concat(vectored), repeated.subarray(0, 16 + 300 + 2 * 5));
  });

  test('extended deltas on type 1/2 headers', () => {
    const wire = Buffer.concat([
      hex('05 | 000010 | 000001 | 08 | 01000000 | aa'), //        timestamp 16
      hex('85 | ffffff | 10000000 | bb'), //                        type 2, delta 0x10000000
      hex('45 | ffffff | 000002 | 08 | ffffffff | cccc'), //        type 1, delta 0xffffffff: wraps (-1)
    ]);
    assert.deepStrictEqual(
      readAll(wire).map((m) => m.timestamp),
      [16, 0x10000010, 0x1000000f],
    );
  });
});

describe('control messages inside the chunk stream', () => {
  test('Set Chunk Size takes effect for the very next chunk of the same feed', () => {
    const big = pattern(3000);
    const wire = Buffer.concat([
      hex('02 | 000000 | 000004 | 01 | 00000000 | 00001000'), // Set Chunk Size 4096
      hex('04 | 000000 | 000bb8 | 09 | 01000000'),
      big, //       one 3000-byte chunk
    ]);
    const reader = new ChunkReader();
    const msgs = reader.feed(wire);
    assert.equal(reader.chunkSize, 4096);
    assert.deepStrictEqual(plain(msgs), [
      { type: 1, timestamp: 0, streamId: 0, csid: 2, payload: hex('00001000') },
      { type: 9, timestamp: 0, streamId: 1, csid: 4, payload: big },
    ]);
    assert.deepStrictEqual(plain(byteByByte(wire)), plain(msgs));
  });

  test('a malformed Set Chunk Size is a typed error', () => {
    throwsRtmp(() => readAll(hex('02 | 000000 | 000004 | 01 | 00000000 | 00000000')), 'MESSAGE_VALUE');
    throwsRtmp(() => readAll(hex('02 | 000000 | 000004 | 01 | 00000000 | 80000080')), 'MESSAGE_VALUE');
    throwsRtmp(() => readAll(hex('02 | 000000 | 000002 | 01 | 00000000 | 0080')), 'MESSAGE_LENGTH');
  });

  test('Set Chunk Size above 2^24-1 behaves as 2^24-1', () => {
    const reader = new ChunkReader();
    reader.feed(hex('02 | 000000 | 000004 | 01 | 00000000 | 7fffffff'));
    assert.equal(reader.chunkSize, 0xffffff);
  });

  test('Abort drops the partial message of its chunk stream', () => {
    const reader = new ChunkReader();
    assert.deepStrictEqual(reader.feed(Buffer.concat([hex('04 | 000000 | 000100 | 09 | 01000000'), pattern(128)])), []);
    assert.equal(reader.bufferedBytes, 256);
    const msgs = reader.feed(
      Buffer.concat([
        hex('02 | 000000 | 000004 | 02 | 00000000 | 00000004'), // Abort chunk stream 4
        hex('04 | 000010 | 000003 | 09 | 01000000 | aabbcc'), //  a new message may start there
      ]),
    );
    assert.deepStrictEqual(plain(msgs), [
      { type: 2, timestamp: 0, streamId: 0, csid: 2, payload: hex('00000004') },
      { type: 9, timestamp: 16, streamId: 1, csid: 4, payload: hex('aabbcc') },
    ]);
    assert.equal(reader.bufferedBytes, 0);
  });

  test('Abort for an idle or unknown chunk stream is harmless', () => {
    assert.equal(readAll(hex('02 | 000000 | 000004 | 02 | 00000000 | 00000009')).length, 1);
  });
});

describe('compressed headers and chunk stream state', () => {
  test('librtmp opens chunk stream 2 with a type 1 header (message stream 0 implied)', () => {
    const wire = hex('42 | 000000 | 000006 | 04 | 0006 0001e240');
    assert.deepStrictEqual(plain(readAll(wire)), [{ type: 4, timestamp: 0, streamId: 0, csid: 2, payload: hex('0006 0001e240') }]);
  });

  test('other headers that need a previous one are errors on a new chunk stream', () => {
    throwsRtmp(() => readAll(hex('43 | 000000 | 000001 | 08 | aa')), 'CHUNK_NO_PREVIOUS_HEADER'); // type 1, csid 3
    throwsRtmp(() => readAll(hex('82 | 000000')), 'CHUNK_NO_PREVIOUS_HEADER'); // type 2, csid 2
    throwsRtmp(() => readAll(hex('c3')), 'CHUNK_NO_PREVIOUS_HEADER'); // type 3
  });

  test('a new header in the middle of a message is an error', () => {
    const wire = Buffer.concat([hex('04 | 000000 | 000100 | 09 | 01000000'), pattern(128), hex('04 | 000000 | 000001 | 09 | 01000000 | 00')]);
    throwsRtmp(() => readAll(wire), 'CHUNK_HEADER_MID_MESSAGE');
  });

  test('type 1 keeps the stream id, type 2 also length and type, type 3 everything', () => {
    const wire = Buffer.concat([
      hex('05 | 000064 | 000002 | 12 | 07000000 | 0102'), //  ts 100, len 2, type 18, stream 7
      hex('45 | 00000a | 000001 | 08 | 03'), //                +10, len 1, type 8
      hex('85 | 000005 | 04'), //                              +5
      hex('c5 | 05'), //                                       +5 again
    ]);
    assert.deepStrictEqual(plain(readAll(wire)), [
      { type: 18, timestamp: 100, streamId: 7, csid: 5, payload: hex('0102') },
      { type: 8, timestamp: 110, streamId: 7, csid: 5, payload: hex('03') },
      { type: 8, timestamp: 115, streamId: 7, csid: 5, payload: hex('04') },
      { type: 8, timestamp: 120, streamId: 7, csid: 5, payload: hex('05') },
    ]);
  });

  test('zero-length messages', () => {
    const wire = hex('03 | 000001 | 000000 | 14 | 00000000 | c3 | 83 000001');
    assert.deepStrictEqual(plain(readAll(wire)), [
      { type: 20, timestamp: 1, streamId: 0, csid: 3, payload: hex('') },
      { type: 20, timestamp: 2, streamId: 0, csid: 3, payload: hex('') },
      { type: 20, timestamp: 3, streamId: 0, csid: 3, payload: hex('') },
    ]);
    assert.deepStrictEqual(new ChunkWriter().encode({ type: 20, timestamp: 1, streamId: 0, csid: 3, payload: hex('') }), hex('03 000001 000000 14 00000000'));
  });

  test('the compressing writer falls back to type 0 when the stream id changes or time goes back', () => {
    const w = new ChunkWriter({ compressHeaders: true });
    const m = (timestamp: number, streamId: number, len = 1): RtmpMessage => ({ type: 8, timestamp, streamId, csid: 4, payload: pattern(len) });
    const fmts = [m(10, 1), m(20, 1), m(30, 1, 2), m(25, 1, 2), m(30, 2, 2), m(30, 2, 2), m(30, 2, 2)].map((x) => w.encode(x)[0] >> 6);
    // after a type 0 the first repeat is type 2 (delta sent explicitly), then type 3 while the delta holds
    assert.deepStrictEqual(fmts, [0, 2, 1, 0, 0, 2, 3]);
  });
});

describe('limits (adversarial headers)', () => {
  test('a message longer than maxMessageSize is rejected at its header, before any allocation', () => {
    const header = hex('04 | 000000 | ffffff | 09 | 01000000');
    const reader = new ChunkReader({ maxMessageSize: 1024 * 1024 });
    throwsRtmp(() => reader.feed(header), 'CHUNK_MESSAGE_TOO_LARGE');
    throwsRtmp(() => readAll(hex('04 | 000000 | 0003e9 | 09 | 01000000'), { maxMessageSize: 1000 }), 'CHUNK_MESSAGE_TOO_LARGE');
    assert.deepStrictEqual(readAll(hex('04 | 000000 | 0003e8 | 09 | 01000000'), { maxMessageSize: 1000 }), []);
  });

  test('the largest length the 24-bit field allows fits the default 16 MiB cap', () => {
    // 16 MiB + 1 (or 4 GiB) cannot even be expressed in a chunk header: 0xffffff is the ceiling.
    const reader = new ChunkReader();
    assert.deepStrictEqual(reader.feed(hex('04 | 000000 | ffffff | 09 | 01000000 | 00')), []);
    assert.equal(reader.bufferedBytes, 0xffffff);
  });

  test('too many chunk streams', () => {
    const reader = new ChunkReader({ maxChunkStreams: 64 });
    for (let csid = 2; csid < 66; csid++) {
      const basic = csid < 64 ? Buffer.of(csid) : Buffer.of(0, csid - 64);
      reader.feed(Buffer.concat([basic, hex('000000 000000 08 00000000')]));
    }
    throwsRtmp(() => reader.feed(hex('00 02 | 000000 000000 08 00000000')), 'CHUNK_TOO_MANY_STREAMS');
  });

  test('bytes held in partial messages are capped', () => {
    const reader = new ChunkReader({ maxBufferedBytes: 1000 });
    reader.feed(Buffer.concat([hex('04 | 000000 | 000258 | 09 | 01000000'), pattern(128)])); // 600 bytes held
    throwsRtmp(() => reader.feed(Buffer.concat([hex('05 | 000000 | 000258 | 08 | 01000000'), pattern(1)])), 'CHUNK_BUFFER_LIMIT');
  });

  test('bad options are typed errors', () => {
    throwsRtmp(() => new ChunkReader({ maxMessageSize: 0 }), 'CHUNK_INVALID_OPTION');
    throwsRtmp(() => new ChunkWriter({ chunkSize: 0 }), 'CHUNK_INVALID_OPTION');
    throwsRtmp(() => new ChunkWriter().setChunkSize(2 ** 31), 'CHUNK_INVALID_OPTION');
  });

  test('the writer rejects messages it cannot frame', () => {
    const w = new ChunkWriter();
    const ok: RtmpMessage = { type: 8, timestamp: 0, streamId: 0, csid: 3, payload: pattern(1) };
    throwsRtmp(() => w.encode({ ...ok, timestamp: -1 }), 'CHUNK_INVALID_MESSAGE');
    throwsRtmp(() => w.encode({ ...ok, timestamp: 2 ** 32 }), 'CHUNK_INVALID_MESSAGE');
    throwsRtmp(() => w.encode({ ...ok, streamId: 2 ** 32 }), 'CHUNK_INVALID_MESSAGE');
    throwsRtmp(() => w.encode({ ...ok, type: 256 }), 'CHUNK_INVALID_MESSAGE');
    throwsRtmp(() => w.encode({ ...ok, payload: Buffer.alloc(0x1000000) }), 'CHUNK_INVALID_MESSAGE');
  });
});

describe('reader bookkeeping', () => {
  test('bytesRead counts every byte fed', () => {
    const reader = new ChunkReader();
    reader.feed(hex('03 0000'));
    reader.feed(hex('00 000001 08 00000000 aa 03'));
    assert.equal(reader.bytesRead, 14);
  });

  test('a message inside one chunk of one feed is a view of the input; others are reassembled', () => {
    const encode = (): Buffer => new ChunkWriter({ chunkSize: 4096 }).encode({ type: 9, timestamp: 0, streamId: 1, csid: 6, payload: pattern(1000) });
    const announce = hex('02 000000 000004 01 00000000 00001000');
    const input = encode();
    const reader = new ChunkReader();
    reader.feed(announce);
    const [m] = reader.feed(input);
    input[input.length - 1] ^= 0xff; // a view sees the change
    assert.equal(m.payload[999], (999 & 0xff) ^ 0xff);
    // Split across feeds, the same message is copied into its own buffer.
    const input2 = encode();
    const again = new ChunkReader();
    again.feed(announce);
    assert.deepStrictEqual(again.feed(input2.subarray(0, 500)), []);
    const [copy] = again.feed(input2.subarray(500));
    input2.fill(0);
    assert.ok(copy.payload.equals(pattern(1000)));
  });

  test('encodeSetChunkSize announces at the old size, then switches', () => {
    const w = new ChunkWriter();
    assert.deepStrictEqual(w.encodeSetChunkSize(4096), hex('02 000000 000004 01 00000000 00001000'));
    assert.equal(w.chunkSize, 4096);
  });
});

// ---- property tests ----

const csid = fc.oneof(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 2, max: 65599 }));
const message: fc.Arbitrary<RtmpMessage> = fc
  .record({
    type: fc.integer({ min: 3, max: 255 }), // 1 and 2 change the reader's state; tested separately
    timestamp: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0xfffff0, max: 0x1000010 }), fc.integer({ min: 0, max: 0xffffffff })),
    streamId: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 0xffffffff })),
    csid,
    payload: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 1500 })).map((a) => Buffer.from(a)),
  })
  .map((m) => ({ ...m }));

/** Sequences that make the compressing writer use every header type (same length/type, steady delta). */
const steadyRun: fc.Arbitrary<RtmpMessage[]> = fc
  .tuple(
    csid,
    fc.integer({ min: 3, max: 255 }),
    fc.integer({ min: 0, max: 300 }),
    fc.integer({ min: 0, max: 0x1ffffff }),
    fc.integer({ min: 0, max: 0x1000000 }),
    fc.integer({ min: 1, max: 6 }),
  )
  .map(([id, type, length, start, delta, count]) =>
    Array.from({ length: count }, (_, i) => ({ type, timestamp: (start + i * delta) % 2 ** 32, streamId: 1, csid: id, payload: pattern(length, i) })),
  );

describe('chunk stream properties', () => {
  test('writer → reader: any messages, chunk size, header compression and input split', () => {
    fc.assert(
      fc.property(
        fc
          .array(
            fc.oneof(
              message.map((m) => [m]),
              steadyRun,
            ),
            { maxLength: 12 },
          )
          .map((runs) => runs.flat()),
        fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 70_000 })),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, chunkSize, compressHeaders, cuts) => {
          const w = new ChunkWriter({ compressHeaders });
          const announce = w.encodeSetChunkSize(chunkSize);
          const wire = Buffer.concat([announce, ...messages.map((m) => w.encode(m))]);
          const expected = [{ type: 1, timestamp: 0, streamId: 0, csid: 2, payload: hex('') }, ...messages];
          const got = readAll(splitAt(wire, cuts));
          assert.deepStrictEqual(plain(got.slice(1)), plain(expected.slice(1)));
          assert.equal(got[0].type, 1);
          assert.deepStrictEqual(plain(byteByByte(wire)), plain(got));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('encodeVectored produces the same bytes as encode', () => {
    fc.assert(
      fc.property(message, fc.integer({ min: 1, max: 600 }), (m, size) => {
        const a = new ChunkWriter({ chunkSize: size }).encode(m);
        const b = Buffer.concat(new ChunkWriter({ chunkSize: size }).encodeVectored(m));
        assert.deepStrictEqual(b, a);
      }),
    );
  });

  test('random bytes, random splits: only RtmpError', () => {
    const options: ChunkReaderOptions = { maxMessageSize: 64 * 1024, maxChunkStreams: 16, maxBufferedBytes: 256 * 1024 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 6 }), (a, cuts) => {
        const reader = new ChunkReader(options);
        onlyRtmpErrors(() => splitAt(Buffer.from(a), cuts).forEach((p) => reader.feed(p)));
      }),
      { numRuns: 3000 },
    );
  });

  test('corrupted valid streams: only RtmpError, with default limits', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }),
        (messages, edits) => {
          const w = new ChunkWriter({ compressHeaders: true });
          const wire = Buffer.concat(messages.map((m) => w.encode(m)));
          for (const [at, byte] of edits) wire[at % wire.length] = byte;
          onlyRtmpErrors(() => readAll(wire));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a truncated stream yields a prefix of the messages and never throws', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.nat(), (messages, cut) => {
        const w = new ChunkWriter();
        const wire = Buffer.concat(messages.map((m) => w.encode(m)));
        const got = readAll(wire.subarray(0, cut % wire.length));
        assert.ok(got.length < messages.length);
        assert.deepStrictEqual(plain(got), plain(messages.slice(0, got.length)));
      }),
    );
  });
});

describe('relay-sized traffic (a correctness check, no timing)', () => {
  test('10,000 interleaved audio/video messages through writer and reader', () => {
    const writer = new ChunkWriter({ chunkSize: 4096, compressHeaders: true });
    const messages: RtmpMessage[] = [];
    for (let i = 0; i < 10_000; i++) {
      const isVideo = i % 3 !== 0;
      const size = isVideo ? (i % 50 === 0 ? 60_000 : 3000 + (i % 900)) : 200 + (i % 7);
      messages.push({ type: isVideo ? 9 : 8, timestamp: i * 10, streamId: 1, csid: isVideo ? 6 : 4, payload: pattern(size, i) });
    }
    const wire = Buffer.concat([writer.encodeSetChunkSize(4096), ...messages.map((m) => writer.encode(m))]);
    const reader = new ChunkReader();
    const got: RtmpMessage[] = [];
    let views = 0;
    for (let off = 0; off < wire.length; off += 65536) {
      const part = wire.subarray(off, off + 65536);
      for (const m of reader.feed(part)) {
        if (m.payload.buffer === part.buffer && m.payload.length > 0) views++;
        got.push(m);
      }
    }
    assert.equal(got.length, messages.length + 1);
    for (let i = 0; i < messages.length; i++) {
      const a = got[i + 1];
      const b = messages[i];
      assert.ok(a.type === b.type && a.timestamp === b.timestamp && a.csid === b.csid && a.payload.equals(b.payload), `message ${i}`);
    }
    // Single-chunk messages not cut by a feed boundary were handed out without copying.
    assert.ok(views > 9000, `views: ${views}`);
    assert.equal(reader.bufferedBytes, 0);
  });
});

describe('encodeTo (batched, vectored output)', () => {
  test('the parts of many messages are the bytes encode() gives, with and without compressed headers', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            message,
            message.map((m) => ({ ...m, payload: Buffer.alloc(3000 + m.payload.length, 7) })),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        fc.integer({ min: 1, max: 70_000 }),
        fc.boolean(),
        (messages, size, compressHeaders) => {
          const a = new ChunkWriter({ chunkSize: size, compressHeaders });
          const b = new ChunkWriter({ chunkSize: size, compressHeaders });
          const parts: Buffer[] = [];
          for (const m of messages) b.encodeTo(m, parts);
          assert.deepStrictEqual(Buffer.concat(parts), Buffer.concat(messages.map((m) => a.encode(m))));
        },
      ),
    );
  });

  test('small messages share one part; large payloads are referenced, not copied', () => {
    const w = new ChunkWriter({ chunkSize: 60000 });
    const parts: Buffer[] = [];
    const small = [pattern(50, 1), pattern(60, 2), pattern(70, 3)];
    for (const p of small) w.encodeTo({ type: 8, timestamp: 0, streamId: 1, csid: 4, payload: p }, parts);
    assert.equal(parts.length, 1, 'three small messages, one part');
    const big = pattern(50_000, 4);
    w.encodeTo({ type: 9, timestamp: 0, streamId: 1, csid: 6, payload: big }, parts);
    assert.equal(parts.length, 2, "the big message's header joins the small ones; its payload is its own part");
    assert.equal(parts[1]!.buffer, big.buffer, 'the payload is a view of the message');
    const huge = pattern(150_000, 5);
    w.encodeTo({ type: 9, timestamp: 0xffffff + 1, streamId: 1, csid: 6, payload: huge }, parts);
    // header, then 3 chunks of payload with a continuation header before the 2nd and 3rd
    assert.equal(parts.length, 2 + 1 + 3 + 2);
    assert.equal(parts[4], parts[6], 'one continuation header, referenced twice');
  });

  test('a full slab is replaced, never overwritten while its bytes may still be queued', () => {
    const w = new ChunkWriter({ chunkSize: 128 });
    const reference = new ChunkWriter({ chunkSize: 128 });
    const parts: Buffer[] = [];
    const expected: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const m: RtmpMessage = { type: 8, timestamp: i, streamId: 1, csid: 4 + (i % 3), payload: pattern(90, i) };
      w.encodeTo(m, parts);
      expected.push(reference.encode(m));
    }
    assert.deepStrictEqual(Buffer.concat(parts), Buffer.concat(expected));
  });
});

describe('reassembly memory follows the bytes received', () => {
  test('a large message split over many chunks and feeds is reassembled exactly', () => {
    const payload = pattern(1_000_003, 11);
    const wire = Buffer.concat([
      new ChunkWriter().encodeSetChunkSize(1000),
      new ChunkWriter({ chunkSize: 1000 }).encode({ type: 9, timestamp: 5, streamId: 1, csid: 6, payload }),
    ]);
    const reader = new ChunkReader();
    const out: RtmpMessage[] = [];
    for (let off = 0; off < wire.length; off += 777) {
      out.push(...reader.feed(wire.subarray(off, off + 777)));
      if (out.length < 2 && off > 2000) assert.equal(reader.bufferedBytes, payload.length, 'announced length counted while partial');
    }
    assert.equal(out.length, 2);
    assert.ok(out[1]!.payload.equals(payload));
    assert.equal(out[1]!.payload.length, payload.length);
    assert.equal(reader.bufferedBytes, 0);
  });

  test('many announced 16 MiB messages with a byte each are accepted up to the cap without allocating them', () => {
    const reader = new ChunkReader({ maxBufferedBytes: 4 * 0xffffff });
    const before = process.memoryUsage().arrayBuffers;
    // Each sends its first 128-byte chunk only.
    const start = (csid: number) => Buffer.concat([Buffer.of(csid), hex('000000 ffffff 09 01000000'), pattern(128, csid)]);
    for (let csid = 4; csid < 8; csid++) reader.feed(start(csid));
    assert.equal(reader.bufferedBytes, 4 * 0xffffff);
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'far less than 4 × 16 MiB allocated');
    throwsRtmp(() => reader.feed(start(8)), 'CHUNK_BUFFER_LIMIT');
  });
});

describe('zeroCopy reading: large split messages as views of the received buffers', () => {
  const big: fc.Arbitrary<RtmpMessage> = fc
    .record({
      len: fc.integer({ min: 0, max: 30_000 }),
      seed: fc.nat(255),
      csid: fc.integer({ min: 3, max: 400 }),
      timestamp: fc.integer({ min: 0, max: 0x1ffffff }),
    })
    .map(({ len, seed, csid, timestamp }) => ({ type: 9, timestamp, streamId: 1, csid, payload: pattern(len, seed) }));

  test('payloads read back exactly, whatever the chunk size and the feed splits; re-encoding parts gives encode() bytes', () => {
    fc.assert(
      fc.property(
        fc.array(big, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 128, max: 70_000 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 1, max: 70_000 }),
        (messages, size, cuts, outSize) => {
          const w = new ChunkWriter({ chunkSize: size });
          const wire = Buffer.concat([new ChunkWriter().encodeSetChunkSize(size), ...messages.map((m) => w.encode(m))]);
          const reader = new ChunkReader({ zeroCopy: true });
          const got = splitAt(wire, cuts)
            .flatMap((p) => reader.feed(p))
            .slice(1);
          assert.deepStrictEqual(plain(got), plain(messages));
          const a = new ChunkWriter({ chunkSize: outSize });
          const b = new ChunkWriter({ chunkSize: outSize });
          const parts: Buffer[] = [];
          for (const m of got) b.encodeTo(m, parts);
          assert.deepStrictEqual(Buffer.concat(parts), Buffer.concat(messages.map((m) => a.encode(m))));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a large message over many chunks comes as views, not a copy; small ones and small chunks are copied', () => {
    const payload = pattern(20_000, 3);
    const wire = Buffer.concat([
      new ChunkWriter().encodeSetChunkSize(4096),
      new ChunkWriter({ chunkSize: 4096 }).encode({ type: 9, timestamp: 0, streamId: 1, csid: 6, payload }),
    ]);
    const [, m] = new ChunkReader({ zeroCopy: true }).feed(wire);
    assert.ok(m instanceof SplitPayloadMessage);
    assert.equal(m.parts.length, 5);
    assert.ok(
      m.parts.every((p) => p.buffer === wire.buffer),
      'every part is a view of the fed buffer',
    );
    assert.equal(payloadLength(m), 20_000);
    assert.ok(m.payload.equals(payload), 'payload joins the parts on demand');
    m.payload = Buffer.from('x');
    assert.deepStrictEqual(m.parts, [Buffer.from('x')]);
    assert.equal(payloadLength(m), 1);
    // At chunk size 128 (or below 4096 bytes) copying is cheaper than many tiny views.
    const small = new ChunkWriter().encode({ type: 9, timestamp: 0, streamId: 1, csid: 6, payload });
    const [copied] = new ChunkReader({ zeroCopy: true }).feed(small);
    assert.ok(!(copied instanceof SplitPayloadMessage));
    assert.ok(copied!.payload.equals(payload));
  });

  test('views of the scratch buffer are copied (a header split across feeds)', () => {
    const payload = pattern(10_000, 9);
    const wire = Buffer.concat([
      new ChunkWriter().encodeSetChunkSize(2048),
      new ChunkWriter({ chunkSize: 2048 }).encode({ type: 9, timestamp: 0xffffff + 9, streamId: 1, csid: 300, payload }),
    ]);
    const reader = new ChunkReader({ zeroCopy: true });
    const out: RtmpMessage[] = [];
    // Feed one byte at a time: every header goes through the scratch buffer.
    for (let i = 0; i < wire.length; i++) out.push(...reader.feed(wire.subarray(i, i + 1)));
    assert.ok(out[1]!.payload.equals(payload));
    assert.equal(out[1]!.timestamp, 0xffffff + 9);
  });

  test('an Abort drops a partial split message and its reservation', () => {
    const reader = new ChunkReader({ zeroCopy: true, maxBufferedBytes: 30_000 });
    reader.feed(new ChunkWriter().encodeSetChunkSize(4096));
    const w = new ChunkWriter({ chunkSize: 4096 });
    const wire = w.encode({ type: 9, timestamp: 0, streamId: 1, csid: 6, payload: pattern(20_000, 1) });
    reader.feed(wire.subarray(0, 12 + 4096)); // the first chunk, whole
    assert.equal(reader.bufferedBytes, 20_000);
    reader.feed(new ChunkWriter().encode({ type: 2, timestamp: 0, streamId: 0, csid: 2, payload: hex('00000006') }));
    assert.equal(reader.bufferedBytes, 0);
  });
});
