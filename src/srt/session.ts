// One SRT caller relayed to one origin: route (the router), the origin leg's handshake (with its own
// deadline and retransmissions, so only this caller waits), then the relay through ONE upstream UDP
// socket with ONE 'message' handler. The listener socket, the maps and the clock belong to the server
// (SessionHost); a session only asks it to send to its caller and reports when it is established or gone.
import type { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../log.js';
import { RouteRefusal, wireError } from '../routing/refusal.js';
import type { RelayHandle } from '../routing/relays.js';
import type { Route, RouteTarget, StreamRouter } from '../routing/types.js';
import { applyUdpBuffers, createUdpSocket } from '../net/udp-listener.js';
import type { SrtStreamId } from '../stream-key.js';
import { AccessRejectionCode, buildRejection, handshakeTypeName, type Handshake } from './handshake.js';
import { OriginHandshake } from './origin-handshake.js';
import { buildShutdown } from './packet.js';
import { clientAddress, type Arrival, type ClientCounters } from '../net/client-stats.js';

/** What a session needs from the server that owns it. */
export interface SessionHost {
  readonly router: StreamRouter;
  /** Deadline for the whole origin handshake (all endpoints), ms. */
  readonly dialMs: number;
  /** Interval between handshake retransmissions to the origin, ms (libsrt callers use 250). */
  readonly retransmitMs: number;
  /** How long a rejected caller's answer is kept for its retransmitted conclusions, ms. */
  readonly lingerMs: number;
  readonly udpBufferBytes: number;
  /** Coarse wall clock (ms), refreshed by the server's sweeper; read on every relayed packet. */
  readonly clock: number;
  /** Precise clock (ms) for deadlines. */
  now(): number;
  /** Handshake timestamp: µs since the listener started, modulo 2^32. */
  timestamp(): number;
  /** Sends a datagram to the caller from the listening socket. */
  sendToCaller(session: SrtSession, datagram: Buffer): void;
  /** The origin accepted: map the origin's socket id to this session. */
  established(session: SrtSession): void;
  /** The session holds no socket any more; forget it. */
  closed(session: SrtSession): void;
  /** Counts a rejection sent to the caller. */
  countRejection(reason: number): void;
  /** The listener's client counters. */
  readonly counters: ClientCounters;
}

/** Where a session is in its life. */
export type SessionState = 'routing' | 'dialing' | 'relaying' | 'rejected' | 'closed';

/** What a new session starts from: the caller's admitted CONCLUSION. */
export interface SessionOptions {
  /** The CONCLUSION datagram as received (forwarded with only the cookie and peer IP changed). */
  datagram: Buffer;
  /** The same, parsed. */
  conclusion: Handshake;
  callerAddress: string;
  callerPort: number;
  stream: SrtStreamId;
  log: Logger;
}

/** Per-direction relay counters. */
export interface RelayCounters {
  packets: number;
  bytes: number;
}

const ECONNREFUSED = 'ECONNREFUSED';

/** One caller ↔ origin relay. */
export class SrtSession {
  readonly callerAddress: string;
  readonly callerPort: number;
  readonly callerSocketId: number;
  readonly callerCookie: number;
  readonly stream: SrtStreamId;
  /** The origin's socket id, known once the origin accepted (0 before). */
  originSocketId = 0;
  /** Coarse time of the last relayed packet (either direction). */
  lastActive: number;
  /** When a rejected session may be forgotten (its answer kept for retransmitted conclusions until then). */
  lingerUntil = 0;
  readonly toOrigin: RelayCounters = { packets: 0, bytes: 0 };
  readonly toCaller: RelayCounters = { packets: 0, bytes: 0 };

  private currentState: SessionState = 'routing';
  private readonly host: SessionHost;
  private readonly datagram: Buffer;
  private readonly conclusion: Handshake;
  private readonly log: Logger;
  private readonly startedAt: number;
  private upstream: Socket | undefined;
  private originHandshake: OriginHandshake | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The answer sent to the caller (conclusion response or rejection), replayed on retransmissions. */
  private answer: Buffer | undefined;
  private deadline = 0;
  private attemptDeadline = 0;
  private targets: readonly RouteTarget[] = [];
  private route: Route | undefined;
  private relayHandle: RelayHandle | undefined;
  private target = -1;
  private originLabel = '';
  private readonly arrival: Arrival;

  constructor(host: SessionHost, options: SessionOptions) {
    this.host = host;
    this.datagram = options.datagram;
    this.conclusion = options.conclusion;
    this.callerAddress = options.callerAddress;
    this.callerPort = options.callerPort;
    this.callerSocketId = options.conclusion.socketId;
    this.callerCookie = options.conclusion.synCookie;
    this.stream = options.stream;
    this.log = options.log;
    this.startedAt = host.now();
    this.lastActive = host.clock;
    this.arrival = host.counters.arrive(this.startedAt);
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** Picks the origin and starts the origin handshake; the dial deadline covers the pick too. */
  async start(): Promise<void> {
    this.deadline = this.host.now() + this.host.dialMs;
    this.timer = setInterval(() => this.tick(), this.host.retransmitMs);
    let route: Route;
    try {
      route = await this.host.router.route(this.stream.key, 'srt', this.stream.mode === 'publish' ? 'publish' : 'play');
    } catch (err) {
      if (this.currentState !== 'routing') return;
      if (err instanceof RouteRefusal) return this.reject(wireError(err.kind).srtReject, `${err.kind}: ${err.detail}`, err.kind);
      this.log.warn({ err }, 'srt: routing failed');
      return this.reject(AccessRejectionCode.Down, 'routing failed', 'error');
    }
    if (this.currentState !== 'routing') return route.release(); // closed while routing answered
    this.route = route;
    this.originLabel = route.origin.id;
    this.targets = route.targets;
    this.currentState = 'dialing';
    this.nextTarget();
  }

  /** A retransmitted CONCLUSION from the caller: replay our answer if we have one (never the origin exchange). */
  answerRetransmission(): void {
    if (this.answer !== undefined) this.host.sendToCaller(this, this.answer);
  }

  /** Hot path: a packet from the caller for the origin. */
  fromCaller(datagram: Buffer): void {
    this.lastActive = this.host.clock;
    this.toOrigin.packets++;
    this.toOrigin.bytes += datagram.length;
    this.sendUpstream(datagram);
    if (isShutdown(datagram)) this.close('caller shutdown', false);
  }

  /**
   * Ends the session: clears timers, closes the upstream socket and tells the server. `notify` sends
   * SRT SHUTDOWN to both ends of an established relay (idle timeout, proxy stopping).
   */
  close(reason: string, notify: boolean): void {
    if (this.currentState === 'closed') return;
    const wasRelaying = this.currentState === 'relaying';
    if (notify && wasRelaying) {
      const ts = this.host.timestamp();
      this.host.sendToCaller(this, buildShutdown(this.callerSocketId, ts));
      this.sendUpstream(buildShutdown(this.originSocketId, ts));
    }
    this.currentState = 'closed';
    this.stopTimer();
    this.closeUpstream();
    this.relayHandle?.release();
    this.route?.release();
    this.arrival.end();
    this.host.closed(this);
    if (wasRelaying) {
      this.log.info(
        {
          reason,
          origin: this.originLabel,
          seconds: Math.round((this.host.now() - this.startedAt) / 100) / 10,
          toOrigin: this.toOrigin,
          toCaller: this.toCaller,
        },
        'srt session closed',
      );
    } else {
      this.log.debug({ reason }, 'srt session forgotten');
    }
  }

  private tick(): void {
    const now = this.host.now();
    if (this.currentState === 'routing') {
      if (now >= this.deadline) this.reject(AccessRejectionCode.Down, `no origin chosen within ${this.host.dialMs} ms`, 'balancer-unavailable');
      return;
    }
    if (this.currentState !== 'dialing') return this.stopTimer();
    if (now >= this.attemptDeadline) {
      this.log.debug({ origin: this.originLabel, target: this.targetLabel(), phase: this.originHandshake?.phase }, 'srt: origin endpoint did not answer');
      return this.nextTarget();
    }
    const packet = this.originHandshake?.request(this.host.timestamp());
    if (packet !== undefined) this.sendUpstream(packet);
  }

  /** Dials the next endpoint with an equal share of the time left, or gives up. */
  private nextTarget(): void {
    // Every way here from a dial in progress is that endpoint's failure (refused, silent, unreachable).
    const failed = this.targets[this.target];
    if (failed !== undefined) this.route?.report(failed, 'fail');
    this.closeUpstream();
    this.originHandshake = undefined;
    this.target++;
    const now = this.host.now();
    const left = this.deadline - now;
    if (this.target >= this.targets.length || left <= 0) {
      const tried = this.targets.slice(0, this.target).map((t) => `${t.origin.id} ${t.host}:${t.port}`);
      return this.reject(
        wireError('unreachable').srtReject,
        `origin did not answer the SRT handshake within ${this.host.dialMs} ms (tried ${tried.join('; ')})`,
        'unreachable',
      );
    }
    this.attemptDeadline = now + left / (this.targets.length - this.target);
    const target = this.targets[this.target]!;
    const socket = createUdpSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
    this.upstream = socket;
    socket.on('message', (datagram) => this.fromOrigin(socket, datagram));
    socket.on('error', (err: NodeJS.ErrnoException) => this.upstreamError(socket, err));
    const connected = (err?: Error) => {
      if (socket !== this.upstream) return;
      if (err) {
        this.log.debug({ err: err.message, target: this.targetLabel() }, 'srt: cannot reach origin endpoint');
        return this.nextTarget();
      }
      applyUdpBuffers(socket, this.host.udpBufferBytes, this.log);
      this.originHandshake = new OriginHandshake({
        callerConclusion: this.datagram,
        caller: this.conclusion,
        callerAddress: this.callerAddress,
        originAddress: socket.remoteAddress().address,
      });
      this.sendUpstream(this.originHandshake.request(this.host.timestamp())!);
    };
    try {
      socket.connect(target.port, target.host, connected);
    } catch (err) {
      // Refused before any I/O (an argument connect() does not take): this endpoint is unusable.
      connected(err as Error);
    }
  }

  /** The one 'message' handler of the upstream socket: relay when established, else the handshake. */
  private fromOrigin(socket: Socket, datagram: Buffer): void {
    if (this.currentState === 'relaying') {
      this.lastActive = this.host.clock;
      this.toCaller.packets++;
      this.toCaller.bytes += datagram.length;
      this.host.sendToCaller(this, datagram);
      if (isShutdown(datagram)) this.close('origin shutdown', false);
      return;
    }
    if (this.currentState !== 'dialing' || socket !== this.upstream || this.originHandshake === undefined) return;
    const step = this.originHandshake.onPacket(datagram);
    switch (step.kind) {
      case 'ignore':
        this.log.debug({ why: step.why, bytes: datagram.length }, 'srt: origin datagram ignored during handshake');
        return;
      case 'send':
        this.sendUpstream(step.packet);
        return;
      case 'rejected':
        return this.reject(
          step.reason,
          step.originReason === undefined
            ? `origin rejected: ${handshakeTypeName(step.reason)}`
            : `origin rejected with non-standard code ${step.originReason}`,
          'origin-refused',
          step.response,
        );
      case 'accepted':
        this.originSocketId = step.originSocketId;
        this.answer = step.response;
        this.currentState = 'relaying';
        this.originLabel = this.targets[this.target]!.origin.id;
        this.route!.report(this.targets[this.target]!, 'ok');
        this.arrival.start(this.stream.mode === 'publish' ? 'publish' : 'play', this.bytes);
        this.relayHandle = this.route!.commit(this.targets[this.target]!, {
          close: () => this.close('origin down', true),
          client: {
            protocol: 'srt',
            role: this.stream.mode === 'publish' ? 'publish' : 'play',
            address: clientAddress(this.callerAddress, this.callerPort),
            cid: this.cid(),
            since: this.arrival.at,
            bytes: this.bytes,
          },
        });
        this.stopTimer();
        this.lastActive = this.host.clock;
        this.host.established(this);
        this.host.sendToCaller(this, step.response);
        this.log.info(
          {
            origin: this.originLabel,
            target: this.targetLabel(),
            setupMs: Math.round(this.host.now() - this.startedAt),
            originSocketId: step.originSocketId,
            mode: this.stream.mode,
          },
          'srt session established',
        );
        return;
    }
  }

  private upstreamError(socket: Socket, err: NodeJS.ErrnoException): void {
    if (socket !== this.upstream) return;
    this.log.debug({ err: err.message, state: this.currentState }, 'srt: upstream socket error');
    if (err.code !== ECONNREFUSED) return;
    // ICMP port unreachable: nothing listens there (any more).
    if (this.currentState === 'dialing') this.nextTarget();
    else if (this.currentState === 'relaying') this.close('origin unreachable', true);
  }

  /**
   * Answers the caller with a rejection (ours, or the origin's as given) and lingers for retransmissions.
   * `label`: the refusal reason in the counters and the rate-limited info line.
   */
  private reject(reason: number, why: string, label: string, response?: Buffer): void {
    if (this.currentState === 'closed' || this.currentState === 'rejected') return;
    this.stopTimer();
    this.closeUpstream();
    this.answer = response ?? buildRejection({ request: this.conclusion, reason, timestamp: this.host.timestamp(), peerAddress: this.callerAddress });
    this.currentState = 'rejected';
    this.route?.release();
    this.lingerUntil = this.host.now() + this.host.lingerMs;
    this.host.countRejection(reason);
    this.host.sendToCaller(this, this.answer);
    const origin = this.originLabel || undefined;
    this.host.counters.refuse(label, this.log, { stream: this.stream.key, rejection: handshakeTypeName(reason), why, origin });
    // Every rejection at debug; the info line above is rate-limited per reason.
    this.log.debug({ reason: handshakeTypeName(reason), why, origin }, 'srt caller rejected');
  }

  private sendUpstream(datagram: Buffer): void {
    try {
      // No callback: a failed send (ECONNREFUSED after an ICMP port unreachable) comes to the socket's
      // 'error' handler, which ends the session or tries the next endpoint.
      this.upstream?.send(datagram);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'srt: upstream send failed');
    }
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private closeUpstream(): void {
    const socket = this.upstream;
    this.upstream = undefined;
    if (socket === undefined) return;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  /** Bytes from and to the caller: the relay's own counters. */
  private readonly bytes = () => ({ in: this.toOrigin.bytes, out: this.toCaller.bytes });

  private cid(): string | undefined {
    const cid = (this.log.bindings() as { cid?: unknown }).cid;
    return typeof cid === 'string' ? cid : undefined;
  }

  private targetLabel(): string {
    const t = this.targets[this.target];
    return t === undefined ? '' : `${t.host}:${t.port}`;
  }
}

/** SHUTDOWN control packet: first word 0x8005xxxx. */
function isShutdown(datagram: Buffer): boolean {
  return datagram[0] === 0x80 && datagram[1] === 0x05;
}
