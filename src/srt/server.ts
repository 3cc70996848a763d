// The SRT listener (PROXY_SRT_SERVER): one UDP socket for every caller.
//   identify: inductions are answered here, statelessly, with a SYN cookie bound to the caller's
//             address; a conclusion with a valid cookie names the stream (SID extension).
//   route:    each admitted conclusion becomes a session that picks the origin and runs its own
//             handshake with it, asynchronously, so a silent origin only delays its own caller.
//   relay:    every later datagram goes to the session by destination socket id (+ source address);
//             origin datagrams come back from this same socket.
// Nothing here parses media; key material, HSREQ/HSRSP and data are relayed untouched.
import { randomBytes } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { StreamRouter } from '../routing/types.js';
import { contextLogger, type Logger } from '../log.js';
import type { ProtocolDeps, ProxyService } from '../net/service.js';
import { bindUdp } from '../net/udp-listener.js';
import { admitConclusion } from './admission.js';
import { SynCookies } from './cookie.js';
import { DropCounter, LogBudget } from '../net/drop-counter.js';
import { SrtError } from './errors.js';
import {
  HandshakeType,
  RejectionCode,
  buildInductionResponse,
  buildRejection,
  handshakeTypeName,
  parseHandshake,
  peekHandshake,
  type Handshake,
  type HandshakeSummary,
} from './handshake.js';
import { SRT_HEADER_LENGTH } from './packet.js';
import { SrtSession, type RelayCounters, type SessionHost } from './session.js';
import { ClientCounters } from '../net/client-stats.js';
import type { ServiceStats } from '../net/service-stats.js';

/** Knobs tests turn; production uses the defaults. */
export interface SrtServerOptions {
  /** SYN cookie secret (random per start by default). */
  cookieSecret?: Buffer;
  /** Origin handshake retransmission interval, ms (250, as libsrt callers). */
  retransmitMs?: number;
  /** How long a rejection is kept to answer retransmitted conclusions, ms (2000). */
  lingerMs?: number;
}

/** Counters beyond the ServiceStats, for tests, benchmarks and logs. */
export interface SrtDetail {
  /** Sessions held: routing, dialing, relaying, and rejections kept for retransmissions. */
  sessions: number;
  /** Sessions relaying right now. */
  relaying: number;
  /** Inductions answered (they create no state). */
  inductions: number;
  /** Conclusions admitted as new sessions. */
  admitted: number;
  /** Sessions the origin accepted. */
  established: number;
  /** Rejections sent, by rejection name (ours and the origins'). */
  rejected: Record<string, number>;
  /** Datagrams relayed caller → origin (including closed sessions). */
  toOrigin: RelayCounters;
  /** Datagrams relayed origin → caller (including closed sessions). */
  toCaller: RelayCounters;
  /** Datagrams dropped, by reason. */
  drops: Record<DropReason, number>;
}

/** The SRT listener as the composition root sees it, plus its counters. */
export interface SrtService extends ProxyService {
  stats(): ServiceStats;
  detail(): SrtDetail;
}

/** Why a datagram was dropped without an answer. */
export type DropReason =
  /** Under the 16-byte SRT header. */
  | 'short'
  /** A handshake that does not parse (under 64 bytes, extension lengths that lie, leftover bytes). */
  | 'malformed-handshake'
  /** A CONCLUSION whose SYN cookie we did not issue to that address (or no induction ever). */
  | 'bad-cookie'
  /** Rendezvous (WAVEAHAND, AGREEMENT, DONE), rejections and other handshakes a listener never takes. */
  | 'unsupported-handshake'
  /** A non-handshake packet for no relaying session (unknown id, or from another address). */
  | 'unknown-session'
  /** A datagram from an origin that the session could not use (handshake noise, foreign ids). */
  | 'origin-noise'
  /** A conclusion from an IP address that holds PROXY_MAX_UDP_SESSIONS_PER_IP sessions (answered with a backlog rejection). */
  | 'ip-cap'
  /** A conclusion while the heap is above PROXY_MAX_HEAP_RATIO (answered with a backlog rejection). */
  | 'overloaded';

const DROP_REASONS: readonly DropReason[] = [
  'short',
  'malformed-handshake',
  'bad-cookie',
  'unsupported-handshake',
  'unknown-session',
  'origin-noise',
  'ip-cap',
  'overloaded',
];

const VARIABLE = 'PROXY_SRT_SERVER';
const HANDSHAKE_WORD = 0x80000000;

