// One HTTP request to an origin on behalf of a client, either streamed straight back (live streams,
// segments) or buffered for rewriting (playlists, manifests). Origin statuses and end-to-end headers
// pass through; failures become 502/504 JSON without internal addresses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type Agent, type Dispatcher } from '../net/undici.js';
import { CORS_HEADERS, HttpError } from '../net/http-util.js';
import type { DialTarget } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import { forwardRequestHeaders, forwardResponseHeaders, originBaseUrl } from '../net/origin-http.js';
import { hostPort } from '../balancer/endpoint.js';

export { CORS_HEADERS };

export interface OriginRequest {
  agent: Agent;
  target: DialTarget;
  /** Path and query as sent to the origin. */
  path: string;
  req: IncomingMessage;
  /** 0 = no limit (the origin decides how long it holds, e.g. LL-HLS blocking reloads). */
  headersTimeoutMs: number;
  /** Extra or overriding request headers. */
  headers?: Record<string, string>;
  /** Client headers not to forward (lower-case). */
  dropHeaders?: readonly string[];
}

export async function requestOrigin(o: OriginRequest): Promise<Dispatcher.ResponseData> {
  const headers = { ...forwardRequestHeaders(o.req, hostPort(o.target.host, o.target.port)), ...o.headers };
  for (const name of o.dropHeaders ?? []) delete headers[name];
  // No AbortController: aborting one per request (on the request's normal 'close') cost a DOMException
  // each time. A client that leaves while the origin is still answering is handled once the body flows:
  // the pipeline to the closed response destroys the origin body, which frees the origin connection.
  let answer: Dispatcher.ResponseData;
  try {
    answer = await o.agent.request({
      origin: originBaseUrl(o.target.host, o.target.port),
      path: o.path,
      method: o.req.method === 'HEAD' ? 'HEAD' : 'GET',
      headers,
      headersTimeout: o.headersTimeoutMs,
    });
  } catch (err) {
    throw originFailure(err);
  }
  if (!isFinalStatus(answer.statusCode)) {
    discardBody(answer.body);
    throw nonStandardStatus(answer.statusCode);
  }
  return answer;
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
  return err instanceof errors.ConnectTimeoutError || DIAL_ERROR_CODES.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

const DIAL_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Maps a transport failure to a client-facing error that names no internal address. */
export function originFailure(err: unknown): HttpError {
  if (err instanceof errors.ConnectTimeoutError) return new HttpError(504, 'origin did not answer in time', 504, { cause: err });
  if (err instanceof errors.HeadersTimeoutError) return new HttpError(504, 'origin did not answer in time');
  if (err instanceof HttpError) return err;
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

/**
 * Streams the origin's response to the client with backpressure. A live body that stops flowing for
 * `idleMs` is cut (an origin that answers 200 and then sends nothing must not hold a client forever).
 */
export async function streamResponse(upstream: Dispatcher.ResponseData, res: ServerResponse, log: Logger, idleMs: number, extension: string): Promise<void> {
  res.writeHead(upstream.statusCode, clientHeaders(upstream.headers, true, extension));
  if (res.req.method === 'HEAD') {
    await upstream.body.dump();
    res.end();
    return;
  }
  const socket = res.socket;
  let lastWritten = -1;
  // Checking the socket's byte counter on a timer costs nothing per chunk.
  const idle = setInterval(() => {
    const written = socket?.bytesWritten ?? 0;
    if (written === lastWritten) {
      log.info({ idleMs }, 'origin stream idle: closing');
      upstream.body.destroy(new Error('idle'));
    }
    lastWritten = written;
  }, idleMs);
  idle.unref();
  // pipe() rather than stream.pipeline: pipeline aborts an internal AbortController when it finishes,
  // which costs a DOMException (with a stack trace) for every segment served.
  await new Promise<void>((resolve) => {
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearInterval(idle);
      resolve();
    };
    upstream.body.once('error', (err: Error) => {
      // Origin gone mid-body: the client cannot be told any more, only cut.
      log.debug({ err: err.message }, 'stream ended early');
      res.destroy();
      done();
    });
    // Client gone (or response complete): release the origin body and its connection.
    res.once('close', () => {
      if (!upstream.body.destroyed) upstream.body.destroy();
      done();
    });
    upstream.body.pipe(res);
  });
}
