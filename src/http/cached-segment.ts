// Segments through the edge cache (src/http/hls-cache.ts): the first request for a segment reads the
// origin's whole answer into the cache and every request waiting for it gets those bytes; answers the
// cache must not hold (not 200, no length, larger than an answer may be, budget taken, `no-store`) are
// streamed to their own client as without a cache.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from '../net/undici.js';
import { HttpError } from '../net/http-util.js';
import { clientHeaders } from './origin-request.js';
import { SEGMENT_TTL_MS, type CacheAnswer, type CachedAnswer, type HlsCache } from './hls-cache.js';

/** A request the cache may answer: a whole-body GET (a Range or conditional request goes to the origin). */
export function cacheableRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.headers.range === undefined && req.headers['if-range'] === undefined;
}

/** The origin forbids shared caches from keeping this answer. */
export function forbidsSharedCache(headers: Dispatcher.ResponseData['headers']): boolean {
  const cc = headers['cache-control'];
  const text = (Array.isArray(cc) ? cc.join(',') : (cc ?? '')).toLowerCase();
  return /\b(no-store|private)\b/.test(text) || headers['set-cookie'] !== undefined;
}

export interface SegmentFill {
  cache: HlsCache;
  /** The origin request (routed and dialled as without a cache). */
  open: () => Promise<Dispatcher.ResponseData>;
  /** Streams an answer the cache does not take to this request's own client. */
  streamOwn: (upstream: Dispatcher.ResponseData) => Promise<void>;
  /** A body that stops flowing this long is an origin failure (502 to everyone waiting). */
  idleMs: number;
  extension: string;
  now: () => number;
}

/** The fill of one segment's cache entry (see HlsCache.get): the answer, or undefined once streamed itself. */
export async function fillSegment(f: SegmentFill): Promise<CachedAnswer | undefined> {
  const upstream = await f.open();
  const length = Number(upstream.headers['content-length']);
  const keep = upstream.statusCode === 200 && Number.isSafeInteger(length) && length >= 0 && !forbidsSharedCache(upstream.headers);
  if (!keep || !f.cache.reserve(length)) {
    await f.streamOwn(upstream);
    return undefined;
  }
  try {
    const body = await readExactly(upstream.body, length, f.idleMs);
    return { status: 200, headers: clientHeaders(upstream.headers, true, f.extension), body, storedAt: f.now(), ttlMs: SEGMENT_TTL_MS };
  } finally {
    f.cache.release(length);
  }
}

/**
 * Writes a whole answer (`body`: the answer's own bytes, or a per-client rewrite of them). Served from
 * the cache's store (`hit`), it says how old it is (Age) and, unless the origin set its own
 * Cache-Control, how long it stays fresh here.
 */
export function sendCached(cache: HlsCache | undefined, res: ServerResponse, got: CacheAnswer, body: Buffer = got.answer.body): void {
  const headers: Record<string, string | string[]> = { ...got.answer.headers, 'content-length': String(body.length) };
  if (cache && got.source === 'hit') headers.age = String(cache.ageSeconds(got.answer));
  if (cache && headers['cache-control'] === undefined && got.answer.ttlMs > 0)
    headers['cache-control'] = `public, max-age=${cache.remainingSeconds(got.answer)}`;
  res.writeHead(got.answer.status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Reads a body of a known length whole; a body that ends short, runs long or stalls is a 502. */
function readExactly(body: Dispatcher.ResponseData['body'], length: number, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    let flowed = true;
    const fail = (why: string, cause?: unknown) => {
      clearInterval(idle);
      body.removeAllListeners('data');
      body.on('error', () => undefined);
      body.destroy();
      reject(new HttpError(502, why, 502, { cause }));
    };
    // One timer per fill, checked against a flag set per chunk: nothing re-armed on each chunk.
    const idle = setInterval(() => {
      if (!flowed) fail('origin stalled mid-segment');
      flowed = false;
    }, idleMs);
    idle.unref();
    body.on('data', (chunk: Buffer) => {
      flowed = true;
      if (filled + chunk.length > length) return fail('origin sent more than its Content-Length');
      chunk.copy(out, filled);
      filled += chunk.length;
    });
    body.once('end', () => {
      clearInterval(idle);
      if (filled !== length) reject(new HttpError(502, 'origin ended its answer early'));
      else resolve(out);
    });
    body.once('error', (err: Error) => fail('origin ended its answer early', err));
  });
}
