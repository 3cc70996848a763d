// Every relay the proxy holds to an origin (an RTMP connection, an HTTP live response, an SRT session,
// a WebRTC session), counted per origin and per stream. The counts feed load scores and the pin rules
// (a stream with a live relay keeps its pin); closeOrigin ends every relay to an origin declared down.
// Relays that describe their client (all the protocol servers do) are also this proxy's list of live
// clients: listed and kicked by id through the system API, summed per stream.
import type { ClientRole } from '../net/service-stats.js';

/** Protocol labels of clients (the same set as the stats' labels). */
export type ClientProtocol = 'rtmp' | 'flv' | 'ts' | 'hls' | 'dash' | 'webrtc' | 'srt' | 'rtsp';

/** The client side of a relay, as the protocol server describes it at commit. */
export interface RelayClient {
  protocol: ClientProtocol;
  role: ClientRole;
  /** `ip:port` (IPv6 in brackets). */
  address: string;
  /** The connection's cid (its log lines); the client's id when no other live client has it. */
  cid?: string;
  /** When the client arrived (ms); default: when the relay was registered. */
  since?: number;
  /** Bytes from and to the client so far, read when asked (socket counters or the relay's own). */
  bytes(): { in: number; out: number };
}

export interface RelayInfo {
  /** The origin's server id (stable across its restarts; what health verdicts are about). */
  originServerId: string;
  /** The origin's record id (`server-service-pid`). */
  originId?: string;
  streamKey: string;
  /** Ends the relay (closes the client and origin legs); must be safe to call more than once. */
  close(): void;
  client?: RelayClient;
}

/** One live client of this proxy. */
export interface LiveClient {
  readonly id: string;
  readonly relay: RelayInfo;
  readonly client: RelayClient;
  readonly since: number;
}

/** Per-stream view of the live clients. */
export interface StreamClients {
  publisher: LiveClient | undefined;
  /** Players per protocol. */
  players: Partial<Record<ClientProtocol, number>>;
  bytes: { in: number; out: number };
}

export interface RelayHandle {
  /** The relay ended: forget it. Safe to call more than once. */
  release(): void;
}

export class RelayRegistry {
  private readonly byOrigin = new Map<string, Set<RelayInfo>>();
  private readonly byStream = new Map<string, number>();
  /** The origin (server id) the latest live relay of each stream goes to. */
  private readonly originByStream = new Map<string, string>();
  /** Live clients by id, in registration order. */
  private readonly clients = new Map<string, LiveClient>();
  private readonly clientOf = new Map<RelayInfo, LiveClient>();
  private seq = 0;

  /** Called when a stream gets its first live relay here (true) or loses its last (false). */
  onStreamLive: ((streamKey: string, live: boolean) => void) | undefined;

  /**
   * `idPrefix` starts every client id (worker processes: `w<slot>-`, so ids are unique across workers and
   * name the worker that holds the client).
   */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly idPrefix = '',
  ) {}

  /** Registers a live relay; call `release()` on the handle when it ends. */
  register(relay: RelayInfo): RelayHandle {
    if (relay.client) this.addClient(relay, relay.client);
    let set = this.byOrigin.get(relay.originServerId);
    if (!set) this.byOrigin.set(relay.originServerId, (set = new Set()));
    set.add(relay);
    const before = this.byStream.get(relay.streamKey) ?? 0;
    this.byStream.set(relay.streamKey, before + 1);
    if (before === 0) this.onStreamLive?.(relay.streamKey, true);
    this.originByStream.set(relay.streamKey, relay.originServerId);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.forget(relay);
      },
    };
  }

  /** Live relays to an origin (by server id). */
  countByOrigin(originServerId: string): number {
    return this.byOrigin.get(originServerId)?.size ?? 0;
  }

  /** Live relays of a stream (any origin). */
  countByStream(streamKey: string): number {
    return this.byStream.get(streamKey) ?? 0;
  }

  /** The origin (server id) a live relay of the stream goes to, if this proxy relays the stream. */
  originOfStream(streamKey: string): string | undefined {
    return this.originByStream.get(streamKey);
  }

  /** Live relay counts of every origin that has any. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, set] of this.byOrigin) out.set(id, set.size);
    return out;
  }

  /** Total live relays. */
  get size(): number {
    let n = 0;
    for (const set of this.byOrigin.values()) n += set.size;
    return n;
  }

  /**
   * Closes every relay to an origin (it is down: players and encoders reconnect and land elsewhere).
   * Returns how many were closed. A relay's close() that throws does not stop the others.
   */
  closeOrigin(originServerId: string): number {
    const set = this.byOrigin.get(originServerId);
    if (!set) return 0;
    const relays = [...set];
    for (const r of relays) {
      this.forget(r);
      try {
        r.close();
      } catch {
        // a relay already half torn down; it is forgotten either way
      }
    }
    return relays.length;
  }

  /** Live clients, oldest first; with `streamKey`, only that stream's. */
  listClients(streamKey?: string): LiveClient[] {
    const all = [...this.clients.values()];
    return streamKey === undefined ? all : all.filter((c) => c.relay.streamKey === streamKey);
  }

  client(id: string): LiveClient | undefined {
    return this.clients.get(id);
  }

  /** Ends one client's relay (both legs); false when no live client has that id. */
  kick(id: string): boolean {
    const c = this.clients.get(id);
    if (!c) return false;
    this.forget(c.relay);
    try {
      c.relay.close();
    } catch {
      // half torn down already; it is forgotten either way
    }
    return true;
  }

  /** Publisher, players per protocol and bytes of every stream with a live client here. */
  streams(): Map<string, StreamClients> {
    const out = new Map<string, StreamClients>();
    for (const c of this.clients.values()) {
      const key = c.relay.streamKey;
      let s = out.get(key);
      if (!s) out.set(key, (s = { publisher: undefined, players: {}, bytes: { in: 0, out: 0 } }));
      if (c.client.role === 'publish') {
        if (!s.publisher || c.since < s.publisher.since) s.publisher = c;
      } else s.players[c.client.protocol] = (s.players[c.client.protocol] ?? 0) + 1;
      const b = c.client.bytes();
      s.bytes.in += b.in;
      s.bytes.out += b.out;
    }
    return out;
  }

  private addClient(relay: RelayInfo, client: RelayClient): void {
    let id = this.idPrefix + (client.cid !== undefined && /^[\w.-]{1,32}$/.test(client.cid) ? client.cid : `c${(++this.seq).toString(36)}`);
    if (this.clients.has(id)) id = `${id}-${(++this.seq).toString(36)}`;
    const entry: LiveClient = { id, relay, client, since: client.since ?? this.now() };
    this.clients.set(id, entry);
    this.clientOf.set(relay, entry);
  }

  private forget(relay: RelayInfo): void {
    const entry = this.clientOf.get(relay);
    if (entry) {
      this.clientOf.delete(relay);
      this.clients.delete(entry.id);
    }
    const set = this.byOrigin.get(relay.originServerId);
    if (!set?.delete(relay)) return;
    if (set.size === 0) this.byOrigin.delete(relay.originServerId);
    const n = (this.byStream.get(relay.streamKey) ?? 1) - 1;
    if (n <= 0) {
      this.byStream.delete(relay.streamKey);
      this.originByStream.delete(relay.streamKey);
      this.onStreamLive?.(relay.streamKey, false);
    } else this.byStream.set(relay.streamKey, n);
  }
}
