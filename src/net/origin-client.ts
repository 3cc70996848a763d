// The proxy's own HTTP/1.1 client for GET/HEAD to origins (HLS/DASH playlists, manifests and segments).
// Why not undici: its llhttp runs in WebAssembly, so every socket read is copied into wasm memory, and
// each read is a fresh 64 KiB buffer; for 650 kB segments that copying and garbage was most of the
// proxy's cost over a plain relay (bench/RESULTS.md, "http"). Here each origin socket reads into one
// reused buffer (net's `onread`, src/net/read-buffer.ts); body bytes go to the caller as slices of it,
// and the caller says when a slice must outlive the call (handOff: the next read gets a fresh buffer).
// Keep-alive pool per origin endpoint: at most `connectionsPerOrigin` connections (requests beyond wait
// in order, at most `waitingPerOrigin` of them per endpoint and `waitingTotal` in all, each for at most
// `waitMs`), idle ones closed after `keepAliveMs` (sooner when the origin's Keep-Alive says it closes
// sooner), one request at a time per connection (no pipelining). Every wait on a peer has a timer: the
// dial (dialMs), a place in the queue (waitMs), the response head (the request's headersTimeoutMs), a body
// that stops flowing while its reader takes it (bodyIdleMs), an idle kept connection (keepAliveMs).
// A request that finds a reused connection closed before any byte of its answer is sent once more on a
// new connection (GET and HEAD are idempotent; the origin may have closed it just as it was picked).
// Pools are keyed by the endpoints of registered origins (never by anything a player names) and forgotten
// when nothing is open or waiting. docs/BEHAVIOUR.md 5.9 says what clients see.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fairTimeout, type FairTimeout } from './fair-timeout.js';
import { ResponseParser, type ResponseEvents } from './http1-response.js';
import { keepAlive } from './keepalive.js';
import { READ_BUFFER_MAX, READ_BUFFER_MIN } from './read-buffer.js';
import { hostPort } from '../balancer/endpoint.js';

/** The origin did not accept a connection within the dial time. */
export class OriginConnectTimeout extends Error {
  override readonly name = 'OriginConnectTimeout';
  readonly code = 'ORIGIN_CONNECT_TIMEOUT';
}

/** The origin's response head did not come within the request's headers time. */
export class OriginHeadersTimeout extends Error {
  override readonly name = 'OriginHeadersTimeout';
  readonly code = 'ORIGIN_HEADERS_TIMEOUT';
}

/** Every connection to the endpoint is busy and its queue (or all queues together) is full: try again shortly. */
export class OriginBusy extends Error {
  override readonly name = 'OriginBusy';
  readonly code = 'ORIGIN_BUSY';
}

/** No connection to the endpoint came free within the wait time (every one busy, e.g. held by blocking reloads). */
export class OriginWaitTimeout extends Error {
  override readonly name = 'OriginWaitTimeout';
  readonly code = 'ORIGIN_WAIT_TIMEOUT';
}

/** The body stopped flowing for bodyIdleMs while its reader was taking it. */
export class OriginBodyTimeout extends Error {
  override readonly name = 'OriginBodyTimeout';
  readonly code = 'ORIGIN_BODY_TIMEOUT';
}

/** An established connection failed or closed mid-answer (not a dial failure: no failover). */
class OriginConnectionLost extends Error {
  override readonly name = 'OriginConnectionLost';
  readonly code = 'ORIGIN_CONNECTION_LOST';
}

/** The request was abandoned by its caller. */
class OriginRequestAborted extends Error {
  override readonly name = 'OriginRequestAborted';
}

/** What the caller can do with a request under way. */
export interface OriginControl {
  /** Drops the request (and its connection unless it is idle again): the handler hears `err` once. */
  abort(err?: Error): void;
  /** Reading was paused (onData returned false): read on. */
  resume(): void;
  /**
   * The body slice being handled stays referenced after onData returns (a queued write holds it). With
   * `recyclable` false its buffer is never taken back by recycle() (the caller keeps the slice beyond its writes).
   */
  handOff(recyclable?: boolean): void;
  /**
   * Nothing references the slices handed off so far any more (the writes that held them are done): their
   * memory may take the next reads. Call it only when that is certain (the writer's queue is empty).
   */
  recycle(): void;
}

