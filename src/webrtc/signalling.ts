// WebRTC signalling on PROXY_HTTP_API (BEHAVIOUR.md §6.1, 6.2, 5.6; BEHAVIOUR.md §9.2 #6, #14, #19): WHIP/WHEP
// (`/rtc/v1/whip/`, `/rtc/v1/whep/`, `/rtc/v1/whip-play/`) and SRS's JSON APIs (`/rtc/v1/publish/`,
// `/rtc/v1/play/`).
//
// identify: the stream from `?app=&stream=` (WHIP/WHEP) or `streamurl` (JSON API); the offer must carry
//           ICE credentials.
// route:    the stream's origin (the router), its API endpoint for the HTTP exchange and its UDP
//           `rtc` endpoint for media.
// relay:    the request goes to the origin with the client's headers (Content-Type, Authorization,
//           X-Forwarded-*); the origin's status and headers come back. A successful answer gets its
//           candidates pointed at the proxy, its session stored for the UDP relay, and its Location
//           rewritten so DELETE/PATCH come back here and reach the same origin.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type Dispatcher } from '../net/undici.js';
import { CORS_HEADERS, HttpError, readBody, sendError } from '../net/http-util.js';
import type { Handler, Methods, Route, RouteContext } from '../net/router.js';
import type { RtcSession } from '../balancer/balancer.js';
import { hostPort } from '../balancer/endpoint.js';
import type { Origin } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import { forwardRequestHeaders, forwardResponseHeaders, originBaseUrl } from '../net/origin-http.js';
import type { ProtocolDeps } from '../net/service.js';
import { RouteRefusal, refusalHttpError } from '../routing/refusal.js';
import { originTargets, refusalOf, rtcMediaTarget } from '../routing/router.js';
import type { Route as StreamRoute, RouteTarget } from '../routing/types.js';
import { StreamKeyError, streamKeyFromUrl, streamKeyFromWebrtc, type StreamKey } from '../stream-key.js';
import { clip } from '../text.js';
import { SignallingSdpError, iceSessionId, offerCredentials, proxyAnswer, type MediaRewrite } from './answer.js';
import type { WebrtcRelay } from './relay.js';
import { httpRefusalReason } from '../net/client-stats.js';
import { rewriteCandidates } from './sdp-rewrite.js';
import { extractIceCredentials, type IceCredentials } from './sdp.js';
import { clientAddressKey, OfferRateLimit } from './offer-limit.js';
import { discardBody, isFinalStatus, nonStandardStatus } from '../http/origin-request.js';
import { ResourceMacKey } from './resource-mac.js';
import { RESOURCE_PREFIX, originPath, proxyResourceLocation, resourceMacInput, takeProxyParams } from './whip-resource.js';

/** What the signalling routes need: the shared deps, the relay (its port, capacity, teardown) and the origin HTTP pool. */
export interface WebrtcSignallingDeps extends ProtocolDeps {
  relay: WebrtcRelay;
  /** The origin pool, created at its first use. */
  agent: { get(): Dispatcher };
}

/** Largest offer, PATCH fragment or JSON API body accepted from a client. */
const MAX_CLIENT_BODY = 256 * 1024;
/** Largest answer accepted from an origin. */
const MAX_ORIGIN_BODY = 1024 * 1024;

const WHIP_PATHS = ['/rtc/v1/whip', '/rtc/v1/whep', '/rtc/v1/whip-play'] as const;
const JSON_API_PATHS = ['/rtc/v1/publish', '/rtc/v1/play'] as const;
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** The signalling routes for the HTTP API listener. */
export function webrtcRoutes(deps: WebrtcSignallingDeps): Route[] {
  const s = new Signalling(deps);
  const routes: Route[] = [];
  const offer = (handler: Handler) => countRefusals(deps.relay, handler);
  for (const path of WHIP_PATHS) {
    routes.push({
      path: `${path}/`,
      prefix: true,
      methods: { ...everyMethod((ctx) => s.resource(ctx)), POST: offer((ctx) => s.offer(ctx)), OPTIONS: preflight },
    });
    routes.push({ path, methods: everyMethod(slashRedirect) });
  }
  for (const path of JSON_API_PATHS) {
    routes.push({ path: `${path}/`, methods: { POST: offer((ctx) => s.jsonApi(ctx)), OPTIONS: preflight } });
    routes.push({ path, methods: everyMethod(slashRedirect) });
  }
  routes.push({ path: `${RESOURCE_PREFIX}/`, prefix: true, methods: { ...everyMethod((ctx) => s.resource(ctx)), OPTIONS: preflight } });
  return routes.map((r) => ({ ...r, methods: withCors(r.methods) }));
}

