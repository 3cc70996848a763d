import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GopCache } from '../../../src/edge/gop-cache.js';
import { MediaPacket } from '../../../src/edge/media.js';

const avcHeader = (ts: number) => new MediaPacket(9, ts, [Buffer.from([0x17, 0, 0, 0, 0, 1, 2])], 7);
const keyframe = (ts: number, size = 100) => new MediaPacket(9, ts, [Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), Buffer.alloc(size)])], size + 5);
const inter = (ts: number, size = 100) => new MediaPacket(9, ts, [Buffer.concat([Buffer.from([0x27, 1, 0, 0, 0]), Buffer.alloc(size)])], size + 5);
const aacHeader = (ts: number) => new MediaPacket(8, ts, [Buffer.from([0xaf, 0, 0x12, 0x10])], 4);
const aac = (ts: number) => new MediaPacket(8, ts, [Buffer.from([0xaf, 1, 1, 2, 3])], 5);
const meta = (ts = 0) => {
  const name = Buffer.from('onMetaData');
  const b = Buffer.concat([Buffer.from([2, 0, name.length]), name, Buffer.from([5])]);
  return new MediaPacket(18, ts, [b], b.length);
};

describe('media packet classification', () => {
  test('AVC/HEVC/enhanced sequence headers and keyframes, AAC config, onMetaData', () => {
    assert.ok(avcHeader(0).header && !avcHeader(0).keyframe);
    assert.ok(keyframe(0).keyframe && !keyframe(0).header);
    assert.ok(!inter(0).keyframe && !inter(0).header);
    assert.ok(new MediaPacket(9, 0, [Buffer.from([0x1c, 0, 0, 0, 0])], 5).header, 'HEVC (codec 12) header');
    // Enhanced RTMP: 0x80 | frame type 1 << 4 | packet type; 0 = sequence start, 1 = coded frames.
    assert.ok(new MediaPacket(9, 0, [Buffer.from([0x90, 0x68, 0x76, 0x63, 0x31])], 5).header);
    assert.ok(new MediaPacket(9, 0, [Buffer.from([0x91, 0x68, 0x76, 0x63, 0x31])], 5).keyframe);
    assert.ok(!new MediaPacket(9, 0, [Buffer.from([0xa1, 0x68, 0x76, 0x63, 0x31])], 5).keyframe);
    assert.ok(aacHeader(0).header && !aac(0).header);
    assert.ok(meta().metadata);
    // The first bytes may be split over parts.
    assert.ok(new MediaPacket(9, 0, [Buffer.from([0x17]), Buffer.from([0, 0])], 3).header);
  });
});

describe('GOP cache', () => {
  test('a late player gets metadata at time 0, headers stamped at the GOP start, then the GOP from its keyframe', () => {
    const c = new GopCache(1 << 20);
    c.add(meta(30)); // as an origin may stamp it
    c.add(avcHeader(0));
    c.add(aacHeader(0));
    c.add(keyframe(0));
    c.add(inter(40));
    c.add(keyframe(2000));
    c.add(aac(2010));
    c.add(inter(2040));
    const snap = c.snapshot();
    assert.deepEqual(
      snap.map((p) => [p.type, p.timestamp, p.metadata || p.header ? 'h' : p.keyframe ? 'k' : '-']),
      [
        // Metadata at any other time is a subtitle track to FFmpeg's FLV demuxer.
        [18, 0, 'h'],
        [9, 2000, 'h'],
        [8, 2000, 'h'],
        [9, 2000, 'k'],
        [8, 2010, '-'],
        [9, 2040, '-'],
      ],
    );
    assert.ok(c.ready);
  });

  test('stays within its bound: a GOP that outgrows it is dropped whole until the next keyframe', () => {
    const max = 64 * 1024;
    const c = new GopCache(max);
    c.add(avcHeader(0));
    c.add(keyframe(0, 10_000));
    for (let i = 1; i <= 20; i++) {
      c.add(inter(i * 40, 10_000));
      assert.ok(c.stats().bytes <= max, `${c.stats().bytes} bytes after ${i} frames`);
    }
    assert.equal(c.ready, false);
    assert.equal(c.stats().overflows, 1);
    // The most it ever held: within the bound, and more than one frame's worth (it did fill up).
    assert.ok(c.stats().peak <= max && c.stats().peak > 50_000, String(c.stats().peak));
    assert.deepEqual(
      c.snapshot().map((p) => p.header),
      [true],
    );
    c.add(inter(900, 10)); // still not kept: mid-GOP
    assert.equal(c.ready, false);
    c.add(keyframe(1000, 10));
    assert.ok(c.ready);
    assert.equal(c.snapshot().length, 2);
  });

  test('audio-only streams need no keyframe', () => {
    const c = new GopCache(1 << 20);
    c.add(aacHeader(0));
    c.add(aac(20));
    assert.equal(c.hasVideo, false);
    assert.equal(c.ready, false);
  });
});