export interface OriginHandler {
  /** The final response head (status 200–999; names and values as sent). */
  onHead(status: number, headers: string[], control: OriginControl): void;
  /** A body slice, valid only during this call unless handOff() is called; false pauses the origin. */
  onData(chunk: Buffer): boolean;
  /** The body ended: complete, or cut short with `err`. */
  onEnd(err?: Error): void;
  /** No response head: dial failure (errno code or OriginConnectTimeout), timeout, abort, malformed answer. */
  onFail(err: Error): void;
}

export interface OriginRequestSpec {
  host: string;
  port: number;
  method: 'GET' | 'HEAD';
  /** Path and query (no CR, LF, space or control characters). */
  path: string;
  /** Flat `[name, value, …]` list; Host included. */
  headers: readonly string[];
  /** Time from sending to the response head; 0 = no limit (LL-HLS blocking reloads). */
  headersTimeoutMs: number;
}

export interface OriginClientOptions {
  dialMs: number;
  /** Connections per origin endpoint (busy, idle and being dialled). Default 256. */
  connectionsPerOrigin?: number;
  /** An idle connection is closed after this long (or sooner, see idleTimeFor). Default 4 s. */
  keepAliveMs?: number;
  /** How long a request may wait for a connection of a full pool. Default dialMs (the time to get a connection). */
  waitMs?: number;
  /** Requests waiting per origin endpoint; beyond it a request fails at once (OriginBusy). Default 256. */
  waitingPerOrigin?: number;
  /** Requests waiting over all endpoints. Default 1024. */
  waitingTotal?: number;
  /** A body silent this long while its reader takes it fails (OriginBodyTimeout). Default 30 s; 0 = none. */
  bodyIdleMs?: number;
}

/**
 * How long a connection may stay idle after an answer whose Keep-Alive named `timeoutS`: our own limit, or
 * less than the origin's with a margin (1 s, or half of it below 2 s) so that it is closed here before the
 * origin closes it under a request being sent. 0 = not kept at all (`timeout=0`).
 */
export function idleTimeFor(keepAliveMs: number, timeoutS: number | undefined): number {
  if (timeoutS === undefined) return keepAliveMs;
  const ms = timeoutS * 1000;
  return Math.max(0, Math.min(keepAliveMs, ms - Math.min(1000, ms / 2)));
}

const INVALID_VALUE = /[\r\n\0]/;

/** A request target needs no escaping: printable ASCII only, no space (a URL's pathname and search always are). */
function invalidPath(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return true;
  }
  return false;
}

/** The origin client's state over every endpoint (docs/BEHAVIOUR.md §5.9); numbers only, summed over workers. */
export interface OriginClientStats {
  /** Connections open or being dialled (busy and idle). */
  open: number;
  /** Of those, kept alive with no request on them. */
  idle: number;
  /** Requests waiting for a connection (a place in a pool's queue). */
  waiting: number;
}

export class OriginClient {
  private readonly pools = new Map<string, Pool>();
  readonly dialMs: number;
  readonly maxConnections: number;
  readonly keepAliveMs: number;
  readonly waitMs: number;
  readonly maxWaitingPerOrigin: number;
  readonly maxWaiting: number;
  readonly bodyIdleMs: number;
  /** Requests waiting in all pools. */
  waiting = 0;
  private destroyed = false;

  constructor(opts: OriginClientOptions) {
    this.dialMs = opts.dialMs;
    this.maxConnections = opts.connectionsPerOrigin ?? 256;
    this.keepAliveMs = opts.keepAliveMs ?? 4_000;
    this.waitMs = opts.waitMs ?? opts.dialMs;
    this.maxWaitingPerOrigin = opts.waitingPerOrigin ?? 256;
    this.maxWaiting = opts.waitingTotal ?? 1024;
    this.bodyIdleMs = opts.bodyIdleMs ?? 30_000;
  }

  /** Starts a request; the handler hears its outcome (never synchronously). */
  request(spec: OriginRequestSpec, handler: OriginHandler): OriginControl {
    const head = serializeRequest(spec);
    const key = hostPort(spec.host, spec.port);
    let pool = this.pools.get(key);
    if (!pool) this.pools.set(key, (pool = new Pool(this, spec.host, spec.port, key)));
    const exchange = new Exchange(pool, head, spec.method === 'HEAD', spec.headersTimeoutMs, handler);
    if (this.destroyed) queueMicrotask(() => exchange.abort(new OriginConnectionLost('origin client closed')));
    else pool.acquire(exchange, false);
    return exchange;
  }

