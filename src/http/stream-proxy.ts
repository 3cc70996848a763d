// The HTTP stream listener's proxy (PROXY_HTTP_SERVER): identify the stream from the request,
// route it through the balancer, and relay the origin's answer — streamed for live streams and
// segments, rewritten with the session parameter for HLS playlists and DASH manifests.
import { HttpError } from '../net/http-util.js';
import type { Fallback, RouteContext } from '../net/router.js';
import type { Balancer, HlsSession } from '../balancer/balancer.js';
import { HlsBudgetError } from '../balancer/hls-record.js';
import type { Config } from '../config.js';
import type { Edge } from '../edge/edge.js';
import { RouteRefusal, refusalHttpError } from '../routing/refusal.js';
import { dialInOrder, refusalOf } from '../routing/router.js';
import type { Route, RouteTarget, StreamRouter } from '../routing/types.js';
import { StreamKeyError, streamKeyFromHttp, type StreamKey } from '../stream-key.js';
import { classifyBySession, extensionOf, hlsSegmentOwner, isLiveOnly, segmentOwner } from './classify.js';
import { isDashManifest, rewriteDashManifest } from './dash-rewrite.js';
import { isHlsPlaylist, rewriteHlsPlaylist } from './hls-rewrite.js';
import { passthroughLive } from './live-passthrough.js';
import { cacheableRequest, fillSegment, forbidsSharedCache, sendCached } from './cached-segment.js';
import { cacheKey, manifestTtlMs, playlistTtlMs, type CacheAnswer, type CachedAnswer, type HlsCache } from './hls-cache.js';
import { CLIENT_LEFT, CORS_HEADERS, isOriginDialFailure, clientHeaderList, requestOrigin, streamResponse, type OriginAnswer } from './origin-request.js';
import { SESSION_PARAM, sessionParamOf } from './session-param.js';
import { serveStatic } from './static-files.js';
import { HttpStreamStats, type HttpProtocol } from './stream-stats.js';
import { clientAddress, httpRefusalReason } from '../net/client-stats.js';
import { IdleWatch } from '../net/idle-watch.js';
import type { OriginClient } from '../net/origin-client.js';

export interface HttpStreamDeps {
  config: Config;
  balancer: Balancer;
  router: StreamRouter;
  /** The HTTP/1.1 client to origins (keep-alive pools per endpoint). */
  origins: OriginClient;
  /** The edge cache of playlists, manifests and segments (PROXY_HLS_CACHE_MAX); absent = every request goes to the origin. */
  cache?: HlsCache | undefined;
  /** The listener's client counters (HTTP-FLV/TS clients, HLS/DASH sessions, refusals). */
  stats?: HttpStreamStats;
  now?: () => number;
  /** Edge mode (PROXY_EDGE=on): HTTP-FLV plays join a shared upstream per stream. */
  edge?: Edge;
}

/** What one request is, as the counters need it. */
interface RequestInfo {
  protocol: HttpProtocol | undefined;
  /** When the request arrived (ms). */
  at: number;
}

/** Playlists and manifests are small; anything larger is not one. */
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
/** LL-HLS blocking reloads are held by the origin for up to ~3 target durations. */
const BLOCKING_RELOAD_TIMEOUT_MS = 60_000;
const MAX_PATH_LENGTH = 4096;
const SESSION_ID = /^[0-9a-f]{7}$/;
/** Playlists and manifests are rewritten whole: asked for uncompressed, never as a range. */
const IDENTITY_ENCODING = [['accept-encoding', 'identity']] as const;
const RANGE_HEADERS = ['range', 'if-range'];
const ETAG = ['etag'];
const NONE: string[] = [];

