// One edge stream on this proxy: its upstream to the origin (opened by its first player), its GOP cache,
// and its players. Players who arrive while the upstream opens wait for it and share its outcome; once
// live, each batch from the origin goes to the cache and to every player. The upstream closes
// `lingerMs` after the last player left (a player arriving in between reuses it and its cache), at once
// when nobody waits any more for an upstream still opening, and the stream's end (publisher gone, origin
// gone) ends every player at once.
import type { Logger } from '../log.js';
import { RouteRefusal } from '../routing/refusal.js';
import type { RelayHandle } from '../routing/relays.js';
import type { Route, RouteTarget, StreamRouter } from '../routing/types.js';
import type { ClientIntent } from '../rtmp/client.js';
import { OriginError, openOriginLeg } from '../rtmp/origin-leg.js';
import type { StreamKey } from '../stream-key.js';
import { GopCache } from './gop-cache.js';
import { SharedBatch, type MediaPacket } from './media.js';
import type { EdgePlayer } from './player.js';
import type { EdgeFailure, StreamEnd } from './types.js';
import { Upstream } from './upstream.js';

/**
 * Packets from the origin are handed to players at most this often (one write per player per batch): the
 * fan-out's cost is per write, and an origin writes every message as it comes. Late players are not
 * delayed (they start from the cache at once).
 */
export const BATCH_MS = 40;

export interface HubOptions {
  key: StreamKey;
  router: StreamRouter;
  log: Logger;
  gopCacheMaxBytes: number;
  lingerMs: number;
  dialMs: number;
  answerMs: number;
  maxMessageSize: number;
  /** The hub ended: forget it. */
  onEnd: (hub: Hub) => void;
}