  /** Connections per origin endpoint now (for tests and stats): busy, idle, being dialled; requests waiting. */
  connections(host: string, port: number): { open: number; idle: number; waiting: number } {
    const pool = this.pools.get(hostPort(host, port));
    return { open: pool?.count ?? 0, idle: pool?.idle.length ?? 0, waiting: pool?.queue.length ?? 0 };
  }

  /** Closes every connection; requests under way or waiting fail. */
  destroy(): void {
    this.destroyed = true;
    for (const pool of [...this.pools.values()]) pool.destroy();
  }

  /** Requests waiting in all pools now (for tests and stats). */
  waitingTotal(): number {
    return this.waiting;
  }

  /** Over every endpoint now (stats API, `/metrics`): connections open or being dialled, those idle, requests waiting. */
  stats(): OriginClientStats {
    let open = 0;
    let idle = 0;
    for (const pool of this.pools.values()) {
      open += pool.count;
      idle += pool.idle.length;
    }
    return { open, idle, waiting: this.waiting };
  }

  /** A pool with nothing open and nothing waiting is forgotten. */
  forget(pool: Pool): void {
    if (pool.count === 0 && pool.queue.length === 0 && this.pools.get(pool.key) === pool) {
      pool.stopWaitTimer();
      this.pools.delete(pool.key);
    }
  }
}

function serializeRequest(spec: OriginRequestSpec): string {
  if (invalidPath(spec.path) || !spec.path.startsWith('/')) throw new TypeError('invalid request path');
  let head = `${spec.method} ${spec.path} HTTP/1.1\r\n`;
  const h = spec.headers;
  for (let i = 0; i + 1 < h.length; i += 2) {
    // Values come from a parsed client request or from the proxy: a CR/LF here would be a bug, never sent.
    if (INVALID_VALUE.test(h[i + 1]!)) throw new TypeError(`invalid value for header ${h[i]}`);
    head += `${h[i]}: ${h[i + 1]}\r\n`;
  }
  return `${head}\r\n`;
}

/** One origin endpoint's connections and the requests waiting for one. */
class Pool {
  readonly idle: Connection[] = [];
  readonly queue: Exchange[] = [];
  /** Every connection open or being dialled (closed all at once by destroy()). */
  readonly all = new Set<Connection>();
  /** Connections open or being dialled. */
  count = 0;
  /** Fires when the first waiting request's time is up (one timer per pool: waits end in queue order). */
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly client: OriginClient,
    readonly host: string,
    readonly port: number,
    readonly key: string,
  ) {}

  /** A connection for `exchange`: an idle one (unless `fresh`), a new one within the limit, or a place in the queue. */
  acquire(exchange: Exchange, fresh: boolean): void {
    if (!fresh) {
      const conn = this.idle.pop();
      if (conn) {
        conn.start(exchange);
        return;
      }
    }
    if (this.count < this.client.maxConnections) {
      this.dial(exchange);
      return;
    }
    exchange.state = 'queued';
    const client = this.client;
    if (this.queue.length >= client.maxWaitingPerOrigin || client.waiting >= client.maxWaiting) {
      // Refused before it waits (never synchronously: the caller may still be setting up).
      queueMicrotask(() => exchange.fail(new OriginBusy('too many requests waiting for an origin connection')));
      return;
    }
    exchange.waitDue = performance.now() + client.waitMs;
    this.queue.push(exchange);
    client.waiting++;
    if (!this.waitTimer) this.armWaitTimer(client.waitMs);
  }

  /** The first waiting request, out of the queue. */
  private next(): Exchange | undefined {
    const ex = this.queue.shift();
    if (ex) this.client.waiting--;
    return ex;
  }

  private armWaitTimer(ms: number): void {
    this.waitTimer = setTimeout(this.onWaitTimer, Math.max(1, Math.ceil(ms)));
    this.waitTimer.unref();
  }

  private readonly onWaitTimer = (): void => {
    this.waitTimer = undefined;
    const now = performance.now();
    // Deadlines grow along the queue (same wait for all, queued in order; a retry joins at the back).
    while (this.queue.length > 0 && this.queue[0]!.waitDue <= now) {
      this.next()!.fail(new OriginWaitTimeout(`no origin connection free within ${this.client.waitMs} ms`));
    }
    if (this.queue.length > 0) this.armWaitTimer(this.queue[0]!.waitDue - now);
    else this.client.forget(this);
  };

  stopWaitTimer(): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
  }

  private dial(exchange: Exchange): void {
    this.count++;
    exchange.state = 'connecting';
    const conn = new Connection(this, exchange);
    this.all.add(conn);
    exchange.conn = conn;
  }

  /** `conn` is free: the next waiting request gets it, else it waits idle. */
  release(conn: Connection): void {
    const next = this.next();
    if (next) {
      conn.start(next);
      return;
    }
    this.idle.push(conn);
    conn.idleFrom(Date.now());
  }

  /** `conn` is gone: a waiting request may dial in its place. */
  closed(conn: Connection): void {
    this.count--;
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    const next = this.next();
    if (next) this.dial(next);
    else this.client.forget(this);
  }

  unqueue(exchange: Exchange): void {
    const i = this.queue.indexOf(exchange);
    if (i !== -1) {
      this.queue.splice(i, 1);
      this.client.waiting--;
    }
    this.client.forget(this);
  }

  destroy(): void {
    this.stopWaitTimer();
    const queued = this.queue.splice(0);
    this.client.waiting -= queued.length;
    for (const ex of queued) ex.abort(new OriginConnectionLost('origin client closed'));
    for (const conn of [...this.all]) conn.abandon(new OriginConnectionLost('origin client closed'));
    this.client.forget(this);
  }
}

