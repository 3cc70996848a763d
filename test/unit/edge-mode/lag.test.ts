import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LagQueue } from '../../../src/edge/lag.js';
import { MediaPacket } from '../../../src/edge/media.js';

const frame = (ts: number, key: boolean) => new MediaPacket(9, ts, [Buffer.from([key ? 0x17 : 0x27, 1, 0, 0, 0, 9])], 6);
const audio = (ts: number) => new MediaPacket(8, ts, [Buffer.from([0xaf, 1, 7])], 3);
const header = (ts: number) => new MediaPacket(9, ts, [Buffer.from([0x17, 0, 0, 0, 0])], 5);

/** One second GOPs at 25 fps with audio between frames, from `from` ms for `seconds`. */
function stream(from: number, seconds: number): MediaPacket[] {
  const out: MediaPacket[] = [];
  for (let t = from; t < from + seconds * 1000; t += 40) {
    out.push(frame(t, t % 1000 === 0));
    out.push(audio(t + 20));
  }
  return out;
}

describe('per-player lag', () => {
  test('within the lag nothing is dropped', () => {
    const q = new LagQueue({ maxLagMs: 3000, maxQueueBytes: 1 << 30, hasVideo: () => true });
    const s = stream(0, 2);
    q.push(s);
    q.applyLag(s[s.length - 1]!.timestamp);
    assert.equal(q.length, s.length);
    assert.equal(q.lag.skips, 0);
  });

  test('past the lag the player skips to the newest waiting keyframe: whole GOPs, headers kept', () => {
    const q = new LagQueue({ maxLagMs: 2000, maxQueueBytes: 1 << 30, hasVideo: () => true });
    q.push([header(0)]);
    const s = stream(0, 3.5);
    q.push(s);
    q.applyLag(s[s.length - 1]!.timestamp);
    assert.equal(q.lag.skips, 1);
    const left = q.take(1 << 30);
    assert.ok(left[0]!.header, 'the sequence header stays');
    assert.ok(left[1]!.keyframe && left[1]!.timestamp === 3000, `resumes at the keyframe of 3000 ms, got ${left[1]!.timestamp}`);
    // Nothing between the kept header and that keyframe; everything after it, in order.
    assert.deepEqual(
      left.slice(1).map((p) => p.timestamp),
      s.filter((p) => p.timestamp >= 3000).map((p) => p.timestamp),
    );
  });

  test('with no later keyframe waiting it drops all and waits for the next one (audio too, for a video stream)', () => {
    const q = new LagQueue({ maxLagMs: 500, maxQueueBytes: 1 << 30, hasVideo: () => true });
    const gop = stream(0, 1); // one keyframe, at its head
    q.push(gop);
    q.applyLag(gop[gop.length - 1]!.timestamp);
    assert.equal(q.length, 0);
    assert.equal(q.waitKeyframe, true);
    q.push([audio(1010), frame(1040, false)]);
    assert.equal(q.length, 0, 'mid-GOP media is not queued');
    q.push([frame(2000, true), audio(2020)]);
    assert.deepEqual(
      q.take(1 << 30).map((p) => p.timestamp),
      [2000, 2020],
    );
  });

  test('the byte bound skips too', () => {
    const q = new LagQueue({ maxLagMs: 60_000, maxQueueBytes: 200, hasVideo: () => true });
    const s = stream(0, 3);
    q.push(s);
    q.applyLag(s[s.length - 1]!.timestamp);
    assert.equal(q.lag.skips, 1);
    assert.ok(q.take(1 << 30)[0]!.keyframe);
  });
});