/** An offer refused here (routing, limits, a bad offer) is counted and logged by the relay's client counters. */
function countRefusals(relay: WebrtcRelay, handler: Handler): Handler {
  return async (ctx) => {
    try {
      await handler(ctx);
    } catch (err) {
      const refusal = refusalOf(err);
      const reason = refusal instanceof RouteRefusal ? refusal.kind : err instanceof HttpError ? httpRefusalReason(err) : 'error';
      const why = refusal instanceof RouteRefusal ? refusal.detail : (err as Error).message;
      relay.refused(reason, ctx.log, { why });
      throw err;
    }
  };
}

function everyMethod(handler: Handler): Methods {
  return Object.fromEntries(ALL_METHODS.map((m) => [m, handler])) as Methods;
}

/** Errors from these routes carry CORS headers too (a browser could not read them otherwise). */
function withCors(methods: Methods): Methods {
  const out: Methods = {};
  for (const [method, handler] of Object.entries(methods) as [keyof Methods, Handler][]) {
    out[method] = async (ctx) => {
      try {
        await handler(ctx);
      } catch (err) {
        if (err instanceof HttpError) {
          ctx.log.debug({ status: err.status, error: err.message }, 'WebRTC request refused');
          sendError(ctx.res, err, CORS_HEADERS);
        } else if (refusalOf(err) instanceof RouteRefusal) {
          // Includes the balancer being unreachable on any read (sessions, origins): 503, like every protocol.
          const refusal = refusalOf(err) as RouteRefusal;
          ctx.log.debug({ refusal: refusal.kind, reason: refusal.detail }, 'WebRTC request refused: stream not routed');
          sendError(ctx.res, refusalHttpError(refusal), CORS_HEADERS);
        } else {
          ctx.log.error({ err }, 'WebRTC request failed');
          sendError(ctx.res, new HttpError(500, 'internal error'), CORS_HEADERS);
        }
      }
    };
  }
  return out;
}

/** OPTIONS: 200, empty, CORS; a preflight asking for headers (Authorization is never covered by `*`) gets them named. */
function preflight({ req, res }: RouteContext): void {
  const asked = req.headers['access-control-request-headers'];
  res.writeHead(200, { ...CORS_HEADERS, ...(asked ? { 'access-control-allow-headers': clip(asked, 1024) } : {}), 'content-length': '0' });
  res.end();
}

/** `/rtc/v1/whip` → `/rtc/v1/whip/` keeping the query; 308 so a POST stays a POST with its body. */
function slashRedirect({ req, res }: RouteContext): void {
  const { path, query } = splitUrl(req.url ?? '/');
  res.writeHead(308, { ...CORS_HEADERS, location: `${path}/${query === '' ? '' : `?${query}`}`, 'content-length': '0' });
  res.end();
}

interface OriginReply {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Buffer;
  target: RouteTarget;
}

/** Methods a client may send to a WHIP/WHEP resource (OPTIONS is answered here). */
const RESOURCE_METHODS = new Set(['DELETE', 'PATCH']);

class Signalling {
  private readonly macKey: ResourceMacKey;
  private readonly offers: OfferRateLimit;

  constructor(private readonly deps: WebrtcSignallingDeps) {
    this.macKey = new ResourceMacKey(deps.config.sessionSecret, deps.balancer);
    this.offers = new OfferRateLimit({ perMinute: deps.config.edge.maxOffersPerIp, now: deps.now ?? Date.now });
  }

