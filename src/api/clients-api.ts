// The operator's view of this proxy's clients and streams (system API, admin token when set):
//   GET    /api/v1/clients[?stream=&limit=&cursor=]  live clients (id, protocol, role, stream, origin, address, since, bytes)
//   DELETE /api/v1/clients/<id>                      kicks one (client and origin legs closed); 404 when gone
//   GET    /api/v1/streams[?cluster=1]               pinned streams, with publisher, players and bytes as relayed here
//                                                    (?cluster=1: summed over every live proxy sharing Redis)
//   GET    /api/v1/streams/<vhost/app/stream>        one stream (URL-encoded key or path segments)
import type { Balancer, StreamPin } from '../balancer/balancer.js';
import { HttpError, sendJson } from '../net/http-util.js';
import type { Route, RouteContext } from '../net/router.js';
import type { ClientProtocol, LiveClient, RelayRegistry } from '../routing/relays.js';
import { available, page, requireToken, sendPage } from './system-api.js';
import { addTally, type ClusterView, type StreamTally } from './stream-summary.js';

export interface ClientsApiDeps {
  relays: RelayRegistry;
  balancer: Balancer;
  registerToken: string | undefined;
  /** HLS/DASH players per stream (the HTTP stream listener counts them; they are not listed as clients). */
  httpPlayers?: () => Map<string, Partial<Record<ClientProtocol, number>>>;
  /** The cluster view (Redis mode); absent: `?cluster=1` is this proxy alone. */
  cluster?: () => Promise<ClusterView>;
  now?: () => number;
}

/** Longest stream key accepted in a query or path (keys are `vhost/app/stream`, a few dozen bytes). */
const MAX_STREAM_PARAM = 1024;

export function clientsApiRoutes(deps: ClientsApiDeps): Route[] {
  const now = deps.now ?? Date.now;
  const authorize = (ctx: RouteContext) => requireToken(deps.registerToken, ctx);
  const clientJson = (c: LiveClient) => {
    const b = c.client.bytes();
    return {
      id: c.id,
      protocol: c.client.protocol,
      role: c.client.role,
      stream: c.relay.streamKey,
      origin: c.relay.originId ?? null,
      server: c.relay.originServerId,
      client: c.client.address,
      since: new Date(c.since).toISOString(),
      bytes: { in: b.in, out: b.out },
    };
  };
  const local = () => localStreams(deps);
  const streamJson = (key: string, pin: Pick<StreamPin, 'originId' | 'serverId'> | undefined, tally: StreamTally | undefined, live?: LiveClient) => {
    const publisher = live
      ? {
          protocol: live.client.protocol,
          client: live.client.address,
          since: new Date(live.since).toISOString(),
          bitrate_kbps: bitrateKbps(live.client.bytes().in, now() - live.since),
        }
      : null;
    return {
      stream: key,
      origin: pin?.originId ?? null,
      server: pin?.serverId ?? null,
      publisher,
      publishers: tally?.publishers ?? 0,
      players: tally?.players ?? {},
      bytes: tally?.bytes ?? { in: 0, out: 0 },
    };
  };
  const view = async (ctx: RouteContext): Promise<{ streams: Map<string, StreamTally>; proxies?: number }> => {
    const cluster = ctx.url.searchParams.get('cluster');
    if (cluster === null || cluster === '0') return { streams: local() };
    if (cluster !== '1') throw new HttpError(400, 'cluster must be 0 or 1');
    if (!deps.cluster) return { streams: local(), proxies: 1 };
    return available(deps.cluster());
  };
  return [
    {
      path: '/api/v1/clients',
      methods: {
        GET: (ctx) => {
          authorize(ctx);
          const { limit, offset } = page(ctx.url);
          const stream = streamParam(ctx.url.searchParams.get('stream'));
          const all = deps.relays.listClients(stream);
          sendPage(ctx.res, 'clients', all.slice(offset), limit, offset, clientJson, { total: all.length });
        },
      },
    },
    {
      path: '/api/v1/clients/',
      prefix: true,
      methods: {
        GET: (ctx) => {
          authorize(ctx);
          const c = deps.relays.client(decodeSegment(ctx.rest, 'client id'));
          if (!c) throw new HttpError(404, 'no such client (it may have left)');
          sendJson(ctx.res, 200, { code: 0, client: clientJson(c) });
        },
        DELETE: (ctx) => {
          authorize(ctx);
          const id = decodeSegment(ctx.rest, 'client id');
          const c = deps.relays.client(id);
          if (!c || !deps.relays.kick(id)) throw new HttpError(404, 'no such client (it may have left)');
          ctx.log.info({ client: id, protocol: c.client.protocol, stream: c.relay.streamKey, address: c.client.address }, 'client kicked by API');
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
          const { streams, proxies } = await view(ctx);
          const publishers = publishersByStream(deps.relays);
          // Pins have no stable order across calls; the cursor is a position, good enough for a cluster view.
          const pins = await available(deps.balancer.pins(offset + limit + 1));
          sendPage(
            ctx.res,
            'streams',
            pins.slice(offset),
            limit,
            offset,
            (p) => streamJson(p.streamKey, p, streams.get(p.streamKey), publishers.get(p.streamKey)),
            proxies === undefined ? {} : { proxies },
          );
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
          const { streams, proxies } = await view(ctx);
          const origin = await available(deps.balancer.lookup(key));
          const tally = streams.get(key);
          if (!origin && !tally) throw new HttpError(404, `no stream ${key}`);
          const pin = origin ? { originId: origin.id, serverId: origin.serverId } : undefined;
          const stream = streamJson(key, pin, tally, publishersByStream(deps.relays).get(key));
          sendJson(ctx.res, 200, { code: 0, stream, ...(proxies === undefined ? {} : { proxies }) });
        },
      },
    },
  ];
}

/** This proxy's streams: relayed clients, plus the HLS/DASH players the stream listener counts. */
export function localStreams(deps: Pick<ClientsApiDeps, 'relays' | 'httpPlayers'>): Map<string, StreamTally> {
  const out = new Map<string, StreamTally>();
  for (const [key, s] of deps.relays.streams()) {
    out.set(key, { publishers: s.publisher ? countPublishers(deps.relays, key) : 0, players: { ...s.players }, bytes: { ...s.bytes } });
  }
  for (const [key, players] of deps.httpPlayers?.() ?? []) addTally(out, key, { publishers: 0, players, bytes: { in: 0, out: 0 } });
  return out;
}

function countPublishers(relays: RelayRegistry, key: string): number {
  return relays.listClients(key).filter((c) => c.client.role === 'publish').length;
}

function publishersByStream(relays: RelayRegistry): Map<string, LiveClient> {
  const out = new Map<string, LiveClient>();
  for (const [key, s] of relays.streams()) if (s.publisher) out.set(key, s.publisher);
  return out;
}

function bitrateKbps(bytes: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round((bytes * 8) / ms);
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
