// The load balancer interface: the one place that knows which origins exist, which origin holds
// which stream, and the HLS/WebRTC session records that let later requests find their stream.
// Protocol servers receive a Balancer; they never construct one (memory or Redis is chosen in proxy.ts).
import type { OriginHealth } from '../routing/health.js';
import type { Origin, Service } from './origin.js';

export interface OriginView {
  origin: Origin;
  /** Heard from within PROXY_ORIGIN_EXPIRE. */
  alive: boolean;
  /** ms since the last heartbeat */
  ageMs: number;
}

export interface StreamPin {
  streamKey: string;
  /**
   * Origin record id (`server-service-pid`) the stream is pinned to; when that server restarted since,
   * the record that replaced it (the stream re-pins on its next use, most likely to the same server).
   */
  originId: string;
  serverId: string;
  /** The replaced record the pin was made to, when `originId` names its successor. */
  replacedId?: string;
}

/** HLS session (BEHAVIOUR.md §3.5): the `spbhid` query parameter added to segment URLs finds the stream again. */
export interface HlsSession {
  spbhid: string;
  streamKey: string;
  fullUrl: string;
}

/** WebRTC session (BEHAVIOUR.md §3.6): the STUN USERNAME `<answerUfrag>:<offerUfrag>` finds the stream again. */
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
  /** WHIP (publish) or WHEP (play), for the clients list. */
  role?: 'publish' | 'play';
  /** When the offer was answered (ms), for the setup time. */
  offeredAt?: number;
}

/** How many records of each kind the balancer holds (metrics). */
export interface RecordCounts {
  pins: number;
  hlsSessions: number;
  rtcSessions: number;
}

export interface RegisterResult {
  /** The record this registration replaced because the same server restarted (new service id or pid). */
  replaced: Origin | undefined;
}

export class NoOriginError extends Error {
  override readonly name = 'NoOriginError';
  constructor(
    readonly streamKey: string,
    readonly reason = 'no origin registered',
  ) {
    super(`no origin available for ${streamKey}: ${reason}`);
  }
}

/** What a pick must respect beyond the stream key (all optional: any origin, all up, no live relays). */
export interface PickRequest {
  /** Endpoint lists the protocol needs: a new pin goes only to an origin that registered them all. */
  needs?: readonly Service[];
  health?: OriginHealth;
  /** The stream has live relays on this proxy (keeps its pin on a suspect or draining origin). */
  live?: boolean;
  /**
   * The pin this pick creates is a lease: kept by commitPin, dropped by releasePin (a request for a
   * stream that does not exist leaves no pin behind). Memory keeps it apart from committed pins, so
   * a flood of such requests evicts nothing; Redis writes it at once (proxies must agree on a new
   * stream's origin) and releasePin deletes it again.
   */
  tentative?: boolean;
}

export interface PickResult {
  origin: Origin;
  /** This pick created or moved the pin (release it with releasePin when nothing started). */
  created: boolean;
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
  pick(streamKey: string, request?: PickRequest): Promise<Origin>;
  /** `pick` that says whether it created the pin (for leases: see PickRequest.tentative). */
  claim(streamKey: string, request: PickRequest): Promise<PickResult>;
  /** A relay started on `origin`: the stream's pin names it from now on (moved there if needed). */
  commitPin(streamKey: string, origin: Origin, previous?: Origin): Promise<void>;
  /**
   * Nothing started: a pin that a claim created for `origin` is dropped (when it still names it).
   * `live`: the stream has other live relays here, so a shared pin stays (only the lease ends).
   */
  releasePin(streamKey: string, origin: Origin, live?: boolean): Promise<void>;
  /** The origin `pick` would return for an already pinned stream, without pinning anything new. */
  lookup(streamKey: string, request?: PickRequest): Promise<Origin | undefined>;
  /** Current pins, at most `limit` of them (cluster view). */
  pins(limit: number): Promise<StreamPin[]>;

  /** The HLS session of a stream, created on first use; its id stays stable while in use. */
  hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession>;
  hlsSessionById(spbhid: string): Promise<HlsSession | undefined>;
  /** The stream's HLS session if it has one (creates nothing, refreshes nothing). */
  hlsSessionOf(streamKey: string): Promise<HlsSession | undefined>;

  putRtcSession(session: RtcSession): Promise<void>;
  rtcSession(ufrag: string): Promise<RtcSession | undefined>;
  deleteRtcSession(ufrag: string): Promise<void>;
  /**
   * A secret every proxy sharing this balancer agrees on, created from `fresh` by the first to ask
   * (absent: the balancer is not shared, a per-process secret is enough).
   */
  sharedSecret?(name: string, fresh: string): Promise<string>;
  /**
   * Record counts for metrics, never blocking: memory counts its maps; Redis returns a count it
   * refreshes in the background at most every few seconds (undefined until the first one is done).
   */
  recordCounts?(): RecordCounts | undefined;
}