export function httpStreamProxy(deps: HttpStreamDeps): Fallback {
  const now = deps.now ?? Date.now;
  const stats = deps.stats ?? new HttpStreamStats(now);
  // One interval polices every streamed answer's progress (PROXY_IDLE_TIMEOUT), not a timer per request.
  const counted: CountedDeps = { ...deps, stats, idle: new IdleWatch(deps.config.timeouts.idleMs) };
  const route = async (ctx: RouteContext, info: RequestInfo): Promise<void> => {
    const method = ctx.req.method ?? 'GET';
    if (ctx.url.pathname.length > MAX_PATH_LENGTH) throw new HttpError(414, 'path too long');
    const path = decodePath(ctx.url.pathname);
    // The session parameter read without building the query's URLSearchParams (segments need nothing else of it).
    const session = sessionParamOf(ctx.url);
    const kind = classifyBySession(path, session);
    info.protocol = stats.protocolOf(kind, path, session);
    if (method === 'OPTIONS') {
      ctx.res.writeHead(200, { ...CORS_HEADERS, 'content-length': '0' });
      ctx.res.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `method ${method.slice(0, 16)} not allowed`);
    switch (kind) {
      case 'playlist':
      case 'manifest':
        return manifest(counted, ctx, path, kind, info);
      case 'segment':
        return segment(counted, ctx, session ?? '', info.protocol === 'dash' ? 'dash' : 'hls');
      case 'live':
        return live(counted, ctx, path, true, info);
      case 'maybe-segment':
        return live(counted, ctx, path, false, info);
      case 'static':
        return serveStatic(ctx.req, ctx.res, deps.config.staticFiles, ctx.url.pathname);
    }
  };
  return async (ctx) => {
    const info: RequestInfo = { protocol: undefined, at: now() };
    try {
      await route(ctx, info);
    } catch (err) {
      // Routing refused (no origin, Redis down, origins down…): the refusal table's status and text;
      // the details (origin ids and addresses) go to the log only.
      // Shared state out of reach (Redis down) on any balancer read is the same refusal: 503.
      const refusal = refusalOf(err);
      if (refusal instanceof RouteRefusal) {
        ctx.log.debug({ refusal: refusal.kind, reason: refusal.detail }, 'stream not routed');
        if (info.protocol) stats.counters(info.protocol).refuse(refusal.kind, ctx.log, { why: refusal.detail });
        throw refusalHttpError(refusal);
      }
      // A player that left while its request waited was not refused.
      if (err instanceof HttpError && info.protocol && err.status !== CLIENT_LEFT)
        stats.counters(info.protocol).refuse(httpRefusalReason(err), ctx.log, { status: err.status, why: err.message });
      throw err;
    }
  };
}

type CountedDeps = HttpStreamDeps & { stats: HttpStreamStats; idle: IdleWatch };

/**
 * Live FLV/TS/AAC/MP3, routed by its own stream key; a `.ts` only goes to another stream's origin when
 * it is provably an HLS segment of it. Other segment names without the session parameter go to the
 * origin of the stream they are named after when that stream is pinned, else to the static files.
 */
async function live(deps: CountedDeps, ctx: RouteContext, path: string, isLive: boolean, info: RequestInfo): Promise<void> {
  const ext = extensionOf(path);
  if (!isLiveOnly(ext)) {
    const owner = await segmentOwnerRoute(deps, ctx, path, isLive);
    if (owner) return relay(deps, ctx, owner);
  }
  if (!isLive) return serveStatic(ctx.req, ctx.res, deps.config.staticFiles, ctx.url.pathname);
  const key = keyOf(ctx, path);
  ctx.log.debug({ stream: key.key }, 'live stream');
  if (deps.edge && ext === 'flv' && ctx.req.method === 'GET') return edgeFlv(deps, deps.edge, ctx, key, info);
  const route = await deps.router.route(key.key, 'http', 'play');
  const t = deps.config.timeouts;
  const protocol = info.protocol === 'ts' ? 'ts' : 'flv';
  const counters = deps.stats.counters(protocol);
  const arrival = counters.arrive(info.at);
  try {
    await passthroughLive({
      req: ctx.req,
      res: ctx.res,
      targets: route.targets,
      report: (target, ok) => route.report(target as RouteTarget, ok ? 'ok' : 'fail'),
      timeFor: (target) => route.dialTimeFor(target as RouteTarget, t.dialMs),
      // Only an origin that serves the stream (2xx) keeps the pin and counts as a live relay.
      started: (target, status, close) => {
        if (status < 200 || status > 299) {
          counters.refuse('origin-refused', ctx.log, { stream: key.key, status });
          route.release();
          return () => undefined;
        }
        // The connection may have carried earlier requests: count from here.
        const socket = ctx.req.socket;
        const baseIn = socket.bytesRead;
        const baseOut = socket.bytesWritten;
        const bytes = () => ({ in: socket.bytesRead - baseIn, out: socket.bytesWritten - baseOut });
        arrival.start('play', bytes);
        const cid = (ctx.log.bindings() as { cid?: unknown }).cid;
        const handle = route.commit(target as RouteTarget, {
          close,
          client: {
            protocol,
            role: 'play',
            address: clientAddress(socket.remoteAddress, socket.remotePort),
            ...(typeof cid === 'string' ? { cid } : {}),
            since: arrival.at,
            bytes,
          },
        });
        return () => handle.release();
      },
      path: ctx.url.pathname + ctx.url.search,
      log: ctx.log,
      dialMs: t.dialMs,
      idleMs: t.idleMs,
      extension: ext,
    });
  } finally {
    route.release(); // nothing started (does nothing after a commit)
    arrival.end();
  }
}

