// What protocols see of routing: route(streamKey, service, intent) gives an ordered list of dial
// targets and a lease on the stream's pin; the protocol's own dial loop reports each attempt and
// commits the lease once its relay really started (or releases it).
import type { DialTarget, Origin, Service } from '../balancer/origin.js';
import type { RelayClient, RelayHandle, RelayRegistry } from './relays.js';

/** The protocol a client uses; decides which origin endpoints a stream needs (`rtc-media`: WebRTC's UDP relay). */
export type RouteService = 'rtmp' | 'http' | 'srt' | 'rtc' | 'rtc-media' | 'rtsp';
export type RouteIntent = 'publish' | 'play';

/** Origin endpoint lists a protocol needs (WebRTC: the API for signalling and the UDP media port). */
export const SERVICE_NEEDS: Readonly<Record<RouteService, readonly Service[]>> = {
  rtmp: ['rtmp'],
  http: ['http'],
  srt: ['srt'],
  rtc: ['rtc', 'api'],
  /** The UDP relay of a session signalled elsewhere: only the media endpoint is used. */
  'rtc-media': ['rtc'],
  rtsp: ['rtsp'],
};

/** One endpoint to dial, and the origin it belongs to. */
export interface RouteTarget extends DialTarget {
  origin: Origin;
  /** The host as registered, when `host` is the address it was vetted to at routing time (a name resolved). */
  registeredHost?: string;
}

export type DialOutcome = 'ok' | 'fail';

export interface Route {
  readonly streamKey: string;
  /** The origin the stream is (or is about to be) pinned to; `targets` start with its endpoints. */
  readonly origin: Origin;
  /**
   * Where to dial, in order: the origin's endpoints not in failure backoff, then those of other
   * origins that can take the stream (failover within the same client request).
   */
  readonly targets: readonly RouteTarget[];
  /**
   * The outcome of one dial: `fail` (refused, timed out, unreachable) puts that endpoint in backoff
   * (1 s doubling to 30 s), `ok` clears it.
   */
  report(target: RouteTarget, outcome: DialOutcome): void;
  /**
   * How long the dial of `target` may take: each origin gets one `dialMs` in total, counted from the
   * first dial of one of its endpoints in this route, so an origin whose every endpoint is silent costs
   * the client one dial timeout, not one per endpoint. 0 means the origin's time is spent: skip the
   * target (it is counted as skipped, not failed; the next origin's endpoints get their own budget).
   */
  dialTimeFor(target: RouteTarget, dialMs: number): number;
  /**
   * The relay started (or the origin answered 2xx) through `target`: the stream's pin is kept (moved to
   * target's origin when that is another one). With `relay`, a live relay is registered until its
   * handle is released; without, only the pin is kept (short answers: playlists, segments).
   */
  commit(target: RouteTarget, relay?: RelayEnds): RelayHandle;
  /** Nothing started: a pin this route created is dropped. Does nothing after commit. */
  release(): void;
}

/** A live relay as committed: how to end it, and who its client is (listed by the clients API). */
export interface RelayEnds {
  close(): void;
  client?: RelayClient;
}

export interface StreamRouter {
  /** Rejects with a RouteRefusal (see refusal.ts) when no target can be offered. */
  route(streamKey: string, service: RouteService, intent: RouteIntent): Promise<Route>;
  /** A route for an already pinned stream only (never pins anything); undefined when not pinned. */
  lookup(streamKey: string, service: RouteService): Promise<Route | undefined>;
  /** The live relays, per origin and per stream. */
  readonly relays: RelayRegistry;
}

/** Dial outcomes counted since start (the system API's stats). */
export interface DialCounts {
  ok: number;
  failed: number;
  /** Endpoints not dialled because their origin's dial budget was spent. */
  skipped: number;
  /** Endpoints not dialled because their address (as resolved now) is refused by the address policy. */
  refused: number;
}
