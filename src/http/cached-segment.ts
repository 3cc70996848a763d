// Segments through the edge cache (src/http/hls-cache.ts): the first request for a segment reads the
// origin's whole answer into the cache and every request waiting for it gets those bytes; answers the
// cache must not hold (not 200, no length, larger than an answer may be, budget taken, `no-store`) are
// streamed to their own client as without a cache.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../net/http-util.js';
import { clientHeaderList, type OriginAnswer } from './origin-request.js';
import { SEGMENT_TTL_MS, type CacheAnswer, type CachedAnswer, type HlsCache } from './hls-cache.js';

/** A request the cache may answer: a whole-body GET (a Range or conditional request goes to the origin). */
export function cacheableRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.headers.range === undefined && req.headers['if-range'] === undefined;
}

/** The first value of `name` (lower-case) in a flat header list. */
export function headerOf(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** The origin forbids shared caches from keeping this answer (flat client header list). */
export function forbidsSharedCache(headers: readonly string[]): boolean {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] === 'set-cookie') return true;
    if (headers[i] === 'cache-control' && /\b(no-store|private)\b/i.test(headers[i + 1]!)) return true;
  }
  return false;
}

export interface SegmentFill {
  cache: HlsCache;
  /** The origin request (routed and dialled as without a cache). */
  open: () => Promise<OriginAnswer>;
  /** Streams an answer the cache does not take to this request's own client. */
  streamOwn: (upstream: OriginAnswer) => Promise<void>;
  /** A body that stops flowing this long is an origin failure (502 to everyone waiting). */
  idleMs: number;
  extension: string;
  now: () => number;
}

/** The fill of one segment's cache entry (see HlsCache.get): the answer, or undefined once streamed itself. */
export async function fillSegment(f: SegmentFill): Promise<CachedAnswer | undefined> {
  const upstream = await f.open();
  const headers = clientHeaderList(upstream.rawHeaders, true, f.extension);
  const length = Number(headerOf(headers, 'content-length') ?? Number.NaN);
  const keep = upstream.statusCode === 200 && Number.isSafeInteger(length) && length >= 0 && !forbidsSharedCache(headers);
  if (!keep || !f.cache.reserve(length)) {
    await f.streamOwn(upstream);
    return undefined;
  }
  try {
    const body = await readExactly(upstream, length, f.idleMs);
    return { status: 200, headers: withoutLength(headers), body, storedAt: f.now(), ttlMs: SEGMENT_TTL_MS };
  } finally {
    f.cache.release(length);
  }
}

/**
 * Writes a whole answer (`body`: the answer's own bytes, or a per-client rewrite of them; `drop`: headers
 * of the origin's that no longer hold for it). Served from the cache's store (`hit`), it says how old it is
 * (Age) and, unless the origin set its own Cache-Control, how long it stays fresh here.
 */
export function sendCached(
  cache: HlsCache | undefined,
  res: ServerResponse,
  got: CacheAnswer,
  body: Buffer = got.answer.body,
  drop: readonly string[] = [],
): void {
  const headers = drop.length > 0 ? got.answer.headers.filter((_, i, all) => !drop.includes(all[i - (i % 2)]!)) : [...got.answer.headers];
  headers.push('content-length', String(body.length));
  if (cache && got.source === 'hit') headers.push('age', String(cache.ageSeconds(got.answer)));
  if (cache && got.answer.ttlMs > 0 && headerOf(headers, 'cache-control') === undefined)
    headers.push('cache-control', `public, max-age=${cache.remainingSeconds(got.answer)}`);
  res.writeHead(got.answer.status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function withoutLength(headers: string[]): string[] {
  return headers.filter((_, i, all) => all[i - (i % 2)] !== 'content-length');
}

/** Reads a body of a known length whole; a body that ends short, runs long or stalls is a 502. */
function readExactly(answer: OriginAnswer, length: number, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    let flowed = true;
    let failed: HttpError | undefined;
    const fail = (err: HttpError) => {
      failed ??= err;
      answer.abort();
    };
    // One timer per fill, checked against a flag set per chunk: nothing re-armed on each chunk.
    const idle = setInterval(() => {
      if (!flowed) fail(new HttpError(502, 'origin stalled mid-segment'));
      flowed = false;
    }, idleMs);
    idle.unref();
    answer.read(
      (chunk) => {
        flowed = true;
        if (failed) return false;
        if (filled + chunk.length > length) {
          fail(new HttpError(502, 'origin sent more than its Content-Length'));
          return false;
        }
        chunk.copy(out, filled);
        filled += chunk.length;
        return true;
      },
      (err) => {
        clearInterval(idle);
        if (failed) reject(failed);
        else if (err || filled !== length) reject(new HttpError(502, 'origin ended its answer early', 502, { cause: err }));
        else resolve(out);
      },
    );
  });
}