/** Binds PROXY_SRT_SERVER and starts answering SRT callers. */
export async function startSrtServer(deps: ProtocolDeps, options: SrtServerOptions = {}): Promise<SrtService> {
  const log = deps.log.child({ listener: VARIABLE });
  const socket = await bindUdp({
    variable: VARIABLE,
    listen: deps.config.listeners.srt,
    bufferBytes: deps.config.udpBufferBytes,
    log,
    onFatal: deps.onFatal,
  });
  const server = new SrtServer(deps, options, socket, log);
  return {
    variable: VARIABLE,
    address: () => socket.address() as AddressInfo,
    close: (graceMs: number) => server.close(graceMs),
    stats: () => ({ srt: server.counters.snapshot(server.drops.snapshot()) }),
    detail: () => server.detail(),
  };
}

class SrtServer implements SessionHost {
  readonly router: StreamRouter;
  readonly dialMs: number;
  readonly retransmitMs: number;
  readonly lingerMs: number;
  readonly udpBufferBytes: number;
  clock: number;

  private readonly socket: Socket;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private readonly idleMs: number;
  private readonly maxSessions: number;
  private readonly maxSessionsPerIp: number;
  private readonly overloaded: (() => boolean) | undefined;
  /** Sessions held per caller IP address (any port): one address must not take every session. */
  private readonly perIp = new Map<string, number>();
  private readonly cookies: SynCookies;
  readonly drops: DropCounter<DropReason>;
  /** The clients' counters (one arrival per admitted conclusion; refusals by reason). */
  readonly counters: ClientCounters;
  private readonly refusalLogs: LogBudget;
  private readonly t0 = performance.now();
  /** Every session by the caller's handshake identity (address, port, socket id). */
  private readonly sessions = new Map<string, SrtSession>();
  /** Relaying sessions by the origin's socket id: the destination of the caller's packets. */
  private readonly relaying = new Map<number, SrtSession>();
  /** Relaying sessions whose origin socket id another caller's session already holds (rare). */
  private readonly collisions = new Map<string, SrtSession>();
  private readonly sweeper: NodeJS.Timeout;
  private inductions = 0;
  private admitted = 0;
  private establishedCount = 0;
  private readonly rejected = new Map<string, number>();
  private readonly closedToOrigin: RelayCounters = { packets: 0, bytes: 0 };
  private readonly closedToCaller: RelayCounters = { packets: 0, bytes: 0 };
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  constructor(deps: ProtocolDeps, options: SrtServerOptions, socket: Socket, log: Logger) {
    const { config } = deps;
    this.router = deps.router;
    this.dialMs = config.timeouts.dialMs;
    this.retransmitMs = options.retransmitMs ?? 250;
    this.lingerMs = options.lingerMs ?? 2000;
    this.udpBufferBytes = config.udpBufferBytes;
    this.socket = socket;
    this.log = log;
    this.nowMs = deps.now ?? Date.now;
    this.clock = this.nowMs();
    this.idleMs = config.timeouts.idleMs;
    this.maxSessions = config.maxUdpSessions;
    this.maxSessionsPerIp = config.maxUdpSessionsPerIp;
    this.overloaded = deps.overloaded;
    this.cookies = new SynCookies({ secret: options.cookieSecret ?? randomBytes(32), now: this.nowMs });
    this.drops = new DropCounter(log, DROP_REASONS, 'srt datagram dropped', this.nowMs);
    this.counters = new ClientCounters('srt', this.nowMs);
    this.refusalLogs = new LogBudget(this.nowMs, 20);
    const sweepMs = Math.max(10, Math.min(1000, this.idleMs / 4, this.lingerMs / 2));
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
    socket.on('message', (datagram, rinfo) => this.onMessage(datagram, rinfo));
  }

  // ---- SessionHost ----

  now(): number {
    return this.nowMs();
  }

  timestamp(): number {
    return Math.floor((performance.now() - this.t0) * 1000) % 0x100000000;
  }

  sendToCaller(session: SrtSession, datagram: Buffer): void {
    this.send(datagram, session.callerPort, session.callerAddress);
  }

  established(session: SrtSession): void {
    this.establishedCount++;
    const holder = this.relaying.get(session.originSocketId);
    if (holder === undefined) this.relaying.set(session.originSocketId, session);
    else this.collisions.set(collisionKey(session.originSocketId, session.callerAddress, session.callerPort), session);
  }

  closed(session: SrtSession): void {
    const key = sessionKey(session.callerAddress, session.callerPort, session.callerSocketId);
    if (this.sessions.get(key) === session) {
      this.sessions.delete(key);
      const held = (this.perIp.get(session.callerAddress) ?? 1) - 1;
      if (held > 0) this.perIp.set(session.callerAddress, held);
      else this.perIp.delete(session.callerAddress);
    }
    if (session.originSocketId !== 0) {
      if (this.relaying.get(session.originSocketId) === session) this.relaying.delete(session.originSocketId);
      else this.collisions.delete(collisionKey(session.originSocketId, session.callerAddress, session.callerPort));
    }
    addCounters(this.closedToOrigin, session.toOrigin);
    addCounters(this.closedToCaller, session.toCaller);
    if (this.drained !== undefined && this.liveSessions() === 0) this.drained();
  }