/** Edge mode: an HTTP-FLV player joins its stream's shared upstream (src/edge/); settles when it is done. */
async function edgeFlv(deps: CountedDeps, edge: Edge, ctx: RouteContext, key: StreamKey, info: RequestInfo): Promise<void> {
  const arrival = deps.stats.counters('flv').arrive(info.at);
  try {
    await edge.playFlv({
      req: ctx.req,
      res: ctx.res,
      key,
      query: ctx.url.search.slice(1),
      log: ctx.log,
      started: (socket) => arrival.start('play', () => ({ in: socket.bytesRead, out: socket.bytesWritten })),
    });
  } finally {
    arrival.end();
  }
}

/**
 * A segment name without the session parameter (`/live/livestream-12.ts`): the route of the stream it
 * is named after, when that stream is pinned. For a `.ts` (`live`), only when the name has an HLS
 * segment's form, that stream has an HLS session, and the whole name is not a pinned stream itself.
 */
async function segmentOwnerRoute(deps: HttpStreamDeps, ctx: RouteContext, path: string, live: boolean): Promise<Route | undefined> {
  const slash = path.lastIndexOf('/');
  const file = path.slice(slash + 1);
  const base = file.slice(0, file.length - extensionOf(file).length - 1);
  const owner = live ? hlsSegmentOwner(base) : segmentOwner(base);
  if (!owner) return undefined;
  let key: StreamKey;
  try {
    key = streamKeyFromHttp({ host: ctx.req.headers.host, path: `${path.slice(0, slash + 1)}${owner}.x`, query: new URLSearchParams() });
  } catch {
    return undefined;
  }
  if (live) {
    if (!(await deps.balancer.hlsSessionOf(key.key))) return undefined;
    const own = keyOf(ctx, path);
    if (await deps.balancer.lookup(own.key)) return undefined;
  }
  return deps.router.lookup(key.key, 'http');
}

/** A segment carrying the session parameter: routed by the session's stream. */
async function segment(deps: CountedDeps, ctx: RouteContext, id: string, protocol: 'hls' | 'dash'): Promise<void> {
  if (!SESSION_ID.test(id)) throw new HttpError(400, `invalid ${SESSION_PARAM} ${id.slice(0, 16)}`);
  const session = await deps.balancer.hlsSessionById(id);
  if (!session) throw new HttpError(404, `unknown ${SESSION_PARAM} ${id}`);
  const socket = ctx.req.socket;
  const baseIn = socket.bytesRead;
  const baseOut = socket.bytesWritten;
  try {
    const cache = deps.cache;
    if (cache && cacheableRequest(ctx.req)) {
      const extension = extensionOf(ctx.url.pathname);
      const got = await cache.get(cacheKey(session.streamKey, ctx.url.pathname, ctx.url.searchParams, SESSION_PARAM), async () => {
        const route = await deps.router.route(session.streamKey, 'http', 'play');
        return fillSegment({
          cache,
          open: () => requestInOrder(route, (target) => segmentRequest(deps, ctx, target, false), deps.config.timeouts.dialMs),
          streamOwn: (upstream) => streamResponse(upstream, ctx.res, ctx.log, deps.idle, extension),
          idleMs: deps.config.timeouts.idleMs,
          extension,
          now: deps.now ?? Date.now,
        });
      });
      if (got) sendCached(cache, ctx.res, got);
    } else {
      await relay(deps, ctx, await deps.router.route(session.streamKey, 'http', 'play'));
    }
  } finally {
    deps.stats.playerRequest(socket.remoteAddress ?? '', session.streamKey, protocol, socket.bytesRead - baseIn, socket.bytesWritten - baseOut);
  }
}

