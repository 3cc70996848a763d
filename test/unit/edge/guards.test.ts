// The heap guard, the descriptor budget, connection admission, the HLS record byte budget and the
// origin header filter, with injected clocks and counters.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { MemoryBalancer } from '../../../src/balancer/memory.js';
import { MAX_HLS_URL } from '../../../src/balancer/hls-record.js';
import { TtlMap } from '../../../src/balancer/ttl-map.js';
import { createLogger } from '../../../src/log.js';
import { ConnectionGuard, workerLimits, workerShare } from '../../../src/net/connection-guard.js';
import { FdBudget, parseFileLimit } from '../../../src/net/fd-limit.js';
import { HeapGuard } from '../../../src/net/heap-guard.js';
import { forwardResponseHeaders } from '../../../src/net/origin-http.js';

function capture() {
  let out = '';
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      out += c.toString();
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', format: 'json', destination: stream }), text: () => out };
}

describe('heap guard', () => {
  test('refuses above the ratio, logs once per episode, recovers', () => {
    let used = 10;
    let t = 0;
    const c = capture();
    const g = new HeapGuard({ ratio: 0.5, log: c.log, heap: () => ({ used, limit: 100 }), now: () => t, sampleMs: 100 });
    assert.equal(g.overloaded(), false);
    used = 60;
    assert.equal(g.overloaded(), false, 'within the sample period the last verdict stands');
    t = 100;
    for (let i = 0; i < 50; i++) {
      t += 100;
      assert.equal(g.overloaded(), true);
    }
    assert.equal(c.text().match(/refusing new work/g)?.length, 1);
    used = 40;
    t += 100;
    assert.equal(g.overloaded(), false);
    assert.match(c.text(), /accepting new work/);
    used = 90;
    t += 100;
    assert.equal(g.overloaded(), true);
    assert.equal(c.text().match(/refusing new work/g)?.length, 2, 'a second episode logs again');
  });
});

describe('descriptor budget', () => {
  test('stops taking before the reserve; a recount gives room back', async () => {
    let open = 90;
    let t = 0;
    const b = new FdBudget({ limit: 200, reserve: 100, count: async () => open, now: () => t, sampleMs: 50 });
    await new Promise((r) => setImmediate(r));
    assert.equal(b.room, 10);
    const taken = [1, 2, 3, 4, 5, 6].map(() => b.take());
    assert.deepEqual(taken, [true, true, true, true, true, false]);
    open = 20;
    t = 100;
    b.take();
    await new Promise((r) => setImmediate(r));
    assert.ok(b.take());
    assert.ok(b.room > 50);
  });
  test('/proc limits parsing', () => {
    assert.deepEqual(parseFileLimit('Max cpu time  unlimited unlimited seconds\nMax open files            1024                 524288               files\n'), {
      soft: 1024,
      hard: 524288,
    });
    assert.equal(parseFileLimit('nothing'), undefined);
  });
});

class FakeSocket extends EventEmitter {
  constructor(readonly remoteAddress: string) {
    super();
  }
}