  // ---- listener socket ----

  private onMessage(datagram: Buffer, rinfo: RemoteInfo): void {
    try {
      if (datagram.length < SRT_HEADER_LENGTH) return this.drop('short', rinfo);
      if (datagram.readUInt32BE(0) === HANDSHAKE_WORD) return this.onHandshake(datagram, rinfo);
      // Data and non-handshake control packets: the hot path.
      const destination = datagram.readUInt32BE(12);
      let session = this.relaying.get(destination);
      if (session === undefined || session.callerPort !== rinfo.port || session.callerAddress !== rinfo.address) {
        session = this.collisions.size === 0 ? undefined : this.collisions.get(collisionKey(destination, rinfo.address, rinfo.port));
        if (session === undefined) return this.drop('unknown-session', rinfo);
      }
      session.fromCaller(datagram);
    } catch (err) {
      // Nothing a peer sends may stop the listener; this is a bug, so say so loudly (but not per packet).
      if (this.refusalLogs.allow()) this.log.error({ err, from: `${rinfo.address}:${rinfo.port}` }, 'srt: datagram handling failed');
    }
  }

  private onHandshake(datagram: Buffer, rinfo: RemoteInfo): void {
    const summary = peekHandshake(datagram);
    if (summary === undefined) return this.drop('malformed-handshake', rinfo, `${datagram.length} bytes`);
    if (summary.handshakeType === HandshakeType.Induction) return this.onInduction(datagram, rinfo);
    if (summary.handshakeType === HandshakeType.Conclusion) return this.onConclusion(datagram, rinfo, summary);
    this.drop('unsupported-handshake', rinfo, handshakeTypeName(summary.handshakeType));
  }

  /** Answers an INDUCTION with a cookie; keeps nothing (a flood of inductions costs no memory). */
  private onInduction(datagram: Buffer, rinfo: RemoteInfo): void {
    const request = this.parse(datagram, rinfo);
    if (request === undefined) return;
    this.inductions++;
    // Like libsrt 1.5, the reply carries the caller's own socket id; the real id comes with the conclusion.
    const reply = buildInductionResponse({
      request,
      socketId: request.socketId,
      synCookie: this.cookies.generate(rinfo.address, rinfo.port),
      timestamp: this.timestamp(),
      peerAddress: rinfo.address,
    });
    this.send(reply, rinfo.port, rinfo.address);
  }

  private onConclusion(datagram: Buffer, rinfo: RemoteInfo, summary: HandshakeSummary): void {
    const key = sessionKey(rinfo.address, rinfo.port, summary.socketId);
    const existing = this.sessions.get(key);
    if (existing !== undefined) {
      // A retransmission: answer from what we already have, never replay the origin exchange.
      if (summary.synCookie !== existing.callerCookie) return this.drop('bad-cookie', rinfo, 'differs from the session');
      return existing.answerRetransmission();
    }
    // The cookie proves the caller received our induction reply at this address (and that this is
    // not a conclusion without an induction, e.g. after a restart: it then starts over on timeout).
    if (!this.cookies.check(summary.synCookie, rinfo.address, rinfo.port)) return this.drop('bad-cookie', rinfo);
    const conclusion = this.parse(datagram, rinfo);
    if (conclusion === undefined) return;
    const admission = admitConclusion(conclusion);
    if (admission.kind === 'reject') return this.refuse(conclusion, rinfo, admission.reason, admission.why, 'bad-request');
    if (this.closing !== undefined) return this.refuse(conclusion, rinfo, RejectionCode.Close, 'the proxy is stopping', 'closing');
    // The listener's "try again later" answer, as for a full session table; running sessions are left alone.
    if (this.overloaded?.()) {
      this.drop('overloaded', rinfo);
      return this.refuse(conclusion, rinfo, RejectionCode.Backlog, 'heap above PROXY_MAX_HEAP_RATIO', 'overloaded');
    }
    if (this.sessions.size >= this.maxSessions) {
      return this.refuse(conclusion, rinfo, RejectionCode.Backlog, `session cap (${this.maxSessions}) reached`, 'limit');
    }
    const held = this.perIp.get(rinfo.address) ?? 0;
    if (held >= this.maxSessionsPerIp) {
      this.drop('ip-cap', rinfo, `${held} sessions`);
      return this.refuse(conclusion, rinfo, RejectionCode.Backlog, `per-address session cap (${this.maxSessionsPerIp}) reached`, 'limit');
    }
    const log = contextLogger(this.log, { caller: `${rinfo.address}:${rinfo.port}`, stream: admission.stream.key });
    const session = new SrtSession(this, {
      datagram,
      conclusion,
      callerAddress: rinfo.address,
      callerPort: rinfo.port,
      stream: admission.stream,
      log,
    });
    this.sessions.set(key, session);
    this.perIp.set(rinfo.address, held + 1);
    this.admitted++;
    log.debug({ streamId: admission.streamId, mode: admission.stream.mode }, 'srt caller admitted');
    session.start().catch((err: unknown) => {
      log.error({ err }, 'srt: session failed');
      session.close('internal error', false);
    });
  }

