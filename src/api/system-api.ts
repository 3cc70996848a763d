// The system API (PROXY_SYSTEM_API): origins register here with the SRS heartbeat, and operators
// read the cluster view (origins, stream pins) or remove an origin.
import { timingSafeEqual } from 'node:crypto';
import { BalancerUnavailableError, type Balancer, type OriginView } from '../balancer/balancer.js';
import { parseRegistration, RegisterError, SERVICES, type Origin } from '../balancer/origin.js';
import { OriginAddressError, isLoopbackHost, vetOriginHost, type OriginAddressPolicy } from '../net/address-policy.js';
import type { Config } from '../config.js';
import { SIGNATURE, VERSION } from '../version.js';
import type { ServerResponse } from 'node:http';
import { HttpError, readBody, sendJson, sendJsonText } from '../net/http-util.js';
import type { Handler, Methods, Route, RouteContext } from '../net/router.js';

/** Heartbeats are a few hundred bytes; SRS with `summaries on` sends a few KB. */
export const REGISTER_BODY_LIMIT = 64 * 1024;

export interface SystemApiDeps {
  balancer: Balancer;
  /** When set, register and admin calls need `Authorization: Bearer <token>` or `?token=<token>`. */
  registerToken: string | undefined;
  /** Cap on registered origins (server ids): a new one beyond it is refused; known ones keep heartbeating. */
  maxOrigins?: number;
  /** Which origin addresses may register. */
  addressPolicy?: OriginAddressPolicy;
  now?: () => number;
  /** Extra fields of each origin in the list (health state). */
  describeOrigin?: (v: OriginView) => Record<string, unknown>;
  /** More methods on `/api/v1/origins/<server>…` (drain, undrain). */
  originMethods?: Methods;
  /** Called once per register call with how it ended (metrics). */
  onRegister?: (outcome: RegisterOutcome) => void;
  /** The proxy's process id in register answers (with worker processes, the supervisor's); default this process's. */
  pid?: number;
  /** Counters of the UDP relays (WebRTC, SRT) for `GET /api/v1/stats`. */
  stats?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** How a register call ended: `ok`, a refusal, or `unavailable` (shared state out of reach, 503). */
export type RegisterOutcome = 'ok' | 'bad-request' | 'unauthorized' | 'too-large' | 'address-refused' | 'origin-limit' | 'unavailable' | 'error';

/** The record an origin leaves behind (ids and endpoint lists); a real one is a few hundred bytes. */
export const MAX_ORIGIN_RECORD_BYTES = 4096;
/** Listing pages: default and largest page size, and a byte budget so one page is cheap to serialise. */
const PAGE_DEFAULT = 100;
const PAGE_MAX = 1000;
const PAGE_MAX_BYTES = 64 * 1024;
/** The list of known server ids used to enforce PROXY_MAX_ORIGINS is re-read at most this often. */
const KNOWN_SERVERS_REFRESH_MS = 1000;

export function versionsRoute(path = '/api/v1/versions'): Route {
  return { path, methods: { GET: ({ res }) => sendJson(res, 200, { signature: SIGNATURE, version: VERSION }) } };
}

export function systemApiRoutes(deps: SystemApiDeps): Route[] {
  const now = deps.now ?? Date.now;
  const admit = originAdmission(deps, now);
  const authorize = (ctx: RouteContext) => requireToken(deps.registerToken, ctx);
  const describe = deps.describeOrigin;
  return [
    versionsRoute(),
    {
      path: '/api/v1/srs/register',
      methods: {
        POST: counted(deps.onRegister, async (ctx) => {
          authorize(ctx);
          const raw = await readBody(ctx.req, REGISTER_BODY_LIMIT);
          let body: unknown = {};
          if (raw.length > 0) {
            try {
              body = JSON.parse(raw.toString('utf8'));
            } catch (err) {
              throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`, 400, { cause: err });
            }
          }
          let origin;
          try {
            origin = parseRegistration(body, now(), ctx.req.headers['user-agent']);
          } catch (err) {
            if (err instanceof RegisterError) throw new HttpError(400, err.message, 400, { cause: err });
            throw err;
          }
          await admit(origin);
          // First registration, restart and state changes are logged by the health monitor, once per transition.
          await available(deps.balancer.register(origin));
          ctx.log.debug({ origin: origin.id, ip: origin.ip }, 'heartbeat');
          sendJson(ctx.res, 200, { code: 0, pid: String(deps.pid ?? process.pid) });
        }),
      },
    },
    {
      path: '/api/v1/origins',
      methods: {
        GET: async (ctx) => {
          authorize(ctx);
          const { limit, offset } = page(ctx.url);
          const all = (await available(deps.balancer.origins())).sort((a, b) =>
            a.origin.serverId < b.origin.serverId ? -1 : a.origin.serverId > b.origin.serverId ? 1 : 0,
          );
          sendPage(ctx.res, 'origins', all.slice(offset), limit, offset, (v: OriginView) => (describe ? { ...originJson(v), ...describe(v) } : originJson(v)), {
            total: all.length,
          });
        },
      },
    },
    {
      path: '/api/v1/origins/',
      prefix: true,
      methods: {
        ...deps.originMethods,
        DELETE: async (ctx) => {
          authorize(ctx);
          let serverId: string;
          try {
            serverId = decodeURIComponent(ctx.rest);
          } catch {
            throw new HttpError(400, 'invalid percent-encoding in server id');
          }
          if (!(await available(deps.balancer.deregister(serverId)))) throw new HttpError(404, `no origin with server id ${serverId}`);
          ctx.log.info({ server: serverId }, 'origin removed by API');
          sendJson(ctx.res, 200, { code: 0 });
        },
      },
    },
    {
      path: '/api/v1/stats',
      methods: {
        GET: async (ctx) => {
          authorize(ctx);
          sendJson(ctx.res, 200, { code: 0, ...((await deps.stats?.()) ?? {}) });
        },
      },
    },
  ];
}

/**
 * The startup warning for a system API anyone may use: it listens beyond loopback with neither a
 * token nor an allow list. Undefined when it is protected (or only on loopback).
 */
export function systemApiExposure(config: Pick<Config, 'listeners' | 'registerToken' | 'edge'>): string | undefined {
  if (isLoopbackHost(config.listeners.systemApi.host)) return undefined;
  if (config.registerToken !== undefined || config.edge.systemApiAllowCidrs !== undefined) return undefined;
  return (
    'SECURITY: the system API (PROXY_SYSTEM_API) listens beyond loopback with neither PROXY_REGISTER_TOKEN nor ' +
    'PROXY_SYSTEM_API_ALLOW_CIDRS: anyone who reaches it can register origins (and so receive streams), remove origins, ' +
    'and read the cluster view'
  );
}

/**
 * Registration admission: the record's size, its addresses (PROXY_ORIGIN_ALLOW_CIDRS and the refused
 * ranges), and PROXY_MAX_ORIGINS for server ids not yet known. Throws HttpError (4xx).
 */
function originAdmission(deps: SystemApiDeps, now: () => number): (origin: Origin) => Promise<void> {
  let known = new Set<string>();
  let knownAt = -Infinity;
  let queue: Promise<unknown> = Promise.resolve();
  return async (origin) => {
    const bytes = Buffer.byteLength(JSON.stringify([origin.serverId, origin.serviceId, origin.pid, origin.ip, origin.deviceId, origin.endpoints]));
    if (bytes > MAX_ORIGIN_RECORD_BYTES) throw new HttpError(413, `origin record of ${bytes} bytes is larger than ${MAX_ORIGIN_RECORD_BYTES}`);
    if (deps.addressPolicy) {
      const hosts = new Set([origin.ip]);
      for (const list of Object.values(origin.parsed)) for (const ep of list) if (ep.host !== undefined) hosts.add(ep.host);
      try {
        for (const host of hosts) await vetOriginHost(host, deps.addressPolicy);
      } catch (err) {
        if (err instanceof OriginAddressError) throw new HttpError(403, err.message, 403, { cause: err });
        throw err;
      }
    }
    const max = deps.maxOrigins;
    // Known origins' heartbeats take the fast path; new ones are admitted one at a time, so a burst
    // of new server ids cannot all pass the count before any of them is counted.
    if (max === undefined || known.has(origin.serverId)) return;
    const turn = queue.then(async () => {
      if (now() - knownAt >= KNOWN_SERVERS_REFRESH_MS || known.size >= max) {
        known = new Set((await available(deps.balancer.origins())).map((v) => v.origin.serverId));
        knownAt = now();
      }
      if (!known.has(origin.serverId) && known.size >= max) {
        throw new HttpError(403, `origin limit reached: PROXY_MAX_ORIGINS=${max} origins are registered`);
      }
      known.add(origin.serverId);
    });
    queue = turn.catch(() => undefined);
    await turn;
  };
}

/** The register handler, reporting how each call ended. */
function counted(onRegister: ((outcome: RegisterOutcome) => void) | undefined, handler: Handler): Handler {
  if (!onRegister) return handler;
  return async (ctx) => {
    try {
      await handler(ctx);
    } catch (err) {
      onRegister(registerOutcome(err));
      throw err;
    }
    onRegister('ok');
  };
}

/** How a register call that threw ended, from its error (HttpError status, and for 403 its cause). */
export function registerOutcome(err: unknown): RegisterOutcome {
  if (!(err instanceof HttpError)) return 'error';
  switch (err.status) {
    case 400:
      return 'bad-request';
    case 401:
      return 'unauthorized';
    case 413:
      return 'too-large';
    case 403:
      return err.cause instanceof OriginAddressError ? 'address-refused' : 'origin-limit';
    case 503:
      return 'unavailable';
    default:
      return 'error';
  }
}

/** `?limit=&cursor=` (or `offset=`, the same position) of a listing; 400 when malformed. */
export function page(url: URL): { limit: number; offset: number } {
  const limitText = url.searchParams.get('limit') ?? String(PAGE_DEFAULT);
  if (!/^\d{1,9}$/.test(limitText) || Number(limitText) < 1) throw new HttpError(400, 'limit must be a positive integer');
  const cursor = url.searchParams.get('cursor') ?? url.searchParams.get('offset') ?? '0';
  if (!/^\d{1,9}$/.test(cursor)) throw new HttpError(400, 'cursor must be a value returned as next');
  // Larger limits are served as the largest page (older clients asked for up to 100000).
  return { limit: Math.min(Number(limitText), PAGE_MAX), offset: Number(cursor) };
}

/**
 * Sends up to `limit` items and at most about PAGE_MAX_BYTES of JSON, each item serialised once, as
 * `{code: 0, <field>: [...], ...extra, next}`; `next` is the cursor of the following page.
 */
export function sendPage<T>(
  res: ServerResponse,
  field: string,
  rest: T[],
  limit: number,
  offset: number,
  toJson: (item: T) => unknown,
  extra: Record<string, unknown> = {},
  /** Items from position 0 when `rest` is only a window of them (the rest were not read). */
  total?: number,
): void {
  const items: string[] = [];
  let bytes = 0;
  for (const item of rest) {
    if (items.length >= limit || bytes > PAGE_MAX_BYTES) break;
    const json = JSON.stringify(toJson(item));
    bytes += json.length;
    items.push(json);
  }
  const more = items.length < rest.length || (total !== undefined && offset + items.length < total);
  const next = more ? `,"next":${JSON.stringify(String(offset + items.length))}` : '';
  const tail = Object.entries(extra)
    .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join('');
  sendJsonText(res, 200, `{"code":0,${JSON.stringify(field)}:[${items.join(',')}]${tail}${next}}`);
}

/** The cluster view of one origin; field names follow the Go proxy's record (snake_case). */
export function originJson(v: OriginView): Record<string, unknown> {
  const o = v.origin;
  const out: Record<string, unknown> = {
    id: o.id,
    server_id: o.serverId,
    service_id: o.serviceId,
    pid: o.pid,
    ip: o.ip,
    device_id: o.deviceId,
    alive: v.alive,
    age_ms: v.ageMs,
    update_at: new Date(o.updatedAt).toISOString(),
  };
  if (o.version) out.version = o.version;
  for (const s of SERVICES) if (o.endpoints[s]) out[s] = o.endpoints[s];
  return out;
}

/** Register and admin calls: `Authorization: Bearer <token>` or `?token=<token>` when a token is set (401 otherwise). */
export function requireToken(token: string | undefined, ctx: RouteContext): void {
  if (token === undefined) return;
  const header = ctx.req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7) : (ctx.url.searchParams.get('token') ?? '');
  if (!safeEqual(given, token)) throw new HttpError(401, 'missing or wrong token');
}

/** Shared state out of reach (Redis down): 503 with the reason, so SRS retries its heartbeat. */
export async function available<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof BalancerUnavailableError) throw new HttpError(503, err.message, 503, { cause: err });
    throw err;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
