// Small HTTP helpers shared by every HTTP listener: JSON replies, bounded body reads, errors, CORS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SERVER_HEADER } from '../version.js';

/**
 * CORS for browsers on other origins, the one set every HTTP listener sends: any origin, method and
 * header, and every response header readable by scripts (WHIP clients need Location).
 */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': '*',
  'access-control-allow-methods': '*',
  'access-control-expose-headers': '*',
};

/** An error that becomes a JSON reply `{code, error}` with `status`. */
export class HttpError extends Error {
  override readonly name: string = 'HttpError';

  constructor(
    readonly status: number,
    message: string,
    readonly code = status,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A refusal with its own reason (the refusal counters' label, a small fixed set) and headers for the client
 * (Retry-After on a 503 that will pass).
 */
export class HttpRefusal extends HttpError {
  override readonly name: string = 'HttpRefusal';

  constructor(
    status: number,
    message: string,
    readonly reason: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: ErrorOptions,
  ) {
    super(status, message, status, options);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** A reply whose JSON text the caller has already built (large listings serialise each item once). */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    Server: SERVER_HEADER,
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, { code: err.code, error: err.message }, headers);
}

/** Past this many refused bytes the connection is cut instead of read to the end. */
const DISCARD_LIMIT = 32 * 1024 * 1024;

/**
 * Reads a request body up to `limit` bytes. A larger body is refused with 413 at once; the rest of it
 * is read and discarded (up to DISCARD_LIMIT, then the socket is cut) so that the client, still
 * uploading, can read the 413 instead of failing on a reset connection.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => {
    let discarded = 0;
    req.removeAllListeners('data');
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_LIMIT) req.socket.destroy();
    });
    req.resume();
    return new HttpError(413, `body larger than ${limit} bytes`);
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  // Plain events rather than async iteration: this is on every register request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Characters the URL parser drops before parsing. */
const CONTROL_IN_URL = /[\t\n\r]/;

/** Parses a request URL (path + query) without trusting the Host header. */
export function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  try {
    // An origin-form target (`/path?query`: nearly every request) is parsed in one go, not against a base
    // parsed again per request. `//x` and `/\\x` would name a host when relative (tabs and newlines are removed
    // before parsing, so they could make one): those take the base.
    const second = target.charCodeAt(1);
    if (target.charCodeAt(0) === 0x2f && second !== 0x2f && second !== 0x5c && !CONTROL_IN_URL.test(target)) return new URL(`http://localhost${target}`);
    return new URL(target, 'http://localhost');
  } catch {
    throw new HttpError(400, 'invalid request URL');
  }
}