type ExchangeState = 'queued' | 'connecting' | 'sent' | 'body' | 'done';

/** One request and its answer. */
class Exchange implements ResponseEvents, OriginControl {
  state: ExchangeState = 'queued';
  conn: Connection | undefined;
  parser: ResponseParser;
  /** Bytes of the answer arrived (a connection lost after that is never retried). */
  answered = false;
  retried = false;
  complete = false;

  constructor(
    readonly pool: Pool,
    readonly head: string,
    readonly isHead: boolean,
    readonly headersMs: number,
    readonly handler: OriginHandler,
  ) {
    this.parser = new ResponseParser(this, isHead);
  }

  /** When the response head is due (ms, performance.now()); 0 = no limit. Set at the first send. */
  headDue = 0;
  /** While queued: when its wait ends (ms, performance.now()). */
  waitDue = 0;

  /** Written to a connection (the headers time runs from the first send, a retry included). */
  sent(): void {
    this.state = 'sent';
    if (this.headersMs > 0 && this.headDue === 0) this.headDue = performance.now() + this.headersMs;
  }

  /** The connection's head timer fired: past the due time without a head, the request fails. */
  checkHead(now: number): boolean {
    if (this.state !== 'sent' || this.headDue === 0 || now < this.headDue) return false;
    this.abort(new OriginHeadersTimeout(`no response head within ${this.headersMs} ms`));
    return true;
  }

  onHead(status: number, headers: string[]): void {
    if (this.state !== 'sent') return;
    this.state = 'body';
    this.conn?.bodyStarted();
    this.handler.onHead(status, headers, this);
  }

  onBody(chunk: Buffer): void {
    if (this.state !== 'body' || chunk.length === 0) return;
    if (!this.handler.onData(chunk)) this.conn?.pause();
  }

  onEnd(): void {
    // Settled by the connection once the read that completed it is handled (see Connection.onRead).
    this.complete = true;
  }

  /** The answer is whole: the caller hears it after the connection was released. */
  finished(): void {
    if (this.state !== 'body') return;
    this.state = 'done';
    this.conn = undefined;
    this.handler.onEnd();
  }

  /** The exchange failed (`err` goes to the handler once); `conn` is closed by the caller when it was involved. */
  fail(err: Error): void {
    const state = this.state;
    if (state === 'done') return;
    this.state = 'done';
    this.conn = undefined;
    if (state === 'body') this.handler.onEnd(err);
    else this.handler.onFail(err);
  }

  abort(err: Error = new OriginRequestAborted('request abandoned')): void {
    switch (this.state) {
      case 'done':
        return;
      case 'queued':
        this.pool.unqueue(this);
        this.fail(err);
        return;
      case 'connecting':
        // The connection being dialled serves the next request (or waits idle) once it connects.
        this.conn!.orphan();
        this.fail(err);
        return;
      default: {
        const conn = this.conn;
        this.fail(err);
        conn?.close();
      }
    }
  }

