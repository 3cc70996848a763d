// The proxy's HTTP/1.1 origin client (src/net/origin-client.ts) against raw loopback origins: keep-alive
// reuse, the per-origin connection limit, aborts freeing the connection, the headers timeout, refused dials,
// a keep-alive connection the origin closed, malformed answers, idle close, and backpressure; attacks on
// its bounds: a flood past the pool and its queues, a wait past its deadline, a waiting request dropped,
// the origin's Keep-Alive hint, a body that stops after its head.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import {
  OriginBodyTimeout,
  OriginBusy,
  OriginClient,
  OriginHeadersTimeout,
  OriginWaitTimeout,
  idleTimeFor,
  type OriginControl,
  type OriginRequestSpec,
} from '../../src/net/origin-client.js';
import { ResponseParseError } from '../../src/net/http1-response.js';
import { freePort } from '../fixtures/ports.js';
import { waitFor } from '../fixtures/wait.js';

type Answer = (s: Socket, request: string, nth: number) => void;

/** A raw origin: every request head (one at a time per connection) is given to `answer`. */
class RawOrigin {
  server: Server;
  port = 0;
  connections = 0;
  open = new Set<Socket>();
  requests = 0;
  maxOpen = 0;
  constructor(public answer: Answer) {
    this.server = createServer((s) => {
      this.connections++;
      this.open.add(s);
      this.maxOpen = Math.max(this.maxOpen, this.open.size);
      s.on('close', () => this.open.delete(s));
      s.on('error', () => undefined);
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
          const head = buf.slice(0, end);
          buf = buf.slice(end + 4);
          this.answer(s, head, ++this.requests);
        }
      });
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Outcome {
  status?: number;
  headers?: string[];
  body: Buffer;
  err?: Error;
  control?: OriginControl;
  done: Promise<void>;
  received: number;
}

/** One request; chunks copied (the client's slices are views of its read buffer). `pause` returns false from onData. */
function get(client: OriginClient, port: number, path = '/s.ts', o: Partial<OriginRequestSpec> & { pause?: () => boolean } = {}): Outcome {
  const chunks: Buffer[] = [];
  let settle!: () => void;
  const out: Outcome = { body: Buffer.alloc(0), done: new Promise<void>((r) => (settle = r)), received: 0 };
  out.control = client.request(
    { host: '127.0.0.1', port, method: 'GET', path, headers: ['host', `127.0.0.1:${port}`], headersTimeoutMs: 5_000, ...o },
    {
      onHead: (status, headers) => Object.assign(out, { status, headers }),
      onData: (chunk) => {
        chunks.push(Buffer.from(chunk));
        out.received += chunk.length;
        return !(o.pause?.() ?? false);
      },
      onEnd: (err) => {
        out.body = Buffer.concat(chunks);
        if (err) out.err = err;
        settle();
      },
      onFail: (err) => {
        out.err = err;
        settle();
      },
    },
  );
  return out;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SEGMENT = randomBytes(650 * 1024);
const okSegment: Answer = (s) => {
  s.write(`HTTP/1.1 200 OK\r\ncontent-type: video/mp2t\r\ncontent-length: ${SEGMENT.length}\r\n\r\n`);
  s.write(SEGMENT);
};

describe('origin client', () => {
  const origins: RawOrigin[] = [];
  const clients: OriginClient[] = [];
  const origin = async (answer: Answer) => {
    const o = await new RawOrigin(answer).start();
    origins.push(o);
    return o;
  };
  const client = (opts: Partial<ConstructorParameters<typeof OriginClient>[0]> = {}) => {
    const c = new OriginClient({ dialMs: 2_000, ...opts });
    clients.push(c);
    return c;
  };
  before(() => undefined);
  after(async () => {
    for (const c of clients) c.destroy();
    for (const o of origins) await o.stop();
  });

  test('keep-alive: sequential requests share one connection; every body byte-exact', async () => {
    const o = await origin(okSegment);
    const c = client();
    for (let i = 0; i < 5; i++) {
      const r = get(c, o.port);
      await r.done;
      assert.equal(r.err, undefined);
      assert.equal(r.status, 200);
      assert.equal(sha(r.body), sha(SEGMENT));
    }
    assert.equal(o.connections, 1);
    assert.deepEqual(c.connections('127.0.0.1', o.port), { open: 1, idle: 1, waiting: 0 });
  });

  test('the request head: method, path, the given headers, HTTP/1.1, no pipelining', async () => {
    const heads: string[] = [];
    const o = await origin((s, head) => {
      heads.push(head);
      s.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    const c = client();
    const r = get(c, o.port, '/live/a-1.ts?spbhid=abc1234&x=1', { method: 'HEAD', headers: ['host', 'h', 'range', 'bytes=0-1'] });
    await r.done;
    assert.equal(r.status, 204);
    assert.equal(heads[0], 'HEAD /live/a-1.ts?spbhid=abc1234&x=1 HTTP/1.1\r\nhost: h\r\nrange: bytes=0-1');
    assert.throws(() => c.request({ host: '127.0.0.1', port: o.port, method: 'GET', path: '/a b', headers: [], headersTimeoutMs: 0 }, {} as never));
    assert.throws(() =>
      c.request({ host: '127.0.0.1', port: o.port, method: 'GET', path: '/a', headers: ['x', 'a\r\nb: c'], headersTimeoutMs: 0 }, {} as never),
    );
  });

  test('connection limit per origin: requests beyond it wait their turn, none is lost', async () => {
    const o = await origin((s) => setTimeout(() => okSegment(s, '', 0), 20));
    const c = client({ connectionsPerOrigin: 2 });
    const all = Array.from({ length: 8 }, () => get(c, o.port));
    await waitFor(() => c.connections('127.0.0.1', o.port).waiting > 0, { what: 'requests waiting for a connection' });
    await Promise.all(all.map((r) => r.done));
    for (const r of all) assert.equal(sha(r.body), sha(SEGMENT));
    assert.equal(o.maxOpen, 2);
    assert.equal(o.connections, 2);
  });

  test('abort mid-body closes the origin connection; abort while waiting drops the request', async () => {
    // The origin sends the head and a little, then holds the rest.
    const o = await origin((s) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${SEGMENT.length}\r\n\r\nabc`));
    const c = client({ connectionsPerOrigin: 1 });
    const r = get(c, o.port);
    const waiting = get(c, o.port);
    await waitFor(() => r.received > 0, { what: 'the first body bytes' });
    assert.equal(c.connections('127.0.0.1', o.port).waiting, 1);
    waiting.control!.abort();
    await waiting.done;
    assert.match(String(waiting.err), /abandoned/);
    r.control!.abort();
    await r.done;
    assert.match(String(r.err), /abandoned/);
    await waitFor(() => o.open.size === 0, { what: 'the origin sees its connection closed' });
    assert.deepEqual(c.connections('127.0.0.1', o.port), { open: 0, idle: 0, waiting: 0 });
  });

  test('headers timeout: a silent origin fails the request and loses its connection; 0 waits', async () => {
    const o = await origin(() => undefined);
    const c = client();
    const r = get(c, o.port, '/p.m3u8', { headersTimeoutMs: 100 });
    await r.done;
    assert.ok(r.err instanceof OriginHeadersTimeout, String(r.err));
    await waitFor(() => o.open.size === 0, { what: 'the silent connection closed' });
    const held = get(c, o.port, '/p.m3u8?_HLS_msn=5', { headersTimeoutMs: 0 });
    await waitFor(() => o.requests === 2, { what: 'the blocking request reached the origin' });
    o.answer = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    // No timer runs for it: the origin answers whenever it likes.
    const s = [...o.open][0]!;
    okTiny(s);
    await held.done;
    assert.equal(held.body.toString(), 'ok');
  });

  test('a refused dial fails with its errno code (the caller tries the next endpoint)', async () => {
    const port = await freePort();
    const r = get(client(), port);
    await r.done;
    assert.equal((r.err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });

  test('a kept connection the origin closed is replaced once, transparently', async () => {
    // The origin closes each connection right after its answer without saying so (a keep-alive race).
    const o = await origin((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const c = client();
    const first = get(c, o.port);
    await first.done;
    // The client may not have seen the FIN yet: either way the second request gets its answer.
    const second = get(c, o.port);
    await second.done;
    assert.equal(second.err, undefined);
    assert.equal(second.body.toString(), 'ok');
    assert.equal(o.connections, 2);
  });

  test('a malformed answer fails the request and its connection is never reused', async () => {
    const o = await origin((s, _h, n) =>
      s.write(n === 1 ? 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello' : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
    );
    const c = client();
    const bad = get(c, o.port);
    await bad.done;
    assert.ok(bad.err instanceof ResponseParseError, String(bad.err));
    const good = get(c, o.port);
    await good.done;
    assert.equal(good.body.toString(), 'ok');
    assert.equal(o.connections, 2);
    // Cut short mid-body: the body ends with an error (never a short body passed off as whole).
    o.answer = (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort');
    const cut = get(c, o.port);
    await cut.done;
    assert.equal(cut.status, 200);
    assert.match(String(cut.err), /ended its answer early|closed/);
  });

  test('an idle connection is closed after keepAliveMs', async () => {
    const o = await origin((s) => okTiny(s));
    const c = client({ keepAliveMs: 100 });
    const r = get(c, o.port);
    await r.done;
    await waitFor(() => o.open.size === 0 && c.connections('127.0.0.1', o.port).open === 0, { what: 'the idle connection closed' });
  });

  test('destroy closes every connection, busy or idle, and fails the requests under way', async () => {
    const o = await origin((s, _h, n) => (n === 1 ? okTiny(s) : undefined));
    const c = client();
    await get(c, o.port).done;
    const other = await origin(() => undefined);
    const held = get(c, other.port);
    await waitFor(() => other.requests === 1, { what: 'the held request reached its origin' });
    c.destroy();
    await held.done;
    assert.match(String(held.err), /origin client closed/);
    await waitFor(() => o.open.size === 0 && other.open.size === 0, { what: 'both origins see their connections closed' });
    const late = get(c, o.port);
    await late.done;
    assert.match(String(late.err), /origin client closed/);
  });

  test('backpressure: a handler that pauses stops the origin read; resume brings the rest, byte-exact', async () => {
    const big = randomBytes(8 * 1024 * 1024);
    let originBlocked = false;
    const o = await origin((s) => {
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`);
      originBlocked = !s.write(big);
    });
    const c = client();
    let paused = true;
    const r = get(c, o.port, '/big.ts', { pause: () => paused });
    await waitFor(() => r.received > 0 && originBlocked, { what: 'the origin blocked on a paused reader' });
    // Paused: a read already under way is finished, then nothing more is read.
    const seen = r.received;
    await waitFor(() => [...o.open][0]!.writableLength > 0, { what: 'bytes queued at the origin' });
    assert.ok(seen < big.length / 2, `paused after ${seen} bytes`);
    assert.equal(r.received, seen);
    paused = false;
    r.control!.resume();
    await r.done;
    assert.equal(r.err, undefined);
    assert.equal(sha(r.body), sha(big));
  });

  test('attack: a flood past the pool and its queue is refused at once, exactly; a body under way flows on byte-exact', async () => {
    // Request 1 gets its head and part of its body, the rest when told; every other request is held unanswered.
    let rest: (() => void) | undefined;
    const o = await origin((s, _h, n) => {
      if (n !== 1) return;
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${SEGMENT.length}\r\n\r\n`);
      s.write(SEGMENT.subarray(0, 1000));
      rest = () => s.write(SEGMENT.subarray(1000));
    });
    const c = client({ connectionsPerOrigin: 2, waitingPerOrigin: 3, waitMs: 60_000 });
    const flowing = get(c, o.port);
    await waitFor(() => flowing.received === 1000, { what: 'the first body bytes' });
    const held = get(c, o.port);
    await waitFor(() => o.requests === 2, { what: 'the second request at the origin' });
    const queued = Array.from({ length: 3 }, () => get(c, o.port));
    const flood = Array.from({ length: 7 }, () => get(c, o.port));
    await Promise.all(flood.map((r) => r.done));
    for (const r of flood) assert.ok(r.err instanceof OriginBusy, String(r.err));
    assert.deepEqual(c.connections('127.0.0.1', o.port), { open: 2, idle: 0, waiting: 3 });
    assert.equal(c.waitingTotal(), 3);
    assert.equal(o.connections, 2, 'no connection beyond the limit');
    // The body under way is untouched by the refusals.
    rest!();
    await flowing.done;
    assert.equal(flowing.err, undefined);
    assert.equal(sha(flowing.body), sha(SEGMENT));
    // Its connection is free: the first waiting request takes it.
    await waitFor(() => o.requests === 3, { what: 'the first queued request sent on the freed connection' });
    assert.equal(c.connections('127.0.0.1', o.port).waiting, 2);
    for (const r of [held, ...queued]) r.control!.abort();
    await Promise.all([held, ...queued].map((r) => r.done));
    assert.equal(c.waitingTotal(), 0);
  });

  test('attack: the bound over all endpoints refuses a request whose own endpoint still has room', async () => {
    const a = await origin(() => undefined);
    const b = await origin(() => undefined);
    const c = client({ connectionsPerOrigin: 1, waitingPerOrigin: 3, waitingTotal: 4, waitMs: 60_000 });
    const all = [get(c, a.port), get(c, a.port), get(c, a.port), get(c, a.port), get(c, b.port), get(c, b.port)];
    await waitFor(() => a.requests === 1 && b.requests === 1, { what: 'one request at each origin' });
    assert.equal(c.waitingTotal(), 4);
    const refused = get(c, b.port);
    await refused.done;
    assert.ok(refused.err instanceof OriginBusy, String(refused.err));
    assert.deepEqual(c.connections('127.0.0.1', b.port), { open: 1, idle: 0, waiting: 1 });
    for (const r of all) r.control!.abort();
    await Promise.all(all.map((r) => r.done));
    assert.equal(c.waitingTotal(), 0);
  });

  test('stats() over every endpoint matches the pools: busy, idle and waiting, as requests come, wait, finish and leave', async () => {
    const a = await origin(okSegment);
    const b = await origin(() => undefined);
    // Kept alive longer than the test: the idle connection on a stays counted throughout.
    const c = client({ connectionsPerOrigin: 2, waitingPerOrigin: 3, waitingTotal: 4, waitMs: 60_000, keepAliveMs: 60_000 });
    const sum = () => {
      const x = c.connections('127.0.0.1', a.port);
      const y = c.connections('127.0.0.1', b.port);
      return { open: x.open + y.open, idle: x.idle + y.idle, waiting: x.waiting + y.waiting };
    };
    assert.deepEqual(c.stats(), { open: 0, idle: 0, waiting: 0 });
    // One answered segment on a: its connection is kept idle.
    const done = get(c, a.port);
    await done.done;
    assert.equal(done.err, undefined);
    assert.deepEqual(c.stats(), { open: 1, idle: 1, waiting: 0 });
    // b holds every request: 2 busy connections, then 3 waiting.
    const heldB = [get(c, b.port), get(c, b.port)];
    await waitFor(() => b.requests === 2, { what: 'two requests at origin b' });
    const waitingB = [get(c, b.port), get(c, b.port), get(c, b.port)];
    assert.deepEqual(c.stats(), { open: 3, idle: 1, waiting: 3 });
    assert.deepEqual(c.stats(), sum());
    assert.equal(c.stats().waiting, c.waitingTotal());
    // A waiting request that leaves is out of the count at once.
    waitingB[0]!.control!.abort();
    await waitingB[0]!.done;
    assert.deepEqual(c.stats(), { open: 3, idle: 1, waiting: 2 });
    // A held request that leaves closes its connection: the first waiting one dials in its place.
    heldB[0]!.control!.abort();
    await heldB[0]!.done;
    await waitFor(() => b.requests === 3, { what: 'the first waiting request sent on a new connection' });
    assert.deepEqual(c.stats(), { open: 3, idle: 1, waiting: 1 });
    assert.deepEqual(c.stats(), sum());
    // The last waiting one first (no connection is handed to it), then the two on b's connections.
    const rest = [waitingB[2]!, waitingB[1]!, heldB[1]!];
    for (const r of rest) r.control!.abort();
    await Promise.all(rest.map((r) => r.done));
    await waitFor(() => c.stats().open === 1 && b.open.size === 0, { what: "b's connections closed" });
    assert.deepEqual(c.stats(), { open: 1, idle: 1, waiting: 0 });
  });

  test('attack: a request waiting past its deadline fails (OriginWaitTimeout) and leaves the queue; later ones still wait', async () => {
    const o = await origin(() => undefined);
    const c = client({ connectionsPerOrigin: 1, waitMs: 300 });
    const held = get(c, o.port, '/s.ts', { headersTimeoutMs: 0 });
    await waitFor(() => o.requests === 1, { what: 'the held request at the origin' });
    const t0 = performance.now();
    const first = get(c, o.port);
    const second = get(c, o.port);
    await first.done;
    const waited = performance.now() - t0;
    assert.ok(first.err instanceof OriginWaitTimeout, String(first.err));
    assert.ok(waited >= 290, `failed after ${waited.toFixed(0)} ms`);
    await second.done;
    assert.ok(second.err instanceof OriginWaitTimeout, String(second.err));
    assert.deepEqual(c.connections('127.0.0.1', o.port), { open: 1, idle: 0, waiting: 0 });
    // A request queued later has its own full wait.
    const third = get(c, o.port);
    assert.equal(c.connections('127.0.0.1', o.port).waiting, 1);
    held.control!.abort();
    await waitFor(() => o.requests === 2, { what: 'the third request sent once the connection was free' });
    third.control!.abort();
    await third.done;
    assert.equal(c.waitingTotal(), 0);
  });

  test('attack: a request dropped while waiting frees its place at once: the next one waits and is served', async () => {
    let release: (() => void) | undefined;
    const o = await origin((s, _h, n) => {
      if (n === 1) release = () => okTiny(s);
      else okTiny(s);
    });
    const c = client({ connectionsPerOrigin: 1, waitingPerOrigin: 2, waitMs: 60_000 });
    const held = get(c, o.port);
    await waitFor(() => o.requests === 1, { what: 'the held request at the origin' });
    const a = get(c, o.port);
    const b = get(c, o.port);
    assert.equal(c.connections('127.0.0.1', o.port).waiting, 2);
    a.control!.abort();
    assert.equal(c.connections('127.0.0.1', o.port).waiting, 1);
    const next = get(c, o.port);
    assert.equal(c.connections('127.0.0.1', o.port).waiting, 2);
    release!();
    await Promise.all([held.done, b.done, next.done, a.done]);
    assert.match(String(a.err), /abandoned/);
    for (const r of [held, b, next]) {
      assert.equal(r.err, undefined);
      assert.equal(r.body.toString(), 'ok');
    }
    assert.equal(o.connections, 1);
  });

  test("the origin's Keep-Alive timeout: the idle connection is closed here before the origin would", async () => {
    assert.equal(idleTimeFor(4_000, undefined), 4_000);
    assert.equal(idleTimeFor(4_000, 60), 4_000);
    assert.equal(idleTimeFor(4_000, 3), 2_000);
    assert.equal(idleTimeFor(4_000, 1), 500);
    assert.equal(idleTimeFor(4_000, 0), 0);
    // The origin says it keeps idle connections 2 s (and would close at 2 s); it never closes them itself here.
    const closedByClient: number[] = [];
    let answeredAt = 0;
    const o = await origin((s, _h, n) => {
      s.once('end', () => closedByClient.push(performance.now() - answeredAt));
      answeredAt = performance.now();
      s.write(`HTTP/1.1 200 OK\r\nKeep-Alive: timeout=${n === 1 ? 2 : 0}\r\ncontent-length: 2\r\n\r\nok`);
    });
    // Our own keep-alive is a minute: only the hint can close the connection within the wait below.
    const c = client({ keepAliveMs: 60_000 });
    const r = get(c, o.port);
    await r.done;
    assert.equal(r.body.toString(), 'ok');
    assert.deepEqual(c.connections('127.0.0.1', o.port), { open: 1, idle: 1, waiting: 0 });
    await waitFor(() => closedByClient.length === 1, { what: 'the client closing the idle connection (the hint)', timeoutMs: 30_000 });
    // Not before the hint's time less its margin (1 s for a 2 s hint).
    assert.ok(closedByClient[0]! >= 900, `closed ${closedByClient[0]!.toFixed(0)} ms after the answer`);
    assert.equal(c.connections('127.0.0.1', o.port).open, 0);
    // timeout=0: the connection is not kept at all: closed as its answer completes, never idle.
    const once = get(c, o.port);
    await once.done;
    assert.equal(once.body.toString(), 'ok');
    assert.deepEqual(c.connections('127.0.0.1', o.port), { open: 0, idle: 0, waiting: 0 });
    await waitFor(() => closedByClient.length === 2, { what: 'the connection closed after its answer' });
  });

  test('attack: a body that stops after its head fails after bodyIdleMs and its connection closes; a paused reader is not cut', async () => {
    const o = await origin((s) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${SEGMENT.length}\r\n\r\nabc`));
    const c = client({ bodyIdleMs: 200 });
    const r = get(c, o.port);
    await r.done;
    assert.equal(r.status, 200);
    assert.ok(r.err instanceof OriginBodyTimeout, String(r.err));
    assert.equal(r.body.toString(), 'abc');
    await waitFor(() => o.open.size === 0, { what: 'the stalled connection closed' });
    // A reader that pauses: its silence is not the origin's. The same origin, the whole body sent at once.
    o.answer = okSegment;
    let paused = true;
    const slow = get(c, o.port, '/s.ts', { pause: () => paused });
    await waitFor(() => slow.received > 0, { what: 'the first body bytes' });
    // Absence over time is what is checked: several body periods pass while paused.
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(slow.err, undefined);
    paused = false;
    slow.control!.resume();
    await slow.done;
    assert.equal(slow.err, undefined);
    assert.equal(sha(slow.body), sha(SEGMENT));
  });
});

function okTiny(s: Socket): void {
  s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
}