/** HLS playlist or DASH manifest: fetched whole, rewritten with the session id, Content-Length recomputed. */
async function manifest(deps: CountedDeps, ctx: RouteContext, path: string, kind: 'playlist' | 'manifest', info: RequestInfo): Promise<void> {
  // A variant playlist requested through a rewritten master carries the master's session.
  const given = ctx.url.searchParams.get(SESSION_PARAM);
  const known = given && SESSION_ID.test(given) ? await deps.balancer.hlsSessionById(given) : undefined;
  const streamKey = known?.streamKey ?? keyOf(ctx, path).key;
  const protocol = kind === 'playlist' ? 'hls' : 'dash';
  // Every player's copy differs only by its session id: the origin's answer is shared (and cached for
  // half the playlist's target duration), the rewrite is per request.
  const shared = deps.cache !== undefined && ctx.req.method === 'GET';
  const cached = shared
    ? await deps.cache!.get(cacheKey(streamKey, ctx.url.pathname, ctx.url.searchParams, SESSION_PARAM), () => fetchManifest(deps, ctx, streamKey, kind, false))
    : undefined;
  const got: CacheAnswer = cached ?? { answer: await fetchManifest(deps, ctx, streamKey, kind, !shared), source: 'miss' };
  const { answer } = got;
  let body = answer.body;
  let spbhid: string | undefined;
  if (answer.status !== 200) deps.stats.counters(protocol).refuse('origin-refused', ctx.log, { stream: streamKey, status: answer.status });
  if (answer.status === 200) {
    // A session record exists only for a stream the origin really serves: refusals create nothing.
    const session = known ?? (await newHlsSession(deps, streamKey, sessionUrl(ctx, path)));
    spbhid = session.spbhid;
    ctx.log.debug({ stream: streamKey, status: answer.status, spbhid: session.spbhid, cache: got.source }, kind);
    const text = body.toString('utf8');
    let rewritten = text;
    if (kind === 'playlist' && isHlsPlaylist(text)) rewritten = rewriteHlsPlaylist(text, session.spbhid);
    if (kind === 'manifest' && isDashManifest(text)) rewritten = rewriteDashManifest(text, session.spbhid);
    if (rewritten !== text) body = Buffer.from(rewritten, 'utf8');
  }
  // The body changed, so a validator of the origin's bytes would lie; its length is recomputed.
  sendCached(deps.cache, ctx.res, got, body, body !== answer.body ? ETAG : NONE);
  // A player is counted once, on the first playlist its address asks for (setup: request → answer).
  if (spbhid !== undefined && deps.stats.playerRequest(ctx.req.socket.remoteAddress ?? '', streamKey, protocol, 0, body.length)) {
    deps.stats.counters(protocol).countStarted('play', Math.max(0, (deps.now ?? Date.now)() - info.at) / 1000);
  }
}

/**
 * The origin's answer for a playlist or manifest, read whole (the cache's fill): kept for half the
 * playlist's target duration (or the manifest's update period) when it is a 200 the origin lets shared
 * caches keep.
 */
async function fetchManifest(deps: CountedDeps, ctx: RouteContext, streamKey: string, kind: 'playlist' | 'manifest', own: boolean): Promise<CachedAnswer> {
  const route = await deps.router.route(streamKey, 'http', 'play');
  const blocking = ctx.url.searchParams.has('_HLS_msn') || ctx.url.searchParams.has('_HLS_part');
  const upstream = await requestInOrder(
    route,
    (target) =>
      requestOrigin({
        client: deps.origins,
        target,
        path: ctx.url.pathname + ctx.url.search,
        req: ctx.req,
        headersTimeoutMs: blocking ? BLOCKING_RELOAD_TIMEOUT_MS : deps.config.timeouts.originAnswerMs,
        // The body is rewritten whole: ask for all of it, uncompressed (a forwarded `Range: bytes=0-`, as
        // ffmpeg sends, would get a 206 whose Content-Range no longer matches the rewritten length).
        headers: IDENTITY_ENCODING,
        dropHeaders: RANGE_HEADERS,
        // Fetched for this player alone: its leaving drops the request while it waits.
        ownClient: own ? ctx.res : undefined,
      }),
    deps.config.timeouts.dialMs,
  );
  const bytes = await readLimited(upstream, MAX_MANIFEST_BYTES).catch((err: unknown) => {
    // The origin dropped the connection mid-body or framed it wrongly: its fault, not ours (502, not 500).
    throw new HttpError(502, 'origin ended its answer early', 502, { cause: err });
  });
  if (bytes === undefined) throw new HttpError(502, 'origin sent an oversized playlist');
  const headers = clientHeaderList(upstream.rawHeaders, false, kind === 'playlist' ? 'm3u8' : 'mpd');
  // Without a cache nothing is kept: no freshness to work out.
  const keep = deps.cache !== undefined && upstream.statusCode === 200 && !forbidsSharedCache(headers);
  const text = keep ? bytes.toString('utf8') : '';
  return {
    status: upstream.statusCode,
    headers,
    body: bytes,
    storedAt: (deps.now ?? Date.now)(),
    ttlMs: keep ? (kind === 'playlist' ? playlistTtlMs(text) : manifestTtlMs(text)) : 0,
  };
}

