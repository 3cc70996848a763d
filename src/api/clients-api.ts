// The operator's view of this proxy's clients and streams (system API, admin token when set):
//   GET    /api/v1/clients[?stream=&limit=&cursor=]  live clients (id, protocol, role, stream, origin, address, since, bytes)
//   DELETE /api/v1/clients/<id>                      kicks one (client and origin legs closed); 404 when gone
//   GET    /api/v1/streams[?cluster=1]               pinned streams, with publisher, players and bytes as relayed here
//                                                    (?cluster=1: summed over every live proxy sharing Redis)
//   GET    /api/v1/streams/<vhost/app/stream>        one stream (URL-encoded key or path segments)
import type { Balancer, StreamPin } from '../balancer/balancer.js';
import { HttpError, sendJson } from '../net/http-util.js';
import type { Route, RouteContext } from '../net/router.js';
import type { ClientProtocol, RelayRegistry } from '../routing/relays.js';
import { localView, type Coverage, type ProxyView, type PublisherJson } from './proxy-view.js';
import { available, page, requireToken, sendPage } from './system-api.js';
import type { ClusterView, StreamTally } from './stream-summary.js';

export { localStreams } from './proxy-view.js';

export interface ClientsApiDeps {
  relays: RelayRegistry;
  balancer: Balancer;
  registerToken: string | undefined;
  /** HLS/DASH players per stream (the HTTP stream listener counts them; they are not listed as clients). */
  httpPlayers?: () => Map<string, Partial<Record<ClientProtocol, number>>>;
  /** The cluster view (Redis mode); absent: `?cluster=1` is this proxy alone. */
  cluster?: () => Promise<ClusterView>;
  /** Where clients and tallies are read (default: this process's relays; every worker's with PROXY_WORKERS > 1). */
  view?: ProxyView;
  now?: () => number;
}

/** Longest stream key accepted in a query or path (keys are `vhost/app/stream`, a few dozen bytes). */
const MAX_STREAM_PARAM = 1024;

export function clientsApiRoutes(deps: ClientsApiDeps): Route[] {
  const authorize = (ctx: RouteContext) => requireToken(deps.registerToken, ctx);
  const source: ProxyView = deps.view ?? localView(deps);
  const streamJson = (key: string, pin: Pick<StreamPin, 'originId' | 'serverId'> | undefined, tally: StreamTally | undefined, publisher?: PublisherJson) => ({
    stream: key,
    origin: pin?.originId ?? null,
    server: pin?.serverId ?? null,
    publisher: publisher ?? null,
    publishers: tally?.publishers ?? 0,
    players: tally?.players ?? {},
    bytes: tally?.bytes ?? { in: 0, out: 0 },
  });
  /** Tallies and publishers of `keys`; with ?cluster=1 in Redis mode, tallies summed over every proxy. */
  const view = async (
    ctx: RouteContext,
    keys: readonly string[],
  ): Promise<{ tallies: Map<string, StreamTally>; publishers: Map<string, PublisherJson>; proxies?: number } & Coverage> => {
    const cluster = ctx.url.searchParams.get('cluster');
    if (cluster !== null && cluster !== '0' && cluster !== '1') throw new HttpError(400, 'cluster must be 0 or 1');
    const here = await source.streams(keys);
    if (cluster === null || cluster === '0') return here;
    if (!deps.cluster) return { ...here, proxies: 1 };
    const { streams, proxies } = await available(deps.cluster());
    return { ...here, tallies: streams, proxies };
  };
  const coverage = (c: Coverage) => (c.workers ? { workers: c.workers } : {});
  return [
    {
      path: '/api/v1/clients',
      methods: {
        GET: async (ctx) => {
          authorize(ctx);
          const { limit, offset } = page(ctx.url);
          const stream = streamParam(ctx.url.searchParams.get('stream'));
          const got = await source.clients({ stream, offset, limit });
          sendPage(ctx.res, 'clients', got.items, limit, offset, (c) => c, { total: got.total, ...coverage(got) }, got.total);
        },
      },
    },
    {
      path: '/api/v1/clients/',
      prefix: true,
      methods: {
        GET: async (ctx) => {
          authorize(ctx);
          const c = await source.client(decodeSegment(ctx.rest, 'client id'));
          if (!c) throw new HttpError(404, 'no such client (it may have left)');
          sendJson(ctx.res, 200, { code: 0, client: c });
        },
        DELETE: async (ctx) => {
          authorize(ctx);
          const id = decodeSegment(ctx.rest, 'client id');
          const c = await source.kick(id);
          if (!c) throw new HttpError(404, 'no such client (it may have left)');
          ctx.log.info({ client: id, protocol: c.protocol, stream: c.stream, address: c.client }, 'client kicked by API');
          sendJson(ctx.res, 200, { code: 0 });
        },
      },
    },
    {
      path: '/api/v1/streams',
      methods: {
        GET: async (ctx) => {
          authorize(ctx);
          const { limit, offset } = page(ctx.url);
          await source.settled?.();
          // Pins have no stable order across calls; the cursor is a position, good enough for a cluster view.
          const pins = await available(deps.balancer.pins(offset + limit + 1));
          const shown = pins.slice(offset, offset + limit + 1);
          const v = await view(
            ctx,
            shown.map((p) => p.streamKey),
          );
          sendPage(ctx.res, 'streams', shown, limit, offset, (p) => streamJson(p.streamKey, p, v.tallies.get(p.streamKey), v.publishers.get(p.streamKey)), {
            ...(v.proxies === undefined ? {} : { proxies: v.proxies }),
            ...coverage(v),
          });
        },
      },
    },
    {
      path: '/api/v1/streams/',
      prefix: true,
      methods: {
        GET: async (ctx) => {
          authorize(ctx);
          const key = streamParam(decodeSegment(ctx.rest, 'stream'));
          if (key === undefined) throw new HttpError(400, 'stream key missing: /api/v1/streams/<vhost/app/stream>');
          await source.settled?.();
          const v = await view(ctx, [key]);
          const origin = await available(deps.balancer.lookup(key));
          const tally = v.tallies.get(key);
          if (!origin && !tally) throw new HttpError(404, `no stream ${key}`);
          const pin = origin ? { originId: origin.id, serverId: origin.serverId } : undefined;
          const stream = streamJson(key, pin, tally, v.publishers.get(key));
          sendJson(ctx.res, 200, { code: 0, stream, ...(v.proxies === undefined ? {} : { proxies: v.proxies }), ...coverage(v) });
        },
      },
    },
  ];
}

function decodeSegment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `invalid percent-encoding in ${what}`);
  }
}

/** A stream key given by the operator: undefined when absent; 400 when it cannot be a key. */
function streamParam(raw: string | null): string | undefined {
  if (raw === null || raw === '') return undefined;
  // eslint-disable-next-line no-control-regex
  if (raw.length > MAX_STREAM_PARAM || /[\u0000-\u001f\u007f]/.test(raw)) throw new HttpError(400, 'stream must be a stream key (vhost/app/stream)');
  return raw.replace(/^\/+|\/+$/g, '');
}