  /** One offer from the client's allowance; past it 429, before the body is read or an origin asked. */
  private takeOffer({ req, res, log }: RouteContext): void {
    const address = clientAddressKey(req.socket.remoteAddress);
    if (this.offers.take(address)) return;
    log.debug({ client: address }, 'WebRTC offer over PROXY_MAX_OFFERS_PER_IP');
    // The body is left unread: closing is cheaper than draining it for a client that floods.
    res.shouldKeepAlive = false;
    throw new HttpError(429, `too many WebRTC offers from this address (PROXY_MAX_OFFERS_PER_IP: ${this.deps.config.edge.maxOffersPerIp} a minute)`);
  }

  /** POST of an offer to WHIP/WHEP: forward, rewrite the answer, store the session. */
  async offer(ctx: RouteContext): Promise<void> {
    const { req, res, log } = ctx;
    const offeredAt = (this.deps.now ?? Date.now)();
    const { path, query } = splitUrl(req.url ?? '/');
    const { query: originQuery } = takeProxyParams(query);
    const params = new URLSearchParams(originQuery);
    this.takeOffer(ctx);
    if (!this.deps.relay.hasCapacity()) throw new HttpError(503, 'WebRTC session limit reached');
    const body = await readBody(req, MAX_CLIENT_BODY);
    const offer = offerIce(body.toString('utf8'));
    const key = streamKey(() => streamKeyFromWebrtc(req.headers.host, params));
    // Before the origin creates a session: without the key its resource URL could not be given out.
    const resourceMac = await this.macKey.get();
    const role = path.includes('whep') || path.includes('play') ? 'play' : 'publish';
    const route = await this.deps.router.route(key.key, 'rtc', role);
    const reply = await this.forwardRoute(req, log, route, withQuery(path, originQuery), body);
    if (!isSuccess(reply.status)) {
      this.deps.relay.refused('origin-refused', log, { stream: key.key, status: reply.status });
      return sendReply(res, reply.status, reply.headers, reply.body);
    }
    const origin = reply.target.origin;
    const media = mediaTarget(origin, log);
    const answer = this.answer(reply.body.toString('utf8'), params);
    const session = iceSessionId(answer.credentials, offer);
    await this.store({
      ufrag: session,
      streamKey: key.key,
      serverId: origin.serverId,
      mediaHost: media.host,
      mediaPort: media.port,
      icePwd: answer.credentials.pwd,
      role,
      offeredAt,
    });
    const headers = { ...reply.headers };
    const location = firstValue(headers.location);
    if (location !== undefined) {
      headers.location = proxyResourceLocation(location, {
        serverId: origin.serverId,
        session,
        originHosts: [reply.target.host, origin.ip],
        requestUrl: `${originBaseUrl(reply.target.host, reply.target.port)}${withQuery(path, originQuery)}`,
        mac: resourceMac.mac,
      });
    }
    log.info({ stream: key.key, origin: origin.serverId, session }, 'WebRTC offer answered');
    sendReply(res, reply.status, headers, Buffer.from(answer.sdp, 'utf8'));
  }

