// One HTTP request to an origin on behalf of a client, either streamed straight back (live streams,
// segments) or buffered for rewriting (playlists, manifests). Origin statuses and end-to-end headers
// pass through; failures become 502/504 JSON without internal addresses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from '../net/undici.js';
import { CORS_HEADERS, HttpError, HttpRefusal } from '../net/http-util.js';
import type { DialTarget } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import { forwardRequestHeaderList, forwardResponseHeaderList, forwardResponseHeaders } from '../net/origin-http.js';
import { hostPort } from '../balancer/endpoint.js';
import {
  OriginBusy,
  OriginConnectTimeout,
  OriginHeadersTimeout,
  OriginWaitTimeout,
  type OriginClient,
  type OriginControl,
  type OriginHandler,
} from '../net/origin-client.js';
import { ResponseParseError } from '../net/http1-response.js';
import type { IdleWatch, IdleWatched } from '../net/idle-watch.js';

export { CORS_HEADERS };

/** Body bytes that arrive before their reader are copied below this size (cheaper than giving up a read buffer). */
const EARLY_COPY_BELOW = 4 * 1024;

export interface OriginRequest {
  /** The proxy's HTTP/1.1 client to origins (keep-alive pools per endpoint). */
  client: OriginClient;
  target: DialTarget;
  /** Path and query as sent to the origin. */
  path: string;
  req: IncomingMessage;
  /** 0 = no limit (the origin decides how long it holds, e.g. LL-HLS blocking reloads). */
  headersTimeoutMs: number;
  /** Extra or overriding request headers (lower-case names). */
  headers?: readonly (readonly [string, string])[];
  /** Client headers not to forward (lower-case). */
  dropHeaders?: readonly string[];
  /**
   * The response of the one client this request serves: its closing before the answer's head drops the
   * request (a place in the connection queue, a connection being dialled, a head awaited). Not given for a
   * fetch shared by several clients (a cache fill): the others still wait for it.
   */
  ownClient?: ServerResponse | undefined;
}

/** A client that left before the origin answered (nginx's 499): neither an origin failure nor a refusal. */
class ClientLeft extends Error {
  override readonly name = 'ClientLeft';
}

/**
 * An origin's answer, read through the proxy's origin client (src/net/origin-client.ts). The body's
 * chunks go to the sink set with `read`; each is valid only during the sink's call unless the sink
 * calls handOff() (a queued write keeps it). Chunks that arrive before the sink are kept.
 */
export class OriginAnswer implements OriginHandler {
  statusCode = 0;
  /** The origin's response headers as sent (`[name, value, …]`). */
  rawHeaders: string[] = [];
  private control: OriginControl | undefined;
  private early: Buffer[] = [];
  private sink: ((chunk: Buffer) => boolean) | undefined;
  private finish: ((err?: Error) => void) | undefined;
  private outcome: { err?: Error } | undefined;
  private head: { resolve: (a: OriginAnswer) => void; reject: (err: Error) => void } | undefined;

  /** Resolves at the response head; rejects (client-facing HttpError) when there is none. */
  readonly started: Promise<OriginAnswer>;

  constructor() {
    this.started = new Promise((resolve, reject) => (this.head = { resolve, reject }));
  }

  /** The request under way (set by requestOrigin). */
  attach(control: OriginControl): void {
    this.control = control;
  }

  private watched: ServerResponse | undefined;