export class Hub {
  state: 'connecting' | 'live' | 'ended' = 'connecting';
  readonly players = new Set<EdgePlayer>();
  private readonly waiting = new Set<EdgePlayer>();
  readonly cache: GopCache;
  private upstream: Upstream | undefined;
  private relay: RelayHandle | undefined;
  private linger: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  /** Player skips of players who left (the live ones count their own). */
  private pastSkips = 0;
  /** Packets received and cached, not yet handed to the players. */
  private pending: MediaPacket[] = [];
  private batchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: HubOptions) {
    this.cache = new GopCache(o.gopCacheMaxBytes);
  }

  get streamKey(): string {
    return this.o.key.key;
  }

  get playerCount(): number {
    return this.players.size + this.waiting.size;
  }

  get upstreamBytes(): number {
    return this.upstream?.bytesRead ?? 0;
  }

  get skips(): number {
    let n = this.pastSkips;
    for (const p of this.players) n += p.skips;
    return n;
  }

  add(p: EdgePlayer): void {
    if (this.state === 'ended') throw new Error('hub ended');
    p.hasVideo = () => this.cache.hasVideo;
    p.onGone = () => this.remove(p);
    if (this.linger !== undefined) {
      clearTimeout(this.linger);
      this.linger = undefined;
    }
    if (this.state === 'connecting') {
      this.waiting.add(p);
      return;
    }
    // The snapshot holds the packets not handed out yet: hand them to the others first, not to it twice.
    this.deliverPending();
    this.players.add(p);
    p.begin(this.cache.snapshot(), this.cache.ready);
  }

  remove(p: EdgePlayer): void {
    if (this.players.delete(p)) this.pastSkips += p.skips;
    this.waiting.delete(p);
    if (this.playerCount > 0 || this.state === 'ended') return;
    if (this.state === 'connecting') {
      // Nobody waits for it any more.
      this.abort.abort();
      return;
    }
    this.linger = setTimeout(() => this.end('origin closed', 'no players left'), this.o.lingerMs);
    this.linger.unref();
  }

  /** Opens the upstream with `intent` (the first player's play, or one made for an HTTP-FLV player). */
  async open(intent: ClientIntent): Promise<void> {
    const { o } = this;
    let route: Route;
    try {
      route = await o.router.route(o.key.key, 'rtmp', 'play');
    } catch (err) {
      if (!(err instanceof RouteRefusal)) throw err;
      this.failAll({ kind: 'refused', refusal: err });
      return;
    }
    if (this.abort.signal.aborted) {
      route.release();
      this.finish();
      return;
    }
    try {
      const ready = await openOriginLeg({
        targets: route.targets,
        intent,
        app: o.key.app,
        dialMs: o.dialMs,
        answerMs: o.answerMs,
        maxMessageSize: o.maxMessageSize,
        signal: this.abort.signal,
        report: (target, ok) => route.report(target as RouteTarget, ok ? 'ok' : 'fail'),
        timeFor: (target) => route.dialTimeFor(target as RouteTarget, o.dialMs),
      });
      if (this.abort.signal.aborted || this.playerCount === 0) {
        route.release();
        ready.leg.socket.destroy();
        this.finish();
        return;
      }
      const target = ready.target as RouteTarget;
      // The upstream is one relay of the origin, however many players share it.
      this.relay = route.commit(target, { close: () => this.end('origin down') });
      this.state = 'live';
      o.log.info({ stream: o.key.key, origin: target.origin.id, players: this.playerCount }, 'edge upstream started');
      this.upstream = new Upstream(ready.leg, o.log, {
        packets: (batch) => this.onPackets(batch),
        end: (reason) => this.end(reason),
      });
      for (const p of this.waiting) {
        this.players.add(p);
        p.begin(this.cache.snapshot(), this.cache.ready);
      }
      this.waiting.clear();
      this.upstream.start(ready.forward);
    } catch (err) {
      route.release();
      if (!(err instanceof OriginError)) throw err;
      if (err.publicReason === 'client left') {
        this.finish();
        return;
      }
      o.log.warn({ stream: o.key.key, origin: route.origin.id, reason: err.message }, 'edge upstream failed');
      this.failAll({ kind: 'origin', error: err, originNames: originNames(route) });
    }
  }

  private onPackets(batch: MediaPacket[]): void {
    for (let i = 0; i < batch.length; i++) {
      this.cache.add(batch[i]!);
      this.pending.push(batch[i]!);
    }
    this.batchTimer ??= setTimeout(this.deliverPending, BATCH_MS);
  }

  private readonly deliverPending = (): void => {
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const shared = new SharedBatch(batch);
    for (const p of this.players) p.deliver(batch, shared);
  };

  private failAll(f: EdgeFailure): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    this.finish();
    for (const p of waiting) p.fail(f);
  }

  /** Ends the stream for every player and closes the upstream. */
  end(reason: StreamEnd, why?: string): void {
    if (this.state === 'ended') return;
    if (this.state === 'connecting') {
      this.abort.abort();
      for (const p of this.waiting) p.close();
    }
    // What arrived before the end still reaches the players.
    this.deliverPending();
    const players = [...this.players];
    this.players.clear();
    this.waiting.clear();
    this.finish();
    this.upstream?.close();
    this.o.log.info({ stream: this.o.key.key, reason: why ?? reason, players: players.length }, 'edge upstream ended');
    for (const p of players) p.end(reason);
  }

  /** Closes players that took nothing of what waits for them for `idleMs`; watches a silent origin (pings). */
  sweep(now: number, idleMs: number): void {
    this.upstream?.watch(now, idleMs / 2);
    for (const p of this.players) {
      if (p.stalled(now, idleMs)) {
        this.o.log.info({ stream: this.o.key.key, protocol: p.protocol, idleMs }, 'edge player stopped reading, closing');
        p.close();
      }
    }
  }

  private finish(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.pending = [];
    if (this.linger !== undefined) clearTimeout(this.linger);
    this.linger = undefined;
    this.relay?.release();
    this.relay = undefined;
    this.o.onEnd(this);
  }
}

/** Every name of the route's origins a status text could leak (ids, addresses of the targets). */
function originNames(route: Route): string[] {
  const names = new Set<string>();
  for (const t of route.targets) for (const n of [t.origin.id, t.origin.serverId, t.origin.ip, t.host]) names.add(n);
  return [...names];
}