  /**
   * DELETE or PATCH on a resource URL the proxy gave out (its Location rewrite): only that exact URL,
   * checked by its MAC, reaches the origin that created it; anything else is refused here (the proxy is
   * no general forwarder to origin APIs, and one client cannot end another's session). A successful
   * DELETE also ends the session here; a PATCH answer's candidates (trickle) and new credentials (ICE
   * restart) are handled like an answer's.
   */
  async resource(ctx: RouteContext): Promise<void> {
    const { req, res, log } = ctx;
    const method = (req.method ?? 'GET').toUpperCase();
    if (!RESOURCE_METHODS.has(method)) throw new HttpError(405, `${clip(method, 16)} is not allowed on a WebRTC resource (DELETE, PATCH, OPTIONS)`);
    const { path, query } = splitUrl(req.url ?? '/');
    const taken = takeProxyParams(query);
    const { serverId, session, signature } = taken;
    if (serverId === undefined || session === undefined || signature === undefined) {
      throw new HttpError(404, 'unknown WebRTC resource (use the Location of the offer answer)');
    }
    const resourceMac = await this.macKey.get();
    if (!resourceMac.verify(resourceMacInput(serverId, session, originPath(path), taken.query), signature)) {
      log.info({ session: clip(session), origin: clip(serverId) }, 'WebRTC resource URL does not verify');
      throw new HttpError(403, 'WebRTC resource URL does not verify');
    }
    const params = new URLSearchParams(taken.query);
    const record = await this.deps.balancer.rtcSession(session);
    const origin = await this.resourceOrigin(serverId, log);
    const targets = originTargets(origin, 'rtc');
    const body = await readBody(req, MAX_CLIENT_BODY);
    const reply = await this.forward(req, log, targets, method, withQuery(originPath(path), taken.query), body);
    if (isSuccess(reply.status) && method === 'DELETE') {
      const relayed = await this.deps.relay.closeSession(session, 'delete');
      log.info({ origin: origin.serverId, session, relayed }, 'WebRTC session deleted');
    }
    if (isSuccess(reply.status) && method === 'PATCH' && reply.body.length > 0 && isSdpFragment(reply.headers)) {
      const fragment = await this.patchAnswer(reply.body.toString('utf8'), body.toString('utf8'), params, origin, record, log);
      return sendReply(res, reply.status, reply.headers, Buffer.from(fragment, 'utf8'));
    }
    sendReply(res, reply.status, reply.headers, reply.body);
  }

  /** SRS's JSON API: `{api, streamurl, clientip, sdp, tid}` → `{code, server, sdp, sessionid, …}`. */
  async jsonApi(ctx: RouteContext): Promise<void> {
    const { req, res, log } = ctx;
    const offeredAt = (this.deps.now ?? Date.now)();
    const { path, query } = splitUrl(req.url ?? '/');
    this.takeOffer(ctx);
    if (!this.deps.relay.hasCapacity()) throw new HttpError(503, 'WebRTC session limit reached');
    const body = await readBody(req, MAX_CLIENT_BODY);
    const request = parseJsonObject(body);
    if (!request) throw new HttpError(400, 'body must be a JSON object');
    if (typeof request.streamurl !== 'string' || typeof request.sdp !== 'string') {
      throw new HttpError(400, 'streamurl and sdp must be strings');
    }
    const offer = offerIce(request.sdp);
    const streamurl = request.streamurl;
    const key = streamKey(() => streamKeyFromUrl(streamurl));
    const role = path.includes('play') ? 'play' : 'publish';
    const route = await this.deps.router.route(key.key, 'rtc', role);
    const reply = await this.forwardRoute(req, log, route, withQuery(path, query), body);
    const origin = reply.target.origin;
    const media = mediaTarget(origin, log);
    const answer = isSuccess(reply.status) ? parseJsonObject(reply.body) : undefined;
    // SRS reports failures as {code: non-zero} (often with HTTP 200): passed on untouched.
    if (!answer || (answer.code !== 0 && answer.code !== undefined) || typeof answer.sdp !== 'string') {
      this.deps.relay.refused('origin-refused', log, { stream: key.key, status: reply.status });
      return sendReply(res, reply.status, reply.headers, reply.body);
    }
    const proxied = this.answer(answer.sdp, new URLSearchParams(streamurl.split('?')[1] ?? ''));
    const session = iceSessionId(proxied.credentials, offer);
    await this.store({
      ufrag: session,
      streamKey: key.key,
      serverId: origin.serverId,
      mediaHost: media.host,
      mediaPort: media.port,
      icePwd: proxied.credentials.pwd,
      role,
      offeredAt,
    });
    answer.sdp = proxied.sdp;
    log.info({ stream: key.key, origin: origin.serverId, session }, 'WebRTC offer answered (JSON API)');
    sendReply(res, reply.status, reply.headers, Buffer.from(JSON.stringify(answer), 'utf8'));
  }

  // ---------------------------------------------------------------------------------------------

