// The system API (PROXY_SYSTEM_API): origins register here with the SRS heartbeat, and operators
// read the cluster view (origins, stream pins) or remove an origin.
import { timingSafeEqual } from 'node:crypto';
import { BalancerUnavailableError, type Balancer, type OriginView } from '../balancer/balancer.js';
import { parseRegistration, RegisterError, SERVICES } from '../balancer/origin.js';
import { SIGNATURE, VERSION } from '../version.js';
import { HttpError, readBody, sendJson } from './http-util.js';
import type { Route, RouteContext } from './router.js';

/** Heartbeats are a few hundred bytes; SRS with `summaries on` sends a few KB. */
export const REGISTER_BODY_LIMIT = 64 * 1024;

export interface SystemApiDeps {
  balancer: Balancer;
  /** When set, register and admin calls need `Authorization: Bearer <token>` or `?token=<token>`. */
  registerToken: string | undefined;
  now?: () => number;
}

export function versionsRoute(path = '/api/v1/versions'): Route {
  return { path, methods: { GET: ({ res }) => sendJson(res, 200, { signature: SIGNATURE, version: VERSION }) } };
}

export function systemApiRoutes(deps: SystemApiDeps): Route[] {
  const now = deps.now ?? Date.now;
  const authorize = (ctx: RouteContext) => {
    if (deps.registerToken === undefined) return;
    const header = ctx.req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : (ctx.url.searchParams.get('token') ?? '');
    if (!safeEqual(given, deps.registerToken)) throw new HttpError(401, 'missing or wrong token');
  };
  return [
    versionsRoute(),
    {
      path: '/api/v1/srs/register',
      methods: {
        POST: async (ctx) => {
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
            origin = parseRegistration(body, now());
          } catch (err) {
            if (err instanceof RegisterError) throw new HttpError(400, err.message, 400, { cause: err });
            throw err;
          }
          const { replaced } = await available(deps.balancer.register(origin));
          if (replaced) ctx.log.info({ origin: origin.id, replaced: replaced.id }, 'origin restarted: record replaced');
          ctx.log.debug({ origin: origin.id, ip: origin.ip }, 'heartbeat');
          sendJson(ctx.res, 200, { code: 0, pid: String(process.pid) });
        },
      },
    },
    {
      path: '/api/v1/origins',
      methods: { GET: async ({ res }) => sendJson(res, 200, { code: 0, origins: (await available(deps.balancer.origins())).map(originJson) }) },
    },
    {
      path: '/api/v1/origins/',
      prefix: true,
      methods: {
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
      path: '/api/v1/streams',
      methods: {
        GET: async ({ res, url }) => {
          const limitText = url.searchParams.get('limit') ?? '1000';
          const limit = Number.parseInt(limitText, 10);
          if (!/^\d+$/.test(limitText) || limit < 1 || limit > 100_000) throw new HttpError(400, 'limit must be 1..100000');
          const pins = await available(deps.balancer.pins(limit));
          sendJson(res, 200, {
            code: 0,
            streams: pins.map((p) => ({ stream: p.streamKey, origin: p.originId, server: p.serverId })),
          });
        },
      },
    },
  ];
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
  for (const s of SERVICES) if (o.endpoints[s]) out[s] = o.endpoints[s];
  return out;
}

/** Shared state out of reach (Redis down): 503 with the reason, so SRS retries its heartbeat. */
async function available<T>(p: Promise<T>): Promise<T> {
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
