// Edge mode (PROXY_EDGE=on): RTMP and HTTP-FLV players of one stream on this proxy share one upstream
// play session to the origin (a Hub per stream and, unless PROXY_EDGE_SHARE_AUTH=on, per query: the
// first player's query is what the origin checks, so a player with another query gets its own upstream).
// Hubs exist only while they have players, are opening, or linger; a failed open leaves nothing behind.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { StreamRouter } from '../routing/types.js';
import { Amf0Object } from '../rtmp/amf0.js';
import type { ClientIntent } from '../rtmp/client.js';
import type { RtmpLeg } from '../rtmp/leg.js';
import { DEFAULT_VHOST, type StreamKey } from '../stream-key.js';
import { FlvPlayer } from './flv-player.js';
import { Hub } from './hub.js';
import type { EdgePlayer } from './player.js';
import { RtmpPlayer, type RtmpPlayerHooks } from './rtmp-player.js';
import type { EdgeStats } from './types.js';

/** How often players are checked for having stopped reading. */
const SWEEP_MS = 1000;

export interface EdgeDeps {
  config: Config;
  router: StreamRouter;
  log: Logger;
}

export interface RtmpPlay {
  leg: RtmpLeg;
  intent: ClientIntent;
  key: StreamKey;
  log: Logger;
  hooks: RtmpPlayerHooks;
}

export interface FlvPlay {
  req: IncomingMessage;
  res: ServerResponse;
  key: StreamKey;
  /** The request's query without `?` (what the origin would check). */
  query: string;
  log: Logger;
  /** The stream started for this player. */
  started(socket: Socket): void;
}

export class Edge {
  private readonly hubs = new Map<string, Hub>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly counters = { skipsOfEndedHubs: 0, bytesOfEndedHubs: 0 };

  constructor(private readonly deps: EdgeDeps) {
    const idleMs = deps.config.timeouts.idleMs;
    this.sweepTimer = setInterval(
      () => {
        const now = Date.now();
        for (const hub of this.hubs.values()) hub.sweep(now, idleMs);
      },
      Math.min(SWEEP_MS, idleMs),
    );
    this.sweepTimer.unref();
  }

  /** An RTMP client's play (after the server answered connect/createStream/play locally). */
  playRtmp(p: RtmpPlay): void {
    const player = new RtmpPlayer(p.leg, p.intent.clientStreamId, p.log, this.playerOptions(), p.hooks);
    this.join(player, p.key, rtmpQuery(p.intent), () => p.intent);
  }

  /** An HTTP-FLV GET: settles when the player is done; rejects (before any byte is written) with the HTTP error of a failure. */
  playFlv(p: FlvPlay): Promise<void> {
    const player = new FlvPlayer(p.req, p.res, p.log, this.playerOptions(), () => p.started(p.req.socket));
    this.join(player, p.key, p.query, () => flvIntent(p.key, p.query));
    return player.done;
  }

  private join(player: EdgePlayer, key: StreamKey, query: string, intent: () => ClientIntent): void {
    const { edgeMode } = this.deps.config;
    const hubKey = edgeMode.shareAuth || query === '' ? key.key : `${key.key}?${query}`;
    let hub = this.hubs.get(hubKey);
    if (hub === undefined) {
      const config = this.deps.config;
      const created = new Hub({
        key,
        router: this.deps.router,
        log: this.deps.log.child({ component: 'edge' }),
        gopCacheMaxBytes: edgeMode.gopCacheMaxBytes,
        lingerMs: edgeMode.lingerMs,
        dialMs: config.timeouts.dialMs,
        answerMs: config.timeouts.originAnswerMs,
        maxMessageSize: config.rtmpMaxMessageSize,
        onEnd: (h) => {
          if (this.hubs.get(hubKey) === h) this.hubs.delete(hubKey);
          this.counters.skipsOfEndedHubs += h.skips;
          this.counters.bytesOfEndedHubs += h.upstreamBytes;
        },
      });
      hub = created;
      this.hubs.set(hubKey, hub);
      hub.add(player);
      created.open(intent()).catch((err: unknown) => {
        this.deps.log.error({ err, stream: key.key }, 'edge upstream failed unexpectedly');
        created.end('origin closed');
      });
      return;
    }
    hub.add(player);
  }

  private playerOptions() {
    const { edgeMode } = this.deps.config;
    return { maxLagMs: edgeMode.maxLagMs, maxQueueBytes: Math.max(2 * edgeMode.gopCacheMaxBytes, 4 * 1024 * 1024) };
  }

  stats(): EdgeStats {
    const out: EdgeStats = {
      hubs: this.hubs.size,
      upstreams: 0,
      players: { rtmp: 0, flv: 0 },
      upstreamBytes: this.counters.bytesOfEndedHubs,
      cacheBytes: 0,
      largestCacheBytes: 0,
      largestCachePeak: 0,
      cacheOverflows: 0,
      skips: this.counters.skipsOfEndedHubs,
      skipsByStream: {},
    };
    const skipping: [string, number][] = [];
    for (const hub of this.hubs.values()) {
      if (hub.state === 'live') out.upstreams++;
      for (const p of hub.players) out.players[p.protocol]++;
      out.upstreamBytes += hub.upstreamBytes;
      const cache = hub.cache.stats();
      out.cacheBytes += cache.bytes;
      out.largestCacheBytes = Math.max(out.largestCacheBytes, cache.bytes);
      out.largestCachePeak = Math.max(out.largestCachePeak, cache.peak);
      out.cacheOverflows += cache.overflows;
      const skips = hub.skips;
      out.skips += skips;
      if (skips > 0) skipping.push([hub.streamKey, skips]);
    }
    skipping.sort((a, b) => b[1] - a[1]);
    for (const [key, n] of skipping.slice(0, 100)) out.skipsByStream[key] = (out.skipsByStream[key] ?? 0) + n;
    return out;
  }

  /** Ends every stream (shutdown). */
  close(): void {
    clearInterval(this.sweepTimer);
    for (const hub of [...this.hubs.values()]) hub.end('shutdown');
  }
}

/** The query an RTMP play carries (in the stream name and in tcUrl), for the share-auth rule. */
export function rtmpQuery(intent: ClientIntent): string {
  const parts: string[] = [];
  const name = intent.request.name;
  const q = name.indexOf('?');
  if (q !== -1 && q < name.length - 1) parts.push(name.slice(q + 1));
  const tc = intent.connect.tcUrl.indexOf('?');
  if (tc !== -1 && tc < intent.connect.tcUrl.length - 1) parts.push(intent.connect.tcUrl.slice(tc + 1));
  return parts.join('&');
}

/** The RTMP play an HTTP-FLV player's upstream replays: the app, and the stream name with the player's query. */
export function flvIntent(key: StreamKey, query: string): ClientIntent {
  const params = new URLSearchParams(query);
  if (key.vhost !== DEFAULT_VHOST && !params.has('vhost')) params.set('vhost', key.vhost);
  const q = params.toString();
  const name = q === '' ? key.stream : `${key.stream}?${q}`;
  const commandObject = Amf0Object.fromRecord({
    app: key.app,
    flashVer: 'LNX 9,0,124,2',
    fpad: false,
    capabilities: 15,
    audioCodecs: 4071,
    videoCodecs: 252,
    videoFunction: 1,
    objectEncoding: 0,
  });
  return {
    connect: { transactionId: 1, commandObject, args: [], tcUrl: '', app: key.app, objectEncoding: 0 },
    request: { kind: 'play', name, command: { name: 'play', transactionId: 0, commandObject: null, args: [name, -1000] } },
    preamble: [],
    clientStreamId: 1,
  };
}