  /** A rejection decided at the listener: stateless, so a retransmission is simply refused again. */
  private refuse(request: Handshake, rinfo: RemoteInfo, reason: number, why: string, label: string): void {
    this.countRejection(reason);
    this.counters.refuse(label, this.log, { caller: `${rinfo.address}:${rinfo.port}`, rejection: handshakeTypeName(reason), why });
    this.send(buildRejection({ request, reason, timestamp: this.timestamp(), peerAddress: rinfo.address }), rinfo.port, rinfo.address);
  }

  /** Counts a rejection sent to a caller (by the listener or a session). */
  countRejection(reason: number): void {
    const name = handshakeTypeName(reason);
    this.rejected.set(name, (this.rejected.get(name) ?? 0) + 1);
  }

  private parse(datagram: Buffer, rinfo: RemoteInfo): Handshake | undefined {
    try {
      return parseHandshake(datagram);
    } catch (err) {
      if (!(err instanceof SrtError)) throw err;
      this.drop('malformed-handshake', rinfo, err.message);
      return undefined;
    }
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.log.debug({ err: err.message }, 'srt: send failed');
  };

  private send(datagram: Buffer, port: number, address: string): void {
    try {
      // With a callback, a failed send (EPERM, ENETUNREACH, …) is reported here instead of as the
      // listening socket's 'error' event, which would stop the whole proxy.
      this.socket.send(datagram, port, address, this.onSent);
    } catch (err) {
      // Only after close (ERR_SOCKET_DGRAM_NOT_RUNNING): the datagram is simply lost, as UDP may.
      this.log.debug({ err: (err as Error).message }, 'srt: send failed');
    }
  }

  private drop(reason: DropReason, rinfo: RemoteInfo, detail?: string): void {
    this.drops.drop(reason, `${rinfo.address}:${rinfo.port}`, detail);
  }

  // ---- lifetime ----

  private sweep(): void {
    this.clock = this.nowMs();
    for (const session of this.sessions.values()) {
      if (session.state === 'relaying' && this.clock - session.lastActive >= this.idleMs) session.close('idle', true);
      else if (session.state === 'rejected' && this.clock >= session.lingerUntil) session.close('rejection answered', false);
    }
  }

  private liveSessions(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.state !== 'rejected') n++;
    return n;
  }

  /** Refuses new callers, lets live sessions run for up to graceMs, then shuts the rest down. */
  close(graceMs: number): Promise<void> {
    this.closing ??= (async () => {
      if (this.liveSessions() > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          this.drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      this.drained = undefined;
      for (const session of [...this.sessions.values()]) session.close('proxy stopping', true);
      clearInterval(this.sweeper);
      // Sends to an address resolve on the next tick: let the SHUTDOWNs leave before the socket closes.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => this.socket.close(resolve));
    })();
    return this.closing;
  }

  detail(): SrtDetail {
    const toOrigin = { ...this.closedToOrigin };
    const toCaller = { ...this.closedToCaller };
    for (const s of this.sessions.values()) {
      addCounters(toOrigin, s.toOrigin);
      addCounters(toCaller, s.toCaller);
    }
    return {
      sessions: this.sessions.size,
      relaying: this.relaying.size + this.collisions.size,
      inductions: this.inductions,
      admitted: this.admitted,
      established: this.establishedCount,
      rejected: Object.fromEntries(this.rejected),
      toOrigin,
      toCaller,
      drops: this.drops.snapshot(),
    };
  }
}

function sessionKey(address: string, port: number, socketId: number): string {
  return `${address}|${port}|${socketId}`;
}

function collisionKey(originSocketId: number, address: string, port: number): string {
  return `${originSocketId}|${address}|${port}`;
}

function addCounters(into: RelayCounters, from: RelayCounters): void {
  into.packets += from.packets;
  into.bytes += from.bytes;
}
