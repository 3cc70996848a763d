import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Socket } from 'node:net';
import { IdleWatch, type IdleWatched } from '../../../src/net/idle-watch.js';

/** A watched stream whose socket's written bytes the test moves by hand. */
function stream(): IdleWatched & { written: number; idled: number } {
  const s = {
    written: 0,
    idled: 0,
    idleLast: -1,
    socket: undefined as unknown as Socket,
    onIdle: () => s.idled++,
  };
  s.socket = {
    get bytesWritten() {
      return s.written;
    },
  } as unknown as Socket;
  return s;
}

test('IdleWatch: a stream that writes between ticks is kept; one that stops is cut once, after one to two idle times', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const watch = new IdleWatch(1000);
  const moving = stream();
  const stalled = stream();
  watch.add(moving);
  watch.add(stalled);
  for (let i = 0; i < 5; i++) {
    moving.written += 100;
    t.mock.timers.tick(1000);
    // First tick: seen; second tick without progress: cut.
    assert.equal(stalled.idled, i >= 1 ? 1 : 0, `tick ${i + 1}`);
  }
  assert.equal(moving.idled, 0);
  assert.equal(watch.size, 1, 'the cut stream is no longer watched');
  watch.delete(moving);
  assert.equal(watch.size, 0);
  // Nothing watched: the next tick stops the interval; a new stream starts it again.
  t.mock.timers.tick(1000);
  const late = stream();
  watch.add(late);
  t.mock.timers.tick(2000);
  assert.equal(late.idled, 1);
  watch.close();
});
