// The watch of a silent origin (src/rtmp/origin-watch.ts) shared by the RTMP relay and the edge upstream, driven
// with a clock the test controls over a fake leg: bytes read, pongs counted, pings queued.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OriginWatch, type OriginWatchVerdict, type WatchedLeg } from '../../../src/rtmp/origin-watch.js';

const HALF = 1000;

class FakeLeg implements WatchedLeg {
  readonly socket = { bytesRead: 0 };
  pongs = 0;
  readonly pings: number[] = [];
  ping(timestamp: number): void {
    this.pings.push(timestamp);
  }
}

/** Checks every `step` ms from `from` to `to` (inclusive); the verdicts by time. */
function run(w: OriginWatch, from: number, to: number, step = 100): Map<number, OriginWatchVerdict> {
  const out = new Map<number, OriginWatchVerdict>();
  for (let t = from; t <= to; t += step) out.set(t, w.check(t, HALF));
  return out;
}

const notOk = (m: Map<number, OriginWatchVerdict>) => [...m].filter(([, v]) => v !== 'ok');

describe('OriginWatch', () => {
  test('an origin that keeps sending is never pinged', () => {
    const leg = new FakeLeg();
    const w = new OriginWatch(leg, 0);
    for (let t = 100; t <= 10_000; t += 100) {
      leg.socket.bytesRead += 10;
      assert.equal(w.check(t, HALF), 'ok');
    }
    assert.deepEqual(leg.pings, []);
  });

  test('silent for half the timeout: pinged once, exactly at the bound, and not again while the ping is out', () => {
    const leg = new FakeLeg();
    const w = new OriginWatch(leg, 0);
    assert.equal(w.check(999, HALF), 'ok');
    assert.equal(w.check(1000, HALF), 'pinged');
    assert.deepEqual(leg.pings, [1000]);
    assert.deepEqual(notOk(run(w, 1100, 1900)), []);
    assert.deepEqual(leg.pings, [1000]);
  });

  test('an origin that answered a ping and then stays silent another half is dead', () => {
    const leg = new FakeLeg();
    const w = new OriginWatch(leg, 0);
    assert.equal(w.check(1000, HALF), 'pinged');
    leg.pongs++;
    leg.socket.bytesRead += 14; // the Ping Response's bytes
    assert.equal(w.check(1100, HALF), 'ok');
    // Heard at 1100: pinged again half a timeout later, and this time no answer.
    assert.deepEqual(notOk(run(w, 1200, 3100)), [
      [2100, 'pinged'],
      [3100, 'dead'],
    ]);
    assert.equal(w.silentMs(3100), 2000);
  });

  test('an origin that never answers is pinged once, then left alone (never dead), however long it stays silent', () => {
    const leg = new FakeLeg();
    const w = new OriginWatch(leg, 0);
    assert.deepEqual(notOk(run(w, 100, 60_000)), [
      [1000, 'pinged'],
      [2000, 'pings off'],
    ]);
    assert.deepEqual(leg.pings, [1000]);
  });

  test('other traffic after a ping answers for it; a later unanswered ping (no pong ever) turns pings off, not dead', () => {
    const leg = new FakeLeg();
    const w = new OriginWatch(leg, 0);
    assert.equal(w.check(1000, HALF), 'pinged');
    leg.socket.bytesRead += 5000; // media, not a pong
    assert.equal(w.check(1500, HALF), 'ok');
    assert.deepEqual(notOk(run(w, 1600, 10_000)), [
      [2500, 'pinged'],
      [3500, 'pings off'],
    ]);
  });

  test('a pong without other bytes (counted, not seen as traffic): answered, and pinged again at once while still silent', () => {
    const leg = new FakeLeg();
    const w = new OriginWatch(leg, 0);
    assert.equal(w.check(1000, HALF), 'pinged');
    leg.pongs++;
    assert.equal(w.check(2000, HALF), 'pinged'); // answered; silent since 0, so the next ping goes out in the same check
    assert.deepEqual(leg.pings, [1000, 2000]);
    assert.equal(w.check(2999, HALF), 'ok');
    assert.equal(w.check(3000, HALF), 'dead');
  });

  test('bytes read before the watch: counted as already heard by default, as news at the first check with readBefore 0', () => {
    const leg = new FakeLeg();
    leg.socket.bytesRead = 3000;
    const byDefault = new OriginWatch(leg, 0);
    assert.equal(byDefault.check(1000, HALF), 'pinged');
    const fromZero = new OriginWatch(new FakeLeg(), 0, 0);
    const leg2 = new FakeLeg();
    leg2.socket.bytesRead = 3000;
    const counted = new OriginWatch(leg2, 0, 0);
    assert.equal(counted.check(900, HALF), 'ok'); // heard at 900
    assert.equal(counted.check(1000, HALF), 'ok');
    assert.equal(counted.check(1900, HALF), 'pinged');
    assert.equal(fromZero.check(1000, HALF), 'pinged'); // nothing read: silent since 0
  });
});