  /** Until the head (or a failure), `res` closing drops the request. */
  watch(res: ServerResponse): void {
    if (res.destroyed) {
      this.control?.abort(new ClientLeft('client left'));
      return;
    }
    this.watched = res;
    res.once('close', this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    this.watched = undefined;
    if (this.head) this.control?.abort(new ClientLeft('client left'));
  };

  private unwatch(): void {
    this.watched?.off('close', this.onClientClose);
    this.watched = undefined;
  }

  /**
   * Sends the body's chunks to `onChunk` (false pauses the origin until `resume()`); `onEnd` runs once,
   * with an error when the body ended early.
   */
  read(onChunk: (chunk: Buffer) => boolean, onEnd: (err?: Error) => void): void {
    this.sink = onChunk;
    this.finish = onEnd;
    const early = this.early;
    this.early = [];
    let go = true;
    for (const chunk of early) go = onChunk(chunk) && go;
    if (!go) this.pausedEarly = true;
    else if (this.pausedEarly) this.resume();
    if (this.outcome) onEnd(this.outcome.err);
  }

  private pausedEarly = false;

  resume(): void {
    this.pausedEarly = false;
    this.control?.resume();
  }

  /** The chunk being handled stays referenced after the sink returns, only by a write it queued. */
  handOff(): void {
    this.control?.handOff(true);
  }

  /** Every chunk handed off so far is no longer referenced (the sink's writes are all done). */
  recycle(): void {
    this.control?.recycle();
  }

  /** Drops the answer (the client left, or the body is not wanted): frees the origin connection. */
  abort(): void {
    if (this.outcome) return;
    this.control?.abort(new Error('answer abandoned'));
  }

  // The origin client's handler.
  onHead(statusCode: number, headers: string[], control: OriginControl): void {
    this.control = control;
    // From here the relay watches its client (streamResponse).
    this.unwatch();
    if (!isFinalStatus(statusCode)) {
      this.head?.reject(nonStandardStatus(statusCode));
      this.head = undefined;
      // Nobody reads this answer: drop it (and its connection).
      this.sink = () => true;
      this.finish = () => undefined;
      this.outcome = {};
      control.abort();
      return;
    }
    this.statusCode = statusCode;
    this.rawHeaders = headers;
    this.head?.resolve(this);
    this.head = undefined;
  }

  onData(chunk: Buffer): boolean {
    if (this.sink) return this.sink(chunk);
    // Kept past this call: the read buffer is handed off for good (never recycled: these bytes outlive any
    // write the sink will queue), or a small chunk copied.
    if (chunk.length < EARLY_COPY_BELOW) {
      this.early.push(Buffer.from(chunk));
    } else {
      this.control?.handOff(false);
      this.early.push(chunk);
    }
    // Bounded: past one high-water mark of unclaimed bytes the origin waits for the reader.
    if (this.early.length < 16) return true;
    this.pausedEarly = true;
    return false;
  }

  onEnd(err?: Error): void {
    if (this.outcome) return;
    this.outcome = err ? { err } : {};
    this.finish?.(err);
  }

  onFail(err: Error): void {
    this.unwatch();
    if (this.head) {
      this.head.reject(originFailure(err));
      this.head = undefined;
    }
    this.onEnd(err);
  }
}

/**
 * One GET (or HEAD) to the origin: resolves at the response head. A client that leaves is handled by
 * abort() from the relay.
 */
export function requestOrigin(o: OriginRequest): Promise<OriginAnswer> {
  // Not an async function (one promise fewer per request); a throw still becomes a rejection.
  try {
    const answer = new OriginAnswer();
    const host = hostPort(o.target.host, o.target.port);
    answer.attach(
      o.client.request(
        {
          host: o.target.host,
          port: o.target.port,
          method: o.req.method === 'HEAD' ? 'HEAD' : 'GET',
          path: o.path,
          headers: forwardRequestHeaderList(o.req, host, o.headers, o.dropHeaders),
          headersTimeoutMs: o.headersTimeoutMs,
        },
        answer,
      ),
    );
    if (o.ownClient) answer.watch(o.ownClient);
    return answer.started;
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/**
 * Drops an origin body that will not be read, freeing its connection. undici's body emits an 'error'
 * (RequestAbortedError) when destroyed: without a listener that error would end the process.
 */
export function discardBody(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * A status an origin's final answer may carry to a client: 200–599. Anything else (999, 000, a 1xx as
 * the final answer) has no meaning a client could act on, and some clients fail on it in odd ways.
 */
export function isFinalStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

/** The client-facing error for an origin answer with a status outside 200–599 (the log keeps the value). */
export function nonStandardStatus(status: number): HttpError {
  return new HttpError(502, 'origin answered with a non-standard HTTP status', 502, { cause: new Error(`origin status ${status}`) });
}

/** The origin's endpoint could not be connected (refused, timed out, unreachable): try the next one. */
export function isOriginDialFailure(err: unknown): boolean {
  return err instanceof HttpError && isDialCause(err.cause);
}

function isDialCause(err: unknown): boolean {
  return err instanceof OriginConnectTimeout || DIAL_ERROR_CODES.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

const DIAL_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

const RETRY_AFTER = { 'Retry-After': '1' } as const;
/** nginx's status for a client that closed its request before the answer: never sent (nobody is there). */
export const CLIENT_LEFT = 499;

/** Maps a transport failure to a client-facing error that names no internal address. */
export function originFailure(err: unknown): HttpError {
  if (err instanceof OriginConnectTimeout) return new HttpError(504, 'origin did not answer in time', 504, { cause: err });
  if (err instanceof OriginHeadersTimeout) return new HttpError(504, 'origin did not answer in time');
  // Our own pool is full, the origin is not at fault: no failover, no backoff; the player may retry.
  if (err instanceof OriginBusy)
    return new HttpRefusal(503, 'origin busy: too many requests waiting, retry shortly', 'origin-busy', RETRY_AFTER, { cause: err });
  if (err instanceof OriginWaitTimeout) return new HttpRefusal(504, 'origin busy: no connection free in time', 'origin-wait-timeout', {}, { cause: err });
  if (err instanceof ClientLeft) return new HttpError(CLIENT_LEFT, 'client left before the origin answered');
  if (err instanceof HttpError) return err;
  if (err instanceof ResponseParseError) return new HttpError(502, 'origin sent an invalid answer', 502, { cause: err });
  if (isDialCause(err)) return new HttpError(502, 'origin unreachable', 502, { cause: err });
  return new HttpError(502, 'origin unreachable');
}

/** Content types by extension, for origins that send none (node-media-server's HTTP-FLV). */
const TYPE_BY_EXTENSION: Readonly<Record<string, string>> = {
  flv: 'video/x-flv',
  ts: 'video/mp2t',
  aac: 'audio/aac',
  mp3: 'audio/mpeg',
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  m4a: 'audio/mp4',
  vtt: 'text/vtt',
};

/**
 * Response headers for the client: the origin's, plus CORS unless the origin set its own, plus a
 * Content-Type named by the extension when the origin sent none.
 */
export function clientHeaders(origin: Dispatcher.ResponseData['headers'], keepLength: boolean, extension = ''): Record<string, string | string[]> {
  const out = forwardResponseHeaders(origin, { keepLength });
  if (out['access-control-allow-origin'] === undefined) Object.assign(out, CORS_HEADERS);
  const type = TYPE_BY_EXTENSION[extension];
  if (out['content-type'] === undefined && type) out['content-type'] = type;
  return out;
}

/** CORS_HEADERS as a flat `[name, value, …]` list (made once, not per answer). */
const CORS_LIST: readonly string[] = Object.entries(CORS_HEADERS).flat();

/**
 * Response headers for the client as a flat list (see clientHeaders), from the origin's raw headers;
 * `drop` names headers to leave out (lower-case).
 */
export function clientHeaderList(raw: readonly string[], keepLength: boolean, extension = '', drop: readonly string[] = []): string[] {
  const out = forwardResponseHeaderList(raw, { keepLength });
  let cors = false;
  let typed = false;
  for (let i = 0; i < out.length; i += 2) {
    const name = out[i]!;
    if (name === 'access-control-allow-origin') cors = true;
    else if (name === 'content-type') typed = true;
  }
  if (drop.length > 0) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (drop.includes(out[i]!)) out.splice(i, 2);
  }
  if (!cors) for (let i = 0; i < CORS_LIST.length; i++) out.push(CORS_LIST[i]!);
  const type = TYPE_BY_EXTENSION[extension];
  if (!typed && type) out.push('content-type', type);
  return out;
}

/**
 * Streams the origin's answer to the client, one write per chunk, with backpressure (a full client
 * pauses the origin). A body that stops flowing for the watch's idle time is cut (an origin that answers
 * 200 and then sends nothing must not hold a client forever).
 */
export function streamResponse(upstream: OriginAnswer, res: ServerResponse, log: Logger, idle: IdleWatch, extension: string): Promise<void> {
  res.writeHead(upstream.statusCode, clientHeaderList(upstream.rawHeaders, true, extension));
  return new Promise<void>((resolve) => new StreamedAnswer(upstream, res, log, idle, resolve).start());
}

/**
 * One streamed answer's state: an object with methods rather than a set of closures and listeners per
 * request (segments are many and short). 'drain' is listened to only once a write was refused; 'close' is
 * not unhooked (the response object ends with the request, and close after the end does nothing).
 */
class StreamedAnswer implements IdleWatched {
  readonly socket: Socket | null;
  idleLast = -1;
  private finished = false;
  private draining = false;
  private readonly head: boolean;

  constructor(
    private readonly upstream: OriginAnswer,
    private readonly res: ServerResponse,
    private readonly log: Logger,
    private readonly idle: IdleWatch,
    private readonly resolve: () => void,
  ) {
    this.socket = res.socket;
    this.head = res.req.method === 'HEAD';
  }

  start(): void {
    this.idle.add(this);
    this.res.on('close', this.onClose);
    this.upstream.read(this.onChunk, this.onEnd);
  }

  onIdle(): void {
    this.log.info({ idleMs: this.idle.idleMs }, 'origin stream idle: closing');
    this.upstream.abort();
  }

  private readonly onChunk = (chunk: Buffer): boolean => {
    if (this.head) return true;
    const res = this.res;
    // Nothing queued: every chunk handed off before has been written, its memory can take new reads.
    if (res.writableLength === 0) this.upstream.recycle();
    const ok = res.write(chunk);
    // Not all of it reached the kernel: the queued rest still points into the origin's read buffer.
    if (res.writableLength > 0) this.upstream.handOff();
    if (!ok && !this.draining) {
      this.draining = true;
      res.on('drain', this.onDrain);
    }
    return ok;
  };

  private readonly onDrain = (): void => this.upstream.resume();

  private readonly onEnd = (err?: Error): void => {
    if (err) {
      // Origin gone mid-body: the client cannot be told any more, only cut.
      this.log.debug({ err: err.message }, 'stream ended early');
      this.res.destroy();
    } else {
      this.res.end();
    }
    this.done();
  };

  // Client gone before the answer was whole: release the origin connection.
  private readonly onClose = (): void => {
    if (this.finished) return;
    this.upstream.abort();
    this.done();
  };

  private done(): void {
    if (this.finished) return;
    this.finished = true;
    this.idle.delete(this);
    if (this.draining) this.res.off('drain', this.onDrain);
    this.resolve();
  }
}