  resume(): void {
    this.conn?.resume();
  }

  handOff(recyclable = true): void {
    this.conn?.handOff(recyclable);
  }

  recycle(): void {
    this.conn?.recycle();
  }
}

/**
 * The memory a connection reads into: one buffer reused from read to read (as src/net/read-buffer.ts), and when
 * a read was handed off (a queued write holds it) the next read takes a spare buffer, not a fresh one: the
 * handed-off buffers come back as spares once the caller says their writes are done (recycle). A slow player
 * then costs no allocation (and no garbage) per read. At most SPARES buffers are kept per connection.
 */
class LendingReadBuffer {
  private buf: Buffer = Buffer.allocUnsafe(READ_BUFFER_MIN);
  private readonly lent: Buffer[] = [];
  private readonly spare: Buffer[] = [];

  readonly next = (): Buffer => this.buf;

  /** After a read of `n` bytes; `retained`: a slice of it is still referenced; `lendable`: only by writes (see recycle). */
  settle(n: number, retained: boolean, lendable: boolean): void {
    if (retained) {
      // Only full-size buffers are worth keeping for reuse.
      if (lendable && this.buf.length === READ_BUFFER_MAX && this.lent.length < SPARES) this.lent.push(this.buf);
      this.buf = this.spare.pop() ?? Buffer.allocUnsafe(n >= this.buf.length ? READ_BUFFER_MAX : this.buf.length);
    } else if (n >= this.buf.length && this.buf.length < READ_BUFFER_MAX) {
      this.buf = Buffer.allocUnsafe(READ_BUFFER_MAX);
    }
  }

  recycle(): void {
    while (this.lent.length > 0 && this.spare.length < SPARES) this.spare.push(this.lent.pop()!);
    this.lent.length = 0;
  }

  /**
   * A new request: buffers lent for the previous one may still be held by its client's queued writes, which
   * this request's caller knows nothing of: they are never recycled (the garbage collector takes them).
   */
  forgetLent(): void {
    this.lent.length = 0;
  }
}

const SPARES = 2;

/** One keep-alive connection to an origin endpoint. */
class Connection {
  readonly socket: Socket;
  private readonly reads = new LendingReadBuffer();
  private exchange: Exchange | undefined;
  /** The exchange this connection is being dialled for (undefined once it was abandoned). */
  private dialFor: Exchange | undefined;
  private dialTimer: FairTimeout | undefined;
  private connected = false;
  private closed = false;
  private handedOff = false;
  /** The current read's buffer is kept by the caller beyond any write: never lent back as a spare. */
  private keptForGood = false;
  /** The handler asked for no more body for now. */
  private paused = false;
  /** Reading is stopped (a read callback returned false). */
  private stopped = false;
  private served = 0;
  private idleSince = 0;
  private headTimer: NodeJS.Timeout | undefined;
  private headTimerMs = 0;
  private idleTimer: NodeJS.Timeout;
  /** How long this connection may stay idle now (the origin's last Keep-Alive hint may shorten it). */
  private idleMs: number;
  /** The duration idleTimer was made with (refresh() keeps it). */
  private idleTimerMs: number;
  /** Watches the body: created at the first body, re-armed per answer (refresh), never per read. */
  private bodyTimer: NodeJS.Timeout | undefined;
  /** Bytes arrived (or the reader paused) since the body timer last looked. */
  private flowed = false;

  constructor(
    private readonly pool: Pool,
    exchange: Exchange,
  ) {
    this.dialFor = exchange;
    this.socket = connect({ host: pool.host, port: pool.port, noDelay: true, onread: { buffer: this.reads.next, callback: this.onRead } });
    this.socket.on('error', this.onError).on('end', this.onEnd).on('close', this.onClose);
    this.socket.once('connect', this.onConnect);
    // Fair: a stall of the proxy itself does not fail an origin that accepted meanwhile.
    this.dialTimer = fairTimeout(() => this.dialFailed(new OriginConnectTimeout(`no connection within ${pool.client.dialMs} ms`)), pool.client.dialMs);
    this.idleMs = this.idleTimerMs = pool.client.keepAliveMs;
    this.idleTimer = setTimeout(this.onIdleTimer, this.idleMs);
    this.idleTimer.unref();
  }

