import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MediaPacket, encodeFlvTag, flvHeader, parseFlvTags } from '../../../src/edge/media.js';
import { ChunkReader } from '../../../src/rtmp/chunk.js';
import { SplitPayloadMessage } from '../../../src/rtmp/messages.js';

const arbPacket = fc.record({
  type: fc.constantFrom(8 as const, 9 as const, 18 as const),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 0xfffffe }), fc.integer({ min: 0xffffff, max: 0xffffffff })),
  parts: fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { minLength: 1, maxLength: 3 }),
});

describe('FLV tags <-> RTMP messages', () => {
  test('a message read from RTMP chunks, written as chunks (any chunk size) and as an FLV tag, reads back the same', () => {
    fc.assert(
      fc.property(arbPacket, fc.integer({ min: 128, max: 5000 }), ({ type, timestamp, parts }, chunkSize) => {
        const bufs = parts.map((p) => Buffer.from(p));
        const length = bufs.reduce((n, b) => n + b.length, 0);
        const payload = Buffer.concat(bufs);
        const p = MediaPacket.from(new SplitPayloadMessage(type, timestamp, 1, 6, bufs, length))!;
        // RTMP: full headers, so a reader in any state (here: fresh, with the chunk size announced) reads it.
        const reader = new ChunkReader({ zeroCopy: false });
        const setChunk = Buffer.from([2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        setChunk.writeUInt32BE(chunkSize, 12);
        const msgs = reader.feed(Buffer.concat([setChunk, p.rtmpBytes(1, chunkSize), p.rtmpBytes(7, chunkSize)]));
        const media = msgs.filter((m) => m.type === type);
        assert.equal(media.length, 2);
        for (const [m, id] of [
          [media[0]!, 1],
          [media[1]!, 7],
        ] as const) {
          assert.equal(m.timestamp, timestamp);
          assert.equal(m.streamId, id);
          assert.ok(m.payload.equals(payload));
        }
        // FLV: the tag reads back with the same type, timestamp (32 bits) and payload.
        const flv = Buffer.concat([flvHeader(), p.flvTag()]);
        const { packets, used } = parseFlvTags(flv);
        assert.equal(used, flv.length);
        assert.equal(packets.length, 1);
        const back = packets[0]!;
        assert.equal(back.type, type);
        assert.equal(back.timestamp, timestamp);
        assert.ok(Buffer.concat(back.parts as Buffer[]).equals(payload));
        assert.ok(encodeFlvTag(back).equals(p.flvTag()));
      }),
      { numRuns: 200 },
    );
  });

  test('the encodings are made once and shared', () => {
    const p = new MediaPacket(9, 5, [Buffer.from([0x17, 1, 0, 0, 0])], 5);
    assert.equal(p.rtmpBytes(1, 60000), p.rtmpBytes(1, 60000));
    assert.equal(p.flvTag(), p.flvTag());
  });
});
