// Live streams (HTTP-FLV/TS/AAC/MP3) as a byte pipe: after the origin's response head, the origin
// socket is piped straight into the client socket, framing (chunked or close-delimited) included.
// This skips parsing and re-chunking every FLV tag — the per-chunk work that dominates CPU at
// streaming rates — so a live relay costs about what a plain TCP relay costs. The origin socket reads
// into one reused buffer (net's `onread`), each read becomes one client write, and the buffer is only
// replaced when a write had to be queued (the queued bytes still point into it): no allocation per read
// while the player keeps up.
// One dedicated origin connection per live request (Connection: close both ways): live bodies last
// until either side leaves, so there is nothing to pool.
// A player may wait for its stream: origins hold the response head until the stream is published (SRS),
// or answer at once and stay silent until it is (node-media-server), and keep the player through a
// publisher's reconnect. So the head has no deadline, and a silent body is not idle; dead peers are found by
// TCP keepalive on both sockets, the client leaving closes the origin connection at once, and a client that
// stops reading while bytes wait for it is dropped after the idle timeout.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError } from '../net/http-util.js';
import { hostPort } from '../balancer/endpoint.js';
import type { DialTarget } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import { dialFirst, OriginDialError } from '../net/origin-dial.js';
import { keepAlive } from '../net/keepalive.js';
import { forwardRequestHeaders } from '../net/origin-http.js';
import { ReadBuffer } from '../net/read-buffer.js';
import { clientHeaders, isFinalStatus, nonStandardStatus } from './origin-request.js';

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_HEADERS = 100;
/** One origin read's buffer (the size of libuv's own read buffer). */
const READ_BUFFER_BYTES = 64 * 1024;
/**
 * A read this small that must be queued for a slow player is copied rather than handing off the whole
 * buffer, so queued bytes hold at most 4× their size in memory.
 */
const COPY_BELOW_BYTES = READ_BUFFER_BYTES / 4;

export interface LivePassthrough {
  req: IncomingMessage;
  res: ServerResponse;
  /** Where to dial, in order (the next one when a dial is refused or times out). */
  targets: readonly DialTarget[];
  /** Told the outcome of every dial (routing's passive health). */
  report?: (target: DialTarget, ok: boolean) => void;
  /** The time one target's dial may take (its origin's dial budget); 0 skips it. Default: dialMs. */
  timeFor?: (target: DialTarget) => number;
  /**
   * The origin's head arrived from `target`: `close` ends the relay; the function returned runs once
   * the relay has ended.
   */
  started?: (target: DialTarget, status: number, close: () => void) => () => void;
  /** Path and query as sent to the origin. */
  path: string;
  log: Logger;
  dialMs: number;
  /** A client with bytes waiting for it that takes none for this long is dropped. */
  idleMs: number;
  extension: string;
}

export interface ResponseHead {
  status: number;
  reason: string;
  /** Lower-case names; repeated headers as arrays. */
  headers: Record<string, string | string[]>;
  /** Body bytes that arrived with the head. */
  rest: Buffer;
}

/** Parses an HTTP/1.x response head from `buf`; undefined until the blank line has arrived. */
export function parseResponseHead(buf: Buffer): ResponseHead | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    if (buf.length > MAX_HEAD_BYTES) throw new HttpError(502, 'origin sent an oversized response head');
    return undefined;
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new HttpError(502, 'origin sent an invalid response');
  if (lines.length - 1 > MAX_HEADERS) throw new HttpError(502, 'origin sent too many headers');
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpError(502, 'origin sent an invalid header');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, rest: buf.subarray(end + 4) };
}