  private answer(sdp: string, params: URLSearchParams) {
    try {
      return proxyAnswer(sdp, this.mediaRewrite(params));
    } catch (err) {
      if (err instanceof SignallingSdpError) throw new HttpError(502, err.message, 502, { cause: err });
      throw err;
    }
  }

  /**
   * PATCH answer: its candidates point at the proxy; new ICE credentials on both sides (an ICE
   * restart) become a new session to the same origin.
   */
  private async patchAnswer(
    fragment: string,
    requestFragment: string,
    params: URLSearchParams,
    origin: Origin,
    record: RtcSession | undefined,
    log: Logger,
  ): Promise<string> {
    const rewritten = rewriteCandidates(fragment, { ...this.mediaRewrite(params), keepTcp: false });
    const answerIce = extractIceCredentials(fragment);
    const offerIce = extractIceCredentials(requestFragment);
    if (answerIce && offerIce) {
      const media = record?.mediaHost && record.mediaPort ? { host: record.mediaHost, port: record.mediaPort } : mediaTarget(origin, log);
      const streamKey = record?.streamKey ?? streamKeyFromWebrtcSafe(params);
      if (streamKey !== undefined) {
        await this.store({
          ufrag: iceSessionId(answerIce, offerIce),
          streamKey,
          serverId: origin.serverId,
          mediaHost: media.host,
          mediaPort: media.port,
          icePwd: answerIce.pwd,
          ...(record?.role ? { role: record.role } : {}),
        });
      }
    }
    return rewritten;
  }

  private mediaRewrite(params: URLSearchParams): MediaRewrite {
    // A client that named the server's candidate address itself (SRS `eip`/`candidate`) keeps it.
    const clientChose = params.has('eip') || params.has('candidate');
    return { udpPort: this.deps.relay.port, address: clientChose ? undefined : this.deps.config.webrtcCandidate };
  }

  private async store(session: RtcSession): Promise<void> {
    await this.deps.balancer.putRtcSession(session);
  }

  /** Forwards along a route: a 2xx answer keeps the stream's pin, anything else gives the lease back. */
  private async forwardRoute(req: IncomingMessage, log: Logger, route: StreamRoute, pathAndQuery: string, body: Buffer, method = 'POST'): Promise<OriginReply> {
    try {
      const dialMs = this.deps.config.timeouts.dialMs;
      const reply = await this.forward(
        req,
        log,
        route.targets,
        method,
        pathAndQuery,
        body,
        (t, ok) => route.report(t, ok ? 'ok' : 'fail'),
        (t) => route.dialTimeFor(t, dialMs),
      );
      if (isSuccess(reply.status)) route.commit(reply.target);
      else route.release();
      return reply;
    } catch (err) {
      route.release();
      throw err;
    }
  }

  /** The origin owning a resource, by the server id its (verified) URL names. */
  private async resourceOrigin(serverId: string, log: Logger): Promise<Origin> {
    const views = await this.deps.balancer.origins();
    const found = views.find((v) => v.origin.serverId === serverId);
    if (!found) {
      log.info({ origin: clip(serverId) }, 'WebRTC resource: its origin is no longer registered');
      throw new HttpError(404, 'the origin of this WebRTC resource is gone');
    }
    return found.origin;
  }