describe('connection admission', () => {
  const sock = (ip: string) => new FakeSocket(ip) as unknown as Socket;
  test('per-IP cap: one address is stopped, others are not; a closed connection frees its slot', () => {
    const g = new ConnectionGuard('PROXY_RTMP_SERVER', { maxConnections: 100, maxConnectionsPerIp: 3 }, capture().log);
    const a = [sock('10.0.0.1'), sock('10.0.0.1'), sock('10.0.0.1')];
    for (const s of a) assert.equal(g.admit(s), undefined);
    assert.match(g.admit(sock('10.0.0.1')) ?? '', /PROXY_MAX_CONNECTIONS_PER_IP \(3\)/);
    assert.equal(g.admit(sock('10.0.0.2')), undefined);
    a[0]!.emit('close');
    assert.equal(g.admit(sock('10.0.0.1')), undefined);
  });
  test('total cap across addresses, and the heap guard', () => {
    let over = false;
    const g = new ConnectionGuard('PROXY_HTTP_SERVER', { maxConnections: 2, maxConnectionsPerIp: 10, overloaded: () => over }, capture().log);
    assert.equal(g.admit(sock('10.0.0.1')), undefined);
    assert.equal(g.admit(sock('10.0.0.2')), undefined);
    assert.match(g.admit(sock('10.0.0.3')) ?? '', /PROXY_MAX_CONNECTIONS \(2\)/);
    const g2 = new ConnectionGuard('PROXY_HTTP_SERVER', { maxConnections: 2, maxConnectionsPerIp: 10, overloaded: () => over }, capture().log);
    over = true;
    assert.match(g2.admit(sock('10.0.0.1')) ?? '', /PROXY_MAX_HEAP_RATIO/);
  });
  test('worker shares add up to the configured cap (at least 1 each); one process keeps the cap', () => {
    for (const [cap, workers] of [
      [100000, 2],
      [5, 2],
      [7, 3],
      [4, 4],
      [1000, 7],
    ] as const) {
      const shares = Array.from({ length: workers }, (_, slot) => workerShare(cap, workers, slot));
      assert.equal(
        shares.reduce((a, b) => a + b, 0),
        cap,
        `${cap} over ${workers}: ${shares.join(' + ')}`,
      );
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }
    assert.deepEqual(
      [0, 1, 2].map((slot) => workerShare(2, 3, slot)),
      [1, 1, 1],
      'never 0: a worker with no share would refuse everyone',
    );
    assert.equal(workerShare(5, 1, 0), 5);
    const base = { maxConnections: 5, maxConnectionsPerIp: 3 };
    assert.equal(workerLimits(base, 1, 0), base);
    const w1 = workerLimits(base, 2, 1);
    assert.deepEqual([w1.maxConnections, w1.maxConnectionsPerIp], [2, 1]);
    const g = new ConnectionGuard('PROXY_RTMP_SERVER', w1, capture().log);
    assert.equal(g.admit(sock('10.0.0.1')), undefined);
    assert.match(g.admit(sock('10.0.0.1')) ?? '', /PROXY_MAX_CONNECTIONS_PER_IP \(3; this worker's share 1 of 2 workers\)/);
  });
});

describe('HLS session records', () => {
  test('a byte budget bounds the records whatever their keys, and the URL is cut', async () => {
    const b = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 10, maxHlsSessionBytes: 64 * 1024 });
    const key = (i: number) => `__defaultVhost__/live/${'k'.repeat(900)}${i}`;
    const first = await b.hlsSession(key(0), `http://${'h'.repeat(16 * 1024)}/live/x.m3u8`);
    assert.ok(first.fullUrl.length <= MAX_HLS_URL);
    let refused = 0;
    for (let i = 1; i < 500; i++) await b.hlsSession(key(i), 'u').catch(() => refused++);
    assert.ok(refused > 400, `${refused} refused`);
    // Nothing was evicted to make room: the oldest record is still the same session.
    assert.equal((await b.hlsSession(key(0), 'again')).spbhid, first.spbhid);
  });
  test('TtlMap tracks bytes through set, delete, expiry and eviction', () => {
    let t = 0;
    const m = new TtlMap<string, string>(100, 1000, () => t, { maxBytes: 30, sizeOf: (_k, v) => v.length });
    m.set('a', 'x'.repeat(10));
    m.set('b', 'x'.repeat(10));
    assert.equal(m.bytes, 20);
    m.set('c', 'x'.repeat(15));
    assert.equal(m.size, 2);
    assert.equal(m.bytes, 25);
    m.delete('b');
    assert.equal(m.bytes, 15);
    t = 200;
    m.sweep();
    assert.equal(m.bytes, 0);
  });
});

describe('origin response headers', () => {
  test('values with control characters and names that are not tokens are dropped', () => {
    const out = forwardResponseHeaders(
      {
        'x-ok': 'fine\tvalue',
        'x-nul': 'a\x00b',
        'x-esc': 'a\x1bb',
        'x-del': 'a\x7fb',
        'x-crlf': 'a\r\nset-cookie: evil=1',
        'set-cookie': ['good=1', 'bad=\x01'],
        'bad name': 'x',
        'content-type': 'video/x-flv',
      },
      { keepLength: false },
    );
    assert.deepEqual(out, { 'x-ok': 'fine\tvalue', 'set-cookie': ['good=1'], 'content-type': 'video/x-flv' });
  });
});