  private readonly onConnect = (): void => {
    this.dialTimer?.clear();
    this.dialTimer = undefined;
    this.connected = true;
    // LL-HLS blocking reloads may keep a connection silent for a minute: the kernel watches the peer.
    keepAlive(this.socket);
    const ex = this.dialFor;
    this.dialFor = undefined;
    if (ex) this.start(ex);
    else this.pool.release(this);
  };

  /** The request this connection was dialled for was abandoned. */
  orphan(): void {
    this.dialFor = undefined;
  }

  private dialFailed(err: Error): void {
    if (this.connected || this.closed) return;
    const ex = this.dialFor;
    this.dialFor = undefined;
    this.close();
    ex?.fail(err);
  }

  start(ex: Exchange): void {
    this.reads.forgetLent();
    this.exchange = ex;
    ex.conn = this;
    this.paused = false;
    ex.sent();
    this.armHeadTimer(ex);
    this.served++;
    this.socket.write(ex.head, 'latin1');
    // An idle connection keeps reading (to see the origin close it); one left paused is read again.
    if (this.stopped) {
      this.stopped = false;
      this.socket.resume();
    }
  }

  /**
   * One timer per connection, re-armed (refresh) for each request rather than created: it fires when the
   * current request's head is due, and does nothing if the head came (or the request ended) meanwhile.
   */
  private armHeadTimer(ex: Exchange): void {
    if (ex.headDue === 0) return;
    const left = ex.headDue - performance.now();
    // A request's whole time is left (not a retry or a re-check): the timer made for that duration is reused.
    const whole = left >= ex.headersMs - 1;
    if (this.headTimer && whole && this.headTimerMs === ex.headersMs) {
      this.headTimer.refresh();
      return;
    }
    if (this.headTimer) clearTimeout(this.headTimer);
    this.headTimerMs = whole ? ex.headersMs : -1;
    this.headTimer = setTimeout(this.onHeadTimer, whole ? ex.headersMs : Math.max(1, Math.ceil(left)));
    this.headTimer.unref();
  }

  private readonly onHeadTimer = (): void => {
    const ex = this.exchange;
    if (!ex || ex.checkHead(performance.now())) return;
    // Fired early for this request (armed for an earlier one with less time left): wait for its own due time.
    if (ex.state === 'sent' && ex.headDue > 0) this.armHeadTimer(ex);
  };

  /**
   * Idle from `now`. The idle timer is not re-armed per request: it keeps running (busy or not) and, when it
   * fires, closes the connection only after idleMs (keepAliveMs or the origin's shorter hint) of idleness, else waits the rest.
   */
  idleFrom(now: number): void {
    this.idleSince = now;
    // A running timer longer than the idle time allowed now (an origin's shorter hint) would fire too late.
    if (this.idleMs < this.idleTimerMs) this.armIdle(this.idleMs);
  }

  private readonly onIdleTimer = (): void => {
    if (this.closed) return;
    if (this.exchange || !this.connected) {
      this.armIdle(this.idleMs);
      return;
    }
    const left = this.idleMs - (Date.now() - this.idleSince);
    if (left <= 0) this.close();
    // Idle for less than idleMs: fire again when it will have been (a timer made once per idle stretch).
    else this.armIdle(left);
  };

  /** The idle timer fires in `ms` (refreshed when it already runs for that long, else made anew). */
  private armIdle(ms: number): void {
    if (ms === this.idleTimerMs) {
      this.idleTimer.refresh();
      return;
    }
    clearTimeout(this.idleTimer);
    this.idleTimerMs = ms;
    this.idleTimer = setTimeout(this.onIdleTimer, ms);
    this.idleTimer.unref();
  }

  /** The answer's head came: its body is watched from now. */
  bodyStarted(): void {
    const ms = this.pool.client.bodyIdleMs;
    if (ms <= 0) return;
    this.flowed = true;
    if (this.bodyTimer) {
      this.bodyTimer.refresh();
    } else {
      this.bodyTimer = setTimeout(this.onBodyTimer, ms);
      this.bodyTimer.unref();
    }
  }