  /** Sends the request to the origin's API endpoints in order (a refused connection tries the next). */
  private async forward(
    req: IncomingMessage,
    log: Logger,
    targets: readonly RouteTarget[],
    method: string,
    pathAndQuery: string,
    body: Buffer,
    report?: (target: RouteTarget, ok: boolean) => void,
    timeFor?: (target: RouteTarget) => number,
  ): Promise<OriginReply> {
    if (targets.length === 0) {
      log.warn('origin has no API endpoint');
      throw new HttpError(502, 'origin has no API endpoint');
    }
    const { dialMs, originAnswerMs } = this.deps.config.timeouts;
    let lastError: unknown;
    for (const target of targets) {
      // The pool's connect timeout is dialMs; an origin whose time is spent has its other endpoints skipped.
      if (timeFor && timeFor(target) <= 0) continue;
      try {
        const r = await this.deps.agent.get().request({
          origin: originBaseUrl(target.host, target.port),
          path: pathAndQuery,
          method: method as Dispatcher.HttpMethod,
          headers: forwardRequestHeaders(req, hostPort(target.host, target.port)),
          body: body.length > 0 ? body : undefined,
          headersTimeout: originAnswerMs,
          bodyTimeout: originAnswerMs,
        });
        report?.(target, true);
        if (!isFinalStatus(r.statusCode)) {
          discardBody(r.body);
          log.warn({ origin: target.origin.id, status: r.statusCode }, 'origin API answered a non-standard status');
          throw nonStandardStatus(r.statusCode);
        }
        return { status: r.statusCode, headers: r.headers, body: await readLimited(r.body, MAX_ORIGIN_BODY), target };
      } catch (err) {
        lastError = err;
        if (!isConnectFailure(err)) break;
        report?.(target, false);
        log.debug({ origin: target.origin.id, target: hostPort(target.host, target.port), err: (err as Error).message }, 'origin API unreachable');
      }
    }
    if (lastError instanceof HttpError) throw lastError;
    if (lastError instanceof errors.HeadersTimeoutError || lastError instanceof errors.BodyTimeoutError) {
      throw new HttpError(504, 'origin did not answer in time');
    }
    log.warn({ origins: [...new Set(targets.map((t) => t.origin.id))], err: (lastError as Error).message, dialMs }, 'origin API request failed');
    throw new HttpError(502, 'origin unreachable');
  }
}

// -----------------------------------------------------------------------------------------------
// Helpers

function offerIce(sdp: string): IceCredentials {
  try {
    return offerCredentials(sdp);
  } catch (err) {
    if (err instanceof SignallingSdpError) throw new HttpError(400, err.message, 400, { cause: err });
    throw err;
  }
}

function streamKey(make: () => StreamKey): StreamKey {
  try {
    return make();
  } catch (err) {
    if (err instanceof StreamKeyError) throw new HttpError(400, err.message, 400, { cause: err });
    throw err;
  }
}

function streamKeyFromWebrtcSafe(params: URLSearchParams): string | undefined {
  try {
    return streamKeyFromWebrtc(undefined, params).key;
  } catch {
    return undefined;
  }
}

/** The origin's first UDP `rtc` endpoint: where the relay sends this session's media. */
function mediaTarget(origin: Origin, log: Logger): { host: string; port: number } {
  const target = rtcMediaTarget(origin);
  if (!target) {
    log.warn({ origin: origin.serverId }, 'origin has no UDP rtc endpoint');
    throw new HttpError(502, 'origin has no UDP rtc endpoint');
  }
  return target;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function isConnectFailure(err: unknown): boolean {
  if (err instanceof errors.ConnectTimeoutError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
}

function isSdpFragment(headers: Dispatcher.ResponseData['headers']): boolean {
  const type = firstValue(headers['content-type']);
  return type !== undefined && /^application\/(trickle-ice-sdpfrag|sdp)\b/i.test(type);
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

function withQuery(path: string, query: string): string {
  return query === '' ? path : `${path}?${query}`;
}

/** A JSON object, or undefined for anything else (invalid JSON, arrays, scalars). */
function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return undefined;
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      discardBody(body);
      throw new HttpError(502, `origin answer larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/** Writes an origin reply: its end-to-end headers, our CORS headers instead of its own (never duplicated), the right length. */
function sendReply(res: ServerResponse, status: number, originHeaders: Record<string, string | string[] | undefined>, body: Buffer): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(forwardResponseHeaders(originHeaders, { keepLength: false }))) {
    if (!k.startsWith('access-control-')) headers[k] = v;
  }
  Object.assign(headers, CORS_HEADERS);
  const bodyless = status === 204 || status === 304 || res.req.method === 'HEAD';
  if (!bodyless) headers['content-length'] = String(body.length);
  res.writeHead(status, headers);
  res.end(bodyless ? undefined : body);
}