/** A new HLS session record; at the records' byte budget the player is told to try later (503). */
async function newHlsSession(deps: HttpStreamDeps, streamKey: string, url: string): Promise<HlsSession> {
  try {
    return await deps.balancer.hlsSession(streamKey, url);
  } catch (err) {
    if (!(err instanceof HlsBudgetError)) throw err;
    throw new HttpError(503, 'HLS session limit reached: try again later', 503, { cause: err });
  }
}

/** A segment or file of a stream, streamed back as the origin sends it. */
async function relay(deps: CountedDeps, ctx: RouteContext, route: Route): Promise<void> {
  const upstream = await requestInOrder(route, (target) => segmentRequest(deps, ctx, target, true), deps.config.timeouts.dialMs);
  await streamResponse(upstream, ctx.res, ctx.log, deps.idle, extensionOf(ctx.url.pathname));
}

/** The client's request for a segment or file, as sent to one origin target; `own`: for this client alone (not a cache fill). */
function segmentRequest(deps: HttpStreamDeps, ctx: RouteContext, target: RouteTarget, own: boolean): Promise<OriginAnswer> {
  return requestOrigin({
    client: deps.origins,
    target,
    path: ctx.url.pathname + ctx.url.search,
    req: ctx.req,
    headersTimeoutMs: deps.config.timeouts.originAnswerMs,
    ownClient: own ? ctx.res : undefined,
  });
}

/**
 * One request over the route's targets in order (a refused or timed-out connection tries the next);
 * a 2xx answer keeps the stream's pin, anything else gives the lease back.
 */
async function requestInOrder(route: Route, request: (target: RouteTarget) => Promise<OriginAnswer>, dialMs: number): Promise<OriginAnswer> {
  try {
    // The pool's connect timeout is dialMs; an origin whose time is spent has its other endpoints skipped.
    const { value, target } = await dialInOrder(route, (t) => request(t), { isDialFailure: isOriginDialFailure, dialMs });
    if (value.statusCode >= 200 && value.statusCode <= 299) route.commit(target);
    else route.release();
    return value;
  } catch (err) {
    route.release();
    throw err;
  }
}

/** The playlist URL kept in the session record: a well-formed Host only, never the raw header. */
function sessionUrl(ctx: RouteContext, path: string): string {
  const host = ctx.req.headers.host ?? '';
  const shown = /^[A-Za-z0-9.[\]:-]{1,255}$/.test(host) ? host : 'invalid-host';
  return `http://${shown}${path}`;
}

function keyOf(ctx: RouteContext, path: string): StreamKey {
  try {
    return streamKeyFromHttp({ host: ctx.req.headers.host, path, query: ctx.url.searchParams });
  } catch (err) {
    if (err instanceof StreamKeyError) throw new HttpError(400, err.message, 400, { cause: err });
    throw err;
  }
}

function decodePath(encoded: string): string {
  let path: string;
  try {
    path = decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'invalid percent-encoding in path');
  }
  if (path.includes('\0')) throw new HttpError(400, 'NUL in path');
  return path;
}

/** Reads a whole answer, or undefined (and the answer dropped) once it passes `limit` bytes. */
function readLimited(answer: OriginAnswer, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    answer.read(
      (chunk) => {
        if (over) return false;
        size += chunk.length;
        if (size > limit) {
          over = true;
          answer.abort();
          resolve(undefined);
          return false;
        }
        // The chunk is a view of the origin connection's reused read buffer: kept as a copy.
        chunks.push(Buffer.from(chunk));
        return true;
      },
      (err) => {
        if (over) return;
        if (err) reject(err);
        else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      },
    );
  });
}
