// The load balancer interface: the one place that knows which origins exist, which origin holds
// which stream, and the HLS/WebRTC session records that let later requests find their stream.
// Protocol servers receive a Balancer; they never construct one (memory or Redis is chosen in proxy.ts).
import type { Origin } from './origin.js';

export interface OriginView {
  origin: Origin;
  /** Heard from within PROXY_ORIGIN_EXPIRE. */
  alive: boolean;
  /** ms since the last heartbeat */
  ageMs: number;
}

export interface StreamPin {
  streamKey: string;
  /** Origin record id (`server-service-pid`) the stream is pinned to. */
  originId: string;
  serverId: string;
}

/** HLS session (spec 3.5): the `spbhid` query parameter added to segment URLs finds the stream again. */
export interface HlsSession {
  spbhid: string;
  streamKey: string;
  fullUrl: string;
}

/** WebRTC session (spec 3.6): the STUN USERNAME `<answerUfrag>:<offerUfrag>` finds the stream again. */
export interface RtcSession {
  ufrag: string;
  streamKey: string;
  /** Server id of the origin that answered the offer (absent in records written by the Go proxy). */
  serverId?: string;
  /** The origin's WebRTC media address (its UDP `rtc` endpoint) the relay sends this session to. */
  mediaHost?: string;
  mediaPort?: number;
  /** The answerer's ice-pwd: the key of the client's connectivity checks (MESSAGE-INTEGRITY). */
  icePwd?: string;
}

export interface RegisterResult {
  /** The record this registration replaced because the same server restarted (new service id or pid). */
  replaced: Origin | undefined;
}

export class NoOriginError extends Error {
  override readonly name = 'NoOriginError';

  constructor(readonly streamKey: string) {
    super(`no origin available for ${streamKey}`);
  }
}

/**
 * The shared state (Redis) cannot be reached or answered in time. Distinct from NoOriginError: the
 * cluster may well have origins, this proxy just cannot learn which (HTTP maps it to 503 with a clear
 * message; protocol servers refuse the client with an error status). Nothing already relaying is cut.
 */
export class BalancerUnavailableError extends Error {
  override readonly name = 'BalancerUnavailableError';

  constructor(
    readonly operation: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`load balancer unavailable (${operation}): ${reason}`, options);
  }
}

export interface Balancer {
  readonly kind: 'memory' | 'redis';
  start(): Promise<void>;
  close(): Promise<void>;

  /** Records a heartbeat. The same server id with a new service/pid replaces the old record at once. */
  register(origin: Origin): Promise<RegisterResult>;
  /** Forgets an origin by server id; its pins are re-picked on next use. */
  deregister(serverId: string): Promise<boolean>;
  origins(): Promise<OriginView[]>;

  /**
   * The origin for a stream: its pinned origin while that origin is alive and not replaced,
   * otherwise a new pick among alive origins (or, when none is alive, among stale ones).
   * Throws NoOriginError when no origin is registered.
   */
  pick(streamKey: string): Promise<Origin>;
  /** The origin `pick` would return for an already pinned stream, without pinning anything new. */
  lookup(streamKey: string): Promise<Origin | undefined>;
  /** Current pins, at most `limit` of them (cluster view). */
  pins(limit: number): Promise<StreamPin[]>;

  /** The HLS session of a stream, created on first use; its id stays stable while in use. */
  hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession>;
  hlsSessionById(spbhid: string): Promise<HlsSession | undefined>;

  putRtcSession(session: RtcSession): Promise<void>;
  rtcSession(ufrag: string): Promise<RtcSession | undefined>;
  deleteRtcSession(ufrag: string): Promise<void>;
  /**
   * A secret every proxy sharing this balancer agrees on, created from `fresh` by the first to ask
   * (absent: the balancer is not shared, a per-process secret is enough).
   */
  sharedSecret?(name: string, fresh: string): Promise<string>;
}