  /**
   * Checked every bodyIdleMs, not per read: a body silent for a whole period (between one and two periods
   * after its last bytes) while its reader was taking it fails. A paused reader is its caller's to time
   * (the relay cuts a player that takes nothing, docs/BEHAVIOUR.md 5.9): not the origin's stall.
   */
  private readonly onBodyTimer = (): void => {
    const ex = this.exchange;
    if (!ex || ex.state !== 'body' || this.closed) return;
    if (!this.flowed && !this.paused) {
      ex.abort(new OriginBodyTimeout(`origin body silent for ${this.pool.client.bodyIdleMs} ms`));
      return;
    }
    this.flowed = false;
    this.bodyTimer!.refresh();
  };

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    // The silence while paused was ours: the origin's time runs from now.
    this.flowed = true;
    if (this.stopped) {
      this.stopped = false;
      this.socket.resume();
    }
  }

  handOff(recyclable: boolean): void {
    this.handedOff = true;
    if (!recyclable) this.keptForGood = true;
  }

  recycle(): void {
    this.reads.recycle();
  }

  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    const go = this.read(n, buf as Buffer);
    if (!go) this.stopped = true;
    return go;
  };

  /** One socket read; false stops reading. */
  private read(n: number, buf: Buffer): boolean {
    const ex = this.exchange;
    if (!ex) {
      // Nothing was asked: an origin talking on an idle connection cannot be trusted with the next request.
      this.close();
      return false;
    }
    ex.answered = true;
    this.flowed = true;
    this.handedOff = false;
    this.keptForGood = false;
    try {
      ex.parser.push(buf.subarray(0, n));
    } catch (err) {
      this.reads.settle(n, true, false);
      ex.fail(err as Error);
      this.close();
      return false;
    }
    this.reads.settle(n, this.handedOff, !this.keptForGood);
    if (this.closed) return false;
    if (this.exchange !== ex) return !this.paused;
    if (ex.complete) {
      this.exchange = undefined;
      this.idleMs = idleTimeFor(this.pool.client.keepAliveMs, ex.parser.keepAliveTimeoutS);
      if (ex.parser.keepAlive && !ex.parser.extra && this.idleMs > 0) this.pool.release(this);
      else this.close();
      ex.finished();
      // Idle or serving the next request: reading goes on (an idle connection must see the origin close it).
      this.paused = false;
      return !this.closed;
    }
    return !this.paused;
  }

  private readonly onEnd = (): void => this.lost();

  private readonly onError = (err: NodeJS.ErrnoException): void => this.lost(err);

  private readonly onClose = (): void => this.lost();

  /** The socket ended, failed or closed. */
  private lost(err?: NodeJS.ErrnoException): void {
    if (!this.connected && this.dialFor) {
      // A dial failure: its errno code (ECONNREFUSED, …) lets the caller try the next endpoint.
      const ex = this.dialFor;
      this.dialFor = undefined;
      this.close();
      ex.fail(err ?? new OriginConnectionLost('origin closed the connection while connecting'));
      return;
    }
    const ex = this.exchange;
    this.exchange = undefined;
    this.close();
    if (!ex) return;
    if (!ex.answered && this.served > 1 && !ex.retried && ex.state === 'sent') {
      // A reused connection the origin had closed (keep-alive race): once more on a new connection.
      ex.retried = true;
      ex.conn = undefined;
      this.pool.acquire(ex, true);
      return;
    }
    if (ex.state === 'body' && !err) {
      try {
        ex.parser.finish();
      } catch (e) {
        ex.fail(e as Error);
        return;
      }
      if (ex.complete) ex.finished();
      return;
    }
    if (ex.state === 'sent' && !err) {
      try {
        ex.parser.finish();
      } catch (e) {
        ex.fail(e as Error);
        return;
      }
    }
    ex.fail(new OriginConnectionLost(err ? `origin connection failed (${err.code ?? err.message})` : 'origin closed the connection'));
  }

  /** Closes the connection, failing whatever it carries or is being dialled for. */
  abandon(err: Error): void {
    const ex = this.exchange ?? this.dialFor;
    this.dialFor = undefined;
    this.close();
    ex?.fail(err);
  }

  /** Closes the socket (once) and leaves the pool. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.exchange = undefined;
    this.dialTimer?.clear();
    clearTimeout(this.idleTimer);
    if (this.headTimer) clearTimeout(this.headTimer);
    if (this.bodyTimer) clearTimeout(this.bodyTimer);
    this.socket.destroy();
    this.pool.closed(this);
  }
}
