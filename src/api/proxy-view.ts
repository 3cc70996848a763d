// What the clients, streams and stats APIs read: the proxy's live clients, per-stream tallies and
// counters. One process answers from its own relay registry (localView); with PROXY_WORKERS > 1 the
// API owner answers for every worker (src/cluster/cluster-view.ts), through the same interface.
import type { ClientProtocol, LiveClient, RelayRegistry } from '../routing/relays.js';
import { addTally, type StreamTally } from './stream-summary.js';

/** One live client as the API shows it (plain data: it crosses the workers' IPC channel as is). */
export interface ClientJson {
  id: string;
  protocol: ClientProtocol;
  role: string;
  stream: string;
  origin: string | null;
  server: string;
  client: string;
  since: string;
  bytes: { in: number; out: number };
}

/** A stream's publisher as the API shows it. */
export interface PublisherJson {
  protocol: ClientProtocol;
  client: string;
  since: string;
  bitrate_kbps: number;
}

/** Which workers did not answer (PROXY_WORKERS > 1); absent for one process. */
export interface Coverage {
  workers?: { count: number; missing: number[] };
}

export interface ClientsPage extends Coverage {
  total: number;
  items: ClientJson[];
}

export interface StreamsView extends Coverage {
  tallies: Map<string, StreamTally>;
  publishers: Map<string, PublisherJson>;
}

export interface ProxyView {
  /** Live clients (oldest first; across workers: worker by worker), `limit` of them from position `offset`. */
  clients(q: { stream?: string | undefined; offset: number; limit: number }): Promise<ClientsPage>;
  client(id: string): Promise<ClientJson | undefined>;
  /** Ends one client's relay; what it was, or undefined when no live client has that id. */
  kick(id: string): Promise<ClientJson | undefined>;
  /** Tallies and publishers of these streams (all streams when `keys` is absent). */
  streams(keys?: readonly string[]): Promise<StreamsView>;
  /**
   * Resolves once what the proxy's processes sent the shared balancer before now has reached it (worker
   * processes: pins committed by another worker are then listed). Absent: nothing to wait for.
   */
  settled?(): Promise<void>;
}

export interface LocalViewDeps {
  relays: RelayRegistry;
  /** HLS/DASH players per stream (the HTTP stream listener counts them; they are not listed as clients). */
  httpPlayers?: (() => Map<string, Partial<Record<ClientProtocol, number>>>) | undefined;
  now?: (() => number) | undefined;
}

/** This process's view, from its relay registry. */
export function localView(deps: LocalViewDeps): ProxyView {
  const now = deps.now ?? Date.now;
  return {
    clients: async ({ stream, offset, limit }) => {
      const all = deps.relays.listClients(stream);
      return { total: all.length, items: all.slice(offset, offset + limit).map(clientJson) };
    },
    client: async (id) => {
      const c = deps.relays.client(id);
      return c ? clientJson(c) : undefined;
    },
    kick: async (id) => {
      const c = deps.relays.client(id);
      if (!c) return undefined;
      const json = clientJson(c);
      return deps.relays.kick(id) ? json : undefined;
    },
    streams: async (keys) => {
      const all = localStreams(deps);
      const tallies = keys ? new Map(keys.flatMap((k) => (all.has(k) ? [[k, all.get(k)!] as const] : []))) : all;
      const publishers = new Map<string, PublisherJson>();
      for (const [key, s] of deps.relays.streams()) {
        if (!s.publisher || (keys && !tallies.has(key))) continue;
        publishers.set(key, publisherJson(s.publisher, now()));
      }
      return { tallies, publishers };
    },
  };
}

export function clientJson(c: LiveClient): ClientJson {
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
}

function publisherJson(c: LiveClient, now: number): PublisherJson {
  return {
    protocol: c.client.protocol,
    client: c.client.address,
    since: new Date(c.since).toISOString(),
    bitrate_kbps: bitrateKbps(c.client.bytes().in, now - c.since),
  };
}

function bitrateKbps(bytes: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round((bytes * 8) / ms);
}

/** This process's streams: relayed clients, plus the HLS/DASH players the stream listener counts. */
export function localStreams(deps: Pick<LocalViewDeps, 'relays' | 'httpPlayers'>): Map<string, StreamTally> {
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

/** What one worker tells the API owner about itself (PROXY_WORKERS > 1; src/cluster/ asks). */
export interface LocalAnswers {
  view: ProxyView;
  /** Its `GET /api/v1/stats` body. */
  stats(): Record<string, unknown>;
  /** Live clients it relays. */
  clients(): number;
  /** Its metrics as prom-client JSON. */
  metrics(): Promise<unknown[]>;
  /** Re-reads the shared origin health now. */
  sync(): Promise<void>;
  /** An origin was removed through the API: forget it, close its relays. */
  forget(serverId: string): void;
}

/** The API owner's view of the whole proxy (every worker's answers summed). */
export interface WholeProxyView extends ProxyView {
  stats(): Promise<Record<string, unknown>>;
  metrics(): Promise<{ text: string; contentType: string }>;
  /** Every worker re-reads the shared origin health (resolves once all did or timed out). */
  sync(): Promise<void>;
  /** Every worker forgets an origin removed through the API. */
  forget(serverId: string): Promise<void>;
}