/** A message head: the start line, then the headers, then the blank line. */
function serializeHead(startLine: string, headers: Record<string, string | string[]>): string {
  let out = `${startLine}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      // Header values were read from a socket: never let a stray CR/LF split the head we write.
      if (!/[\r\n]/.test(v)) out += `${name}: ${v}\r\n`;
    }
  }
  return `${out}\r\n`;
}

/**
 * The origin socket's reads (net's `onread`): every read lands in one reused buffer and is given to the
 * current sink, valid only during that call unless the sink calls handOff() (the next read then gets a
 * fresh buffer). A sink returning false stops reading until the socket is resumed.
 */
export class OriginReads {
  /** Fixed at libuv's read size: a live stream fills it at once. */
  private readonly buffer = new ReadBuffer(READ_BUFFER_BYTES, READ_BUFFER_BYTES);
  private handedOff = false;
  private sink: ((chunk: Buffer) => boolean) | undefined;
  /** A read that came before any sink was set (copied; reading pauses until one is). */
  private early: Buffer | undefined;

  readonly onread = {
    buffer: this.buffer.next,
    callback: (n: number, buf: Uint8Array): boolean => {
      const chunk = (buf as Buffer).subarray(0, n);
      if (this.sink) {
        this.handedOff = false;
        const go = this.sink(chunk);
        this.buffer.settle(n, this.handedOff);
        return go;
      }
      this.early = this.early ? Buffer.concat([this.early, chunk]) : Buffer.from(chunk);
      return false;
    },
  };

  /** The bytes of the read being handled stay referenced (queued): the next read needs a new buffer. */
  handOff(): void {
    this.handedOff = true;
  }

  /** Sends reads to `sink` from now on (first any read that came early); false when that one paused it. */
  setSink(sink: (chunk: Buffer) => boolean): boolean {
    this.sink = sink;
    const early = this.early;
    this.early = undefined;
    return early ? sink(early) : true;
  }
}

export async function passthroughLive(o: LivePassthrough): Promise<void> {
  const client = o.req.socket;
  keepAlive(client);
  const reads = new OriginReads();
  const { socket: origin, target } = await dialFirstTarget(o, reads);
  keepAlive(origin);
  const headers = forwardRequestHeaders(o.req, hostPort(target.host, target.port));
  headers.connection = 'close';
  const method = o.req.method === 'HEAD' ? 'HEAD' : 'GET';
  origin.write(serializeHead(`${method} ${o.path} HTTP/1.1`, headers));
  let head: ResponseHead;
  try {
    head = await readHead(origin, reads, client);
  } catch (err) {
    origin.destroy();
    if (err instanceof ClientLeft) {
      o.log.debug('client left before the origin answered');
      return;
    }
    throw err;
  }
  if (!isFinalStatus(head.status)) {
    origin.destroy();
    throw nonStandardStatus(head.status);
  }
  const out = clientHeaders(head.headers, true, o.extension);
  // The origin's framing (chunked / Content-Length / close) reaches the client unchanged — but only one
  // framing: with Transfer-Encoding, the Content-Length is dropped (RFC 9112 §6.3: the encoding wins and the
  // length must not be forwarded), and a Content-Length with differing values makes the answer unusable.
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) {
    out['transfer-encoding'] = te;
    delete out['content-length'];
  } else if (head.headers['content-length'] !== undefined) {
    const length = singleLength(head.headers['content-length']);
    if (length === undefined) {
      origin.destroy();
      throw new HttpError(502, 'origin sent conflicting Content-Length values');
    }
    out['content-length'] = length;
  }
  // From here on the client socket is ours: Node's ServerResponse never writes to it.
  out.connection = 'close';
  o.res.shouldKeepAlive = false;
  client.setNoDelay(true);
  client.write(serializeHead(`HTTP/1.1 ${head.status} ${head.reason || 'OK'}`, out));
  if (head.rest.length > 0) client.write(head.rest);
  let ended: (() => void) | undefined;
  try {
    await pipeUntilEither(origin, reads, client, o.log, o.idleMs, (finish) => {
      ended = o.started?.(target, head.status, finish);
    });
  } finally {
    ended?.();
  }
}

/** The one length a Content-Length header names (repeated identical values allowed); undefined if none or several. */
function singleLength(value: string | string[]): string | undefined {
  const values = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim());
  const first = values[0] ?? '';
  return /^\d{1,15}$/.test(first) && values.every((v) => v === first) ? first : undefined;
}

/**
 * Dials the targets in order until one accepts (a client leaving stops it); none did: 504 when the last
 * one tried ran out of its dial time, 502 otherwise.
 */
async function dialFirstTarget(o: LivePassthrough, reads: OriginReads): Promise<{ socket: Socket; target: DialTarget }> {
  const left = new AbortController();
  const onClientGone = () => left.abort();
  if (o.req.socket.destroyed) left.abort();
  else o.req.socket.once('close', onClientGone);
  try {
    return await dialFirst(o.targets, { dialMs: o.dialMs, signal: left.signal, report: o.report, timeFor: o.timeFor, what: 'HTTP', onread: reads.onread });
  } catch (err) {
    if (err instanceof OriginDialError && err.timedOut) throw new HttpError(504, 'origin did not answer in time', 504, { cause: err });
    if (err instanceof OriginDialError) throw new HttpError(502, 'origin unreachable', 502, { cause: err });
    throw err;
  } finally {
    o.req.socket.off('close', onClientGone);
  }
}

/** The client went away while the origin had not answered yet (nothing to reply to). */
class ClientLeft extends Error {
  override name = 'ClientLeft';
}

/** Reads the origin's response head, as long as the origin takes; rejects when either side goes away. */
function readHead(origin: Socket, reads: OriginReads, client: Socket): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const done = (err?: Error, head?: ResponseHead) => {
      settled = true;
      origin.off('error', onError).off('end', onEnd).off('close', onEnd);
      client.off('close', onClientGone);
      if (err) reject(err);
      else resolve(head!);
    };
    // The read buffer is reused: the head's bytes are copied out of it. Reading stops once the head is in.
    const onData = (d: Buffer): boolean => {
      if (settled) return false;
      buf = buf.length === 0 ? Buffer.from(d) : Buffer.concat([buf, d]);
      try {
        const head = parseResponseHead(buf);
        if (head) done(undefined, head);
      } catch (err) {
        done(err as Error);
      }
      return !settled;
    };
    const onError = () => done(new HttpError(502, 'origin unreachable'));
    const onEnd = () => done(new HttpError(502, 'origin closed before answering'));
    const onClientGone = () => done(new ClientLeft('client left'));
    origin.once('error', onError).once('end', onEnd).once('close', onEnd);
    if (client.destroyed) onClientGone();
    else client.once('close', onClientGone);
    if (!settled && reads.setSink(onData)) origin.resume();
  });
}

/**
 * Relays origin → client with backpressure until either side ends, or the client takes none of the bytes
 * waiting for it for `idleMs`. A silent origin is not idle: the player may be waiting for its stream.
 * One client write per origin read; a write that is queued keeps its bytes (the read buffer is handed
 * off, or a small read copied), and reading stops until the client drains.
 */
function pipeUntilEither(
  origin: Socket,
  reads: OriginReads,
  client: Socket,
  log: Logger,
  idleMs: number,
  onStart: (finish: () => void) => void,
): Promise<void> {
  return new Promise((resolve) => {
    let taken = -1;
    // Byte counters read on a timer cost nothing per chunk.
    const stuck = setInterval(() => {
      const waiting = client.writableLength;
      const nowTaken = client.bytesWritten - waiting;
      if (waiting > 0 && nowTaken === taken) {
        log.info({ idleMs, queuedBytes: waiting }, 'player stopped reading: closing');
        finish();
      }
      taken = nowTaken;
    }, idleMs);
    stuck.unref();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(stuck);
      client.off('drain', onDrain);
      origin.destroy();
      client.end();
      // A client that does not read its last bytes must not hold the socket open.
      setTimeout(() => client.destroy(), 1000).unref();
      resolve();
    };
    const onDrain = () => {
      if (!finished) origin.resume();
    };
    const forward = (chunk: Buffer): boolean => {
      if (finished || client.destroyed) return false;
      let ok: boolean;
      if (client.writableLength > 0 && chunk.length < COPY_BELOW_BYTES) {
        ok = client.write(Buffer.from(chunk));
      } else {
        ok = client.write(chunk);
        // Not all of it reached the kernel: the queued rest still points into the read buffer.
        if (client.writableLength > 0) reads.handOff();
      }
      if (ok) return true;
      client.once('drain', onDrain);
      return false;
    };
    origin.once('end', finish).once('error', finish).once('close', finish);
    client.once('close', finish).once('error', finish);
    if (reads.setSink(forward)) origin.resume();
    onStart(finish);
  });
}
