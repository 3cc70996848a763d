// The relay registry: counts per origin and per stream, release, closeOrigin.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RelayRegistry } from '../../../src/routing/relays.js';

describe('RelayRegistry', () => {
  test('counts per origin and per stream; release is idempotent', () => {
    const r = new RelayRegistry();
    const h1 = r.register({ originServerId: 'a', streamKey: 's1', close: () => undefined });
    const h2 = r.register({ originServerId: 'a', streamKey: 's1', close: () => undefined });
    r.register({ originServerId: 'b', streamKey: 's2', close: () => undefined });
    assert.equal(r.countByOrigin('a'), 2);
    assert.equal(r.countByStream('s1'), 2);
    assert.equal(r.size, 3);
    h1.release();
    h1.release();
    assert.equal(r.countByOrigin('a'), 1);
    assert.equal(r.countByStream('s1'), 1);
    h2.release();
    assert.equal(r.countByOrigin('a'), 0);
    assert.equal(r.countByStream('s1'), 0);
    assert.deepEqual([...r.counts()], [['b', 1]]);
  });

  test('closeOrigin closes every relay to it (even when one close throws) and forgets them', () => {
    const r = new RelayRegistry();
    const closed: string[] = [];
    const handles = ['x', 'y'].map((s) => r.register({ originServerId: 'a', streamKey: s, close: () => closed.push(s) }));
    r.register({
      originServerId: 'a',
      streamKey: 'bad',
      close: () => {
        throw new Error('half gone');
      },
    });
    r.register({ originServerId: 'b', streamKey: 'z', close: () => closed.push('z') });
    assert.equal(r.closeOrigin('a'), 3);
    assert.deepEqual(closed.sort(), ['x', 'y']);
    assert.equal(r.countByOrigin('a'), 0);
    assert.equal(r.countByStream('x'), 0);
    handles[0]!.release(); // a relay's own end after closeOrigin changes nothing
    assert.equal(r.countByOrigin('b'), 1);
    assert.equal(r.closeOrigin('nobody'), 0);
  });
});
