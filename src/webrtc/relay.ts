// The WebRTC media relay on PROXY_WEBRTC_SERVER: one UDP port for every client, sessions found by
// ICE username (BEHAVIOUR.md §6.5, with the fixes of BEHAVIOUR.md §9.2 #1 and #10).
//
// identify: a STUN binding request carries USERNAME `<answerUfrag>:<offerUfrag>`, the key the
//           signalling stored in the balancer; when its MESSAGE-INTEGRITY verifies with the answer's
//           ice-pwd (stored with the session) it binds (or migrates) the sender's address to that
//           session; otherwise it is dropped. Everything else — DTLS, SRTP/SRTCP, STUN responses, STUN without USERNAME (the
//           client answering a full-ICE origin's own checks) — is routed by the bound address.
// route:    the session record names the origin's media address (or its stream, for records
//           written by other proxies), so any proxy sharing the balancer can relay it.
// relay:    one connected upstream socket per session with one reader; the origin's datagrams go
//           back from the listening socket (the port in the answer) to the session's current
//           client address. Sessions end when the client has sent nothing for PROXY_IDLE_TIMEOUT
//           (WebRTC clients send consent checks every ~5 s and RTCP), on a DTLS close_notify or fatal
//           alert, the WHIP DELETE, or an upstream socket error; their number is capped.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { isIPv6 } from 'node:net';
import type { RtcSession } from '../balancer/balancer.js';
import type { RelayHandle } from '../routing/relays.js';
import type { Route } from '../routing/types.js';
import { formatListenAddress } from '../config/listen.js';
import { contextLogger, type Logger } from '../log.js';
import { applyUdpBuffers, bindUdp } from '../net/udp-listener.js';
import type { ProtocolDeps, ProxyService } from '../net/service.js';
import { DropCounter } from '../net/drop-counter.js';
import { ClientCounters, clientAddress, type Arrival } from '../net/client-stats.js';
import type { ClientRole, ServiceStats } from '../net/service-stats.js';
import { DtlsContentType, findPlaintextDtlsAlert, isDtlsAlertRecord, isDtlsTeardownAlert } from './dtls.js';
import { StunError, isStunMessage, peekStunUsername, verifyStunMessageIntegrity } from './stun.js';

/** Tuning knobs with safe defaults; tests shorten them. */
/** Why the relay dropped a datagram. */
export type DropReason =
  /** A 0-byte datagram. */
  | 'empty'
  /** First byte in the STUN range but not a well-formed RFC 8489 message. */
  | 'malformed-stun'
  /** A binding request whose USERNAME names no session. */
  | 'unknown-username'
  /** Not a binding request with a USERNAME, from an address no session is bound to. */
  | 'unbound-address'
  /** No room for another session (PROXY_MAX_UDP_SESSIONS). */
  | 'session-cap'
  /** Too many session look-ups in flight (an unknown-USERNAME flood). */
  | 'lookup-cap'
  /** A new session while the relay is shutting down. */
  | 'closing'
  /** The session's origin has no UDP media address. */
  | 'no-origin'
  /** Queued while the upstream socket was opening, and the queue was full. */
  | 'queue-full'
  /** A binding request whose MESSAGE-INTEGRITY does not verify with the session's ICE password (or has none). */
  | 'unverified'
  /** A new session from an IP address that holds PROXY_MAX_UDP_SESSIONS_PER_IP sessions. */
  | 'ip-cap'
  /** A new session while the heap is above PROXY_MAX_HEAP_RATIO (running sessions keep flowing). */
  | 'overloaded';

export const DROP_REASONS: readonly DropReason[] = [
  'empty',
  'malformed-stun',
  'unknown-username',
  'unbound-address',
  'session-cap',
  'lookup-cap',
  'closing',
  'no-origin',
  'queue-full',
  'unverified',
  'ip-cap',
  'overloaded',
];

export interface RelayOptions {
  /** After a DTLS teardown alert, the session lives this long so the peer's own close_notify gets through. */
  alertGraceMs?: number;
  /** Client addresses one session may have bound at once (ICE checks several pairs; NAT rebinding adds more). */
  maxAddressesPerSession?: number;
  /** Session look-ups in flight at once; beyond it, binding requests with unknown USERNAMEs are dropped. */
  maxPendingLookups?: number;
  /** Datagrams held per session while its upstream socket opens. */
  maxQueuedPerSession?: number;
  /** How often idle sessions are looked for (default: a quarter of PROXY_IDLE_TIMEOUT, 25 ms..5 s). */
  sweepIntervalMs?: number;
}

/** Why a session ended. */
export type CloseReason = 'idle' | 'dtls-alert' | 'delete' | 'upstream-error' | 'shutdown' | 'origin-down';

/** Counters beyond the ServiceStats, for tests, logs and benchmarks. */
export interface RelayDetail {
  sessions: number;
  boundAddresses: number;
  pendingLookups: number;
  packetsFromClients: number;
  packetsFromOrigins: number;
  bytesFromClients: number;
  bytesFromOrigins: number;
  sendErrors: number;
  sessionsOpened: number;
  sessionsClosed: Record<CloseReason, number>;
  dropped: Record<DropReason, number>;
}

/** The relay as the composition root and the signalling see it. */
export interface WebrtcRelay extends ProxyService {
  /** The UDP port clients send media to (written into answer candidates). */
  readonly port: number;
  /** False when PROXY_MAX_UDP_SESSIONS sessions are open (signalling refuses new offers then). */
  hasCapacity(): boolean;
  /** Ends a session (WHIP DELETE) and forgets its record; false when this proxy was not relaying it. */
  closeSession(ufrag: string, reason: CloseReason): Promise<boolean>;
  stats(): ServiceStats;
  detail(): RelayDetail;
  /** A WebRTC client refused (the signalling's refusals: offers over limits, routing, origin answers). */
  refused(reason: string, log: Logger, fields?: Record<string, unknown>): void;
}

interface Queued {
  datagram: Buffer;
  address: string;
  port: number;
  /** A binding request with this session's USERNAME (binds the address). */
  binds: boolean;
}

/** Where a session's media goes, and (for records without a media address) the route that found it. */
interface MediaTarget {
  host: string;
  port: number;
  serverId: string | undefined;
  route?: Route;
}

/** One relayed ICE session: a client (one or more addresses over time) and one upstream socket. */
class RelaySession {
  readonly addresses: string[] = [];
  clientAddress = '';
  clientPort = 0;
  clientKey = '';
  connected = false;
  closed = false;
  queue: Queued[] = [];
  /** Client traffic seen since the last sweep (a flag, so the hot path does not read the clock). */
  active = true;
  lastActiveAt: number;
  refreshedAt: number;
  closeAt: number | undefined;
  /** The session's entry in the router's relay registry. */
  relayHandle: RelayHandle | undefined;
  /** Bytes relayed from and to the client (one addition per datagram, next to the activity flag). */
  bytesIn = 0;
  bytesOut = 0;
  /** The session in the listener's client counters. */
  arrival: Arrival | undefined;

  constructor(
    readonly ufrag: string,
    readonly record: RtcSession,
    readonly upstream: Socket,
    readonly log: Logger,
    now: number,
    /** The IP address that opened the session (counted against the per-address cap until it ends). */
    readonly ownerIp: string,
  ) {
    this.lastActiveAt = now;
    this.refreshedAt = now;
  }
}

const CLOSE_REASONS: readonly CloseReason[] = ['idle', 'dtls-alert', 'delete', 'upstream-error', 'shutdown', 'origin-down'];
const STUN_BINDING_REQUEST = 0x0001;

/** True for a datagram whose first record is a DTLS alert that ends the association. */
function isTeardownAlert(datagram: Buffer): boolean {
  if (!isDtlsAlertRecord(datagram)) return false;
  const plaintext = findPlaintextDtlsAlert(datagram);
  if (plaintext) return isDtlsTeardownAlert(plaintext);
  // Encrypted (epoch ≥ 1): after the handshake a DTLS 1.2 WebRTC peer sends only close_notify or a fatal alert.
  return true;
}

/** Binds PROXY_WEBRTC_SERVER and starts relaying. */
export async function startWebrtcRelay(deps: ProtocolDeps, options: RelayOptions = {}): Promise<WebrtcRelay> {
  const variable = 'PROXY_WEBRTC_SERVER';
  const log = deps.log.child({ listener: variable });
  const socket = await bindUdp({ variable, listen: deps.config.listeners.webrtc, bufferBytes: deps.config.udpBufferBytes, log, onFatal: deps.onFatal });
  const relay = new Relay(deps, socket, log, options);
  log.debug({ address: formatListenAddress(deps.config.listeners.webrtc) }, 'WebRTC relay ready');
  return relay;
}

class Relay implements WebrtcRelay {
  readonly variable = 'PROXY_WEBRTC_SERVER';
  readonly port: number;
  private readonly sessions = new Map<string, RelaySession>();
  private readonly byAddress = new Map<string, RelaySession>();
  private readonly pending = new Map<string, Queued[]>();
  /** Sessions per opening IP address (any port): one address must not take every session. */
  private readonly perIp = new Map<string, number>();
  private readonly drops: DropCounter<DropReason>;
  private readonly clients: ClientCounters;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly alertGraceMs: number;
  private readonly maxAddresses: number;
  private readonly maxPending: number;
  private readonly maxQueued: number;
  private readonly refreshEveryMs: number;
  private closing: Promise<void> | undefined;
  private counters = { packetsFromClients: 0, packetsFromOrigins: 0, bytesFromClients: 0, bytesFromOrigins: 0, sendErrors: 0, sessionsOpened: 0 };
  private readonly closedCounts = Object.fromEntries(CLOSE_REASONS.map((r) => [r, 0])) as Record<CloseReason, number>;
  /** One shared send callback: a send error must never reach the socket's 'error' event (fatal for the listener). */
  private readonly onSent = (err: Error | null) => {
    if (err) this.counters.sendErrors++;
  };

  constructor(
    private readonly deps: ProtocolDeps,
    private readonly socket: Socket,
    private readonly log: Logger,
    options: RelayOptions,
  ) {
    this.port = (socket.address() as AddressInfo).port;
    this.now = deps.now ?? Date.now;
    this.drops = new DropCounter(log, DROP_REASONS, 'datagrams dropped', this.now);
    this.clients = new ClientCounters('webrtc', this.now);
    this.alertGraceMs = options.alertGraceMs ?? 1000;
    this.maxAddresses = options.maxAddressesPerSession ?? 8;
    this.maxPending = options.maxPendingLookups ?? 256;
    this.maxQueued = options.maxQueuedPerSession ?? 32;
    this.refreshEveryMs = Math.max(1000, deps.config.sessionTtlMs / 3);
    const idleMs = deps.config.timeouts.idleMs;
    const every = options.sweepIntervalMs ?? Math.max(25, Math.min(5000, idleMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
    socket.on('message', (datagram, rinfo) => {
      try {
        this.fromClient(datagram, rinfo);
      } catch (err) {
        // Nothing a peer sends may stop the listener: this is a bug, logged, and the datagram is lost.
        this.log.error({ err, from: `${rinfo.address}:${rinfo.port}` }, 'WebRTC datagram handling failed');
      }
    });
  }

  address(): AddressInfo {
    return this.socket.address() as AddressInfo;
  }

  hasCapacity(): boolean {
    return this.sessions.size < this.deps.config.maxUdpSessions;
  }

  stats(): ServiceStats {
    return { webrtc: this.clients.snapshot(this.drops.snapshot()) };
  }

  refused(reason: string, log: Logger, fields: Record<string, unknown> = {}): void {
    this.clients.refuse(reason, log, fields);
  }

  detail(): RelayDetail {
    return {
      sessions: this.sessions.size,
      boundAddresses: this.byAddress.size,
      pendingLookups: this.pending.size,
      ...this.counters,
      sessionsClosed: { ...this.closedCounts },
      dropped: this.drops.snapshot(),
    };
  }

  async closeSession(ufrag: string, reason: CloseReason): Promise<boolean> {
    const s = this.sessions.get(ufrag);
    await this.deps.balancer.deleteRtcSession(ufrag);
    if (!s) return false;
    this.end(s, reason, false);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Client → origin (the hot path: no clock reads, no allocation beyond the address key)

  private fromClient(datagram: Buffer, rinfo: RemoteInfo): void {
    this.counters.packetsFromClients++;
    this.counters.bytesFromClients += datagram.length;
    if (datagram.length === 0) return this.drops.drop('empty', `${rinfo.address}:${rinfo.port}`);
    const first = datagram[0]!;
    const key = `${rinfo.address}|${rinfo.port}`;
    if (first <= 3) {
      // STUN (RFC 7983): only a well-formed message is relayed; a lying length or a padding overrun is dropped here.
      if (!isStunMessage(datagram)) return this.drops.drop('malformed-stun', `${rinfo.address}:${rinfo.port}`);
      if (datagram.readUInt16BE(0) === STUN_BINDING_REQUEST) {
        let username: string | undefined;
        try {
          username = peekStunUsername(datagram);
        } catch (err) {
          if (err instanceof StunError) return this.drops.drop('malformed-stun', `${rinfo.address}:${rinfo.port}`);
          throw err;
        }
        if (username !== undefined) return this.bindingRequest(username, datagram, rinfo.address, rinfo.port, key);
      }
    }
    const session = this.byAddress.get(key);
    if (!session) return this.drops.drop('unbound-address', `${rinfo.address}:${rinfo.port}`);
    if (first === DtlsContentType.Alert) this.noticeAlert(session, datagram, 'client');
    this.forward(session, datagram, rinfo.address, rinfo.port, key);
  }

  private bindingRequest(username: string, datagram: Buffer, address: string, port: number, key: string): void {
    const session = this.sessions.get(username);
    if (session) {
      // Knowing a session's USERNAME is not enough to take its media: only a check signed with the ICE
      // password (which only the two peers and the proxy saw) binds or moves an address.
      if (!verifiedCheck(datagram, session.record)) return this.drops.drop('unverified', `${address}:${port}`);
      this.bind(session, key);
      this.forward(session, datagram, address, port, key);
      return;
    }
    const queued = this.pending.get(username);
    if (queued) {
      if (queued.length < this.maxQueued) queued.push({ datagram, address, port, binds: true });
      else this.drops.drop('queue-full', `${address}:${port}`);
      return;
    }
    if (this.closing) return this.drops.drop('closing', `${address}:${port}`);
    // Refused before the look-up: an overloaded process takes on no new session, not even its look-up.
    if (this.deps.overloaded?.()) return this.drops.drop('overloaded', `${address}:${port}`);
    if (this.pending.size >= this.maxPending) return this.drops.drop('lookup-cap', `${address}:${port}`);
    this.pending.set(username, [{ datagram, address, port, binds: true }]);
    this.open(username).catch((err: unknown) => {
      this.pending.delete(username);
      this.log.error({ err }, 'WebRTC session open failed');
    });
  }

  /** Binds a client address to a session (moving it from another session if needed). */
  private bind(session: RelaySession, key: string): void {
    const previous = this.byAddress.get(key);
    if (previous === session) return;
    if (previous) removeItem(previous.addresses, key);
    this.byAddress.set(key, session);
    session.addresses.push(key);
    if (session.addresses.length > this.maxAddresses) {
      const oldest = session.addresses.shift()!;
      if (this.byAddress.get(oldest) === session) this.byAddress.delete(oldest);
    }
  }

  private forward(session: RelaySession, datagram: Buffer, address: string, port: number, key: string): void {
    session.active = true;
    session.bytesIn += datagram.length;
    // The latest sender is where the origin's packets go (ICE nomination, NAT rebinding).
    if (key !== session.clientKey) {
      if (session.clientKey !== '') session.log.debug({ from: `${address}:${port}` }, 'client address changed');
      session.clientKey = key;
      session.clientAddress = address;
      session.clientPort = port;
    }
    if (session.connected) {
      this.sendUpstream(session, datagram);
    } else if (session.queue.length < this.maxQueued) {
      session.queue.push({ datagram, address, port, binds: false });
    } else {
      this.drops.drop('queue-full', `${address}:${port}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Origin → client

  private fromOrigin(session: RelaySession, datagram: Buffer): void {
    this.counters.packetsFromOrigins++;
    this.counters.bytesFromOrigins += datagram.length;
    // Not activity: an origin keeps sending to a client that has vanished; only the client proves it is there.
    if (datagram.length > 0 && datagram[0] === DtlsContentType.Alert) this.noticeAlert(session, datagram, 'origin');
    if (session.clientPort === 0) return;
    session.bytesOut += datagram.length;
    try {
      this.socket.send(datagram, session.clientPort, session.clientAddress, this.onSent);
    } catch {
      // Only once the listening socket is closed (shutdown): the datagram is lost, as UDP may lose it.
      this.counters.sendErrors++;
    }
  }

  /** Sends on a session's connected upstream socket; a socket closed under it ends the session, never the process. */
  private sendUpstream(session: RelaySession, datagram: Buffer): void {
    try {
      session.upstream.send(datagram, this.onSent);
    } catch (err) {
      this.counters.sendErrors++;
      session.log.debug({ err: (err as Error).message }, 'upstream send failed');
      this.end(session, 'upstream-error', false);
    }
  }

  private noticeAlert(session: RelaySession, datagram: Buffer, from: 'client' | 'origin'): void {
    if (session.closeAt !== undefined || !isTeardownAlert(datagram)) return;
    session.closeAt = this.now() + this.alertGraceMs;
    session.log.debug({ from }, 'DTLS alert: session ends');
  }

  // ---------------------------------------------------------------------------------------------
  // Session lifecycle

  /** Looks a USERNAME up in the balancer and, when it names a session, opens its upstream socket. */
  private async open(username: string): Promise<void> {
    let record: RtcSession | undefined;
    let target: MediaTarget | undefined;
    try {
      record = await this.deps.balancer.rtcSession(username);
      if (record) target = await this.mediaTarget(record);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'WebRTC session look-up failed');
    }
    const queued = this.pending.get(username) ?? [];
    this.pending.delete(username);
    const refuse = (reason: DropReason) => {
      target?.route?.release();
      for (const q of queued) this.drops.drop(reason, `${q.address}:${q.port}`);
    };
    if (!record) return refuse('unknown-username');
    const verified = queued.filter((q) => !q.binds || verifiedCheck(q.datagram, record));
    if (verified.length < queued.length) {
      for (const q of queued) if (!verified.includes(q)) this.drops.drop('unverified', `${q.address}:${q.port}`);
    }
    // No session (and no upstream socket) for someone who only knows the USERNAME.
    if (verified.length === 0) return target?.route?.release();
    queued.splice(0, queued.length, ...verified);
    if (!target) return refuse('no-origin');
    if (this.closing) return refuse('closing');
    if (this.deps.overloaded?.()) return refuse('overloaded');
    if (this.sessions.size >= this.deps.config.maxUdpSessions) return refuse('session-cap');
    const ownerIp = queued[0]!.address;
    const held = this.perIp.get(ownerIp) ?? 0;
    if (held >= this.deps.config.maxUdpSessionsPerIp) return refuse('ip-cap');

    const upstream = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
    const log = contextLogger(this.log, { ufrag: username, stream: record.streamKey });
    const session = new RelaySession(username, record, upstream, log, this.now(), ownerIp);
    this.sessions.set(username, session);
    this.perIp.set(ownerIp, held + 1);
    this.counters.sessionsOpened++;
    // Counted from the offer when the record says when it was answered (setup: offer → media flowing).
    const offeredAt = typeof record.offeredAt === 'number' && record.offeredAt <= this.now() ? record.offeredAt : this.now();
    const role: ClientRole = record.role === 'publish' ? 'publish' : 'play';
    const bytes = () => ({ in: session.bytesIn, out: session.bytesOut });
    session.arrival = this.clients.arrive(offeredAt);
    session.arrival.start(role, bytes);
    const cid = (log.bindings() as { cid?: unknown }).cid;
    const closeRelay = {
      close: () => this.end(session, 'origin-down', false),
      client: {
        protocol: 'webrtc' as const,
        role,
        address: clientAddress(ownerIp, queued[0]!.port),
        ...(typeof cid === 'string' ? { cid } : {}),
        since: offeredAt,
        bytes,
      },
    };
    if (target.route) session.relayHandle = target.route.commit(target.route.targets[0]!, closeRelay);
    else if (target.serverId)
      session.relayHandle = this.deps.router.relays.register({ originServerId: target.serverId, streamKey: record.streamKey, ...closeRelay });
    upstream.on('message', (datagram) => this.fromOrigin(session, datagram));
    upstream.on('error', (err) => {
      session.log.debug({ err: err.message }, 'upstream socket error');
      this.end(session, 'upstream-error', false);
    });
    const originText = `${target.host}:${target.port}`;
    const unusable = (err: Error) => {
      // DNS failure, a broadcast or otherwise unusable address, a bad port: nothing can be relayed, and
      // the record would only open the same dead end again on the next check.
      if (session.closed) return;
      session.log.warn({ origin: originText, serverId: record.serverId, err: err.message }, 'WebRTC origin media address unusable');
      this.end(session, 'upstream-error', true);
    };
    try {
      upstream.connect(target.port, target.host, (err?: Error) => {
        if (session.closed) return;
        if (err) return unusable(err);
        applyUdpBuffers(upstream, this.deps.config.udpBufferBytes, session.log);
        session.connected = true;
        for (const q of session.queue) this.sendUpstream(session, q.datagram);
        session.queue = [];
      });
    } catch (err) {
      // Arguments connect() refuses before any I/O (a port out of range in a record from elsewhere).
      unusable(err as Error);
      for (const q of queued) this.drops.drop('no-origin', `${q.address}:${q.port}`);
      return;
    }
    log.debug({ origin: originText, serverId: record.serverId }, 'WebRTC session opened');
    for (const q of queued) {
      const key = `${q.address}|${q.port}`;
      if (q.binds) this.bind(session, key);
      this.forward(session, q.datagram, q.address, q.port, key);
    }
  }

  /** The origin media address of a session: from its record, or (records from elsewhere) its stream's origin. */
  /**
   * The origin media address of a session: from its record, or (records written by the Go proxy, which
   * have none) the `rtc` endpoint of its stream's origin, by a route that is committed once the session opens.
   */
  private async mediaTarget(record: RtcSession): Promise<MediaTarget | undefined> {
    if (record.mediaHost && record.mediaPort) return { host: record.mediaHost, port: record.mediaPort, serverId: record.serverId };
    let route: Route;
    try {
      route = await this.deps.router.route(record.streamKey, 'rtc-media', 'play');
    } catch (err) {
      this.log.debug({ stream: record.streamKey, err: (err as Error).message }, 'no origin media address for a session');
      return undefined;
    }
    const t = route.targets[0]!;
    return { host: t.host, port: t.port, serverId: t.origin.serverId, route };
  }

  private end(session: RelaySession, reason: CloseReason, forgetRecord: boolean): void {
    if (session.closed) return;
    session.closed = true;
    session.relayHandle?.release();
    session.arrival?.end();
    this.closedCounts[reason]++;
    if (this.sessions.get(session.ufrag) === session) {
      this.sessions.delete(session.ufrag);
      const held = (this.perIp.get(session.ownerIp) ?? 1) - 1;
      if (held > 0) this.perIp.set(session.ownerIp, held);
      else this.perIp.delete(session.ownerIp);
    }
    for (const key of session.addresses) if (this.byAddress.get(key) === session) this.byAddress.delete(key);
    session.queue = [];
    try {
      session.upstream.close();
    } catch {
      // already closed (e.g. after an error)
    }
    session.log.debug({ reason }, 'WebRTC session closed');
    if (forgetRecord) {
      this.deps.balancer.deleteRtcSession(session.ufrag).catch((err: Error) => session.log.warn({ err: err.message }, 'could not delete session record'));
    }
  }

  /** Closes idle and alerted sessions; keeps active sessions' records fresh in the balancer. */
  private sweep(): void {
    const now = this.now();
    const idleMs = this.deps.config.timeouts.idleMs;
    for (const s of [...this.sessions.values()]) {
      if (s.closeAt !== undefined && now >= s.closeAt) {
        this.end(s, 'dtls-alert', true);
      } else if (s.active) {
        s.active = false;
        s.lastActiveAt = now;
        if (now - s.refreshedAt >= this.refreshEveryMs) {
          s.refreshedAt = now;
          this.deps.balancer.putRtcSession(s.record).catch((err: Error) => s.log.warn({ err: err.message }, 'could not refresh session record'));
        }
      } else if (now - s.lastActiveAt >= idleMs) {
        this.end(s, 'idle', true);
      }
    }
  }

  close(graceMs: number): Promise<void> {
    this.closing ??= (async () => {
      // No new sessions; live ones may finish (DELETE, DTLS close, idle) for up to graceMs.
      const deadline = Date.now() + graceMs;
      while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, Math.min(100, graceMs)));
      clearInterval(this.sweeper);
      // Records stay in the balancer: with a shared balancer another proxy may carry the sessions on.
      for (const s of [...this.sessions.values()]) this.end(s, 'shutdown', false);
      await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    })();
    return this.closing;
  }
}

/** True when a binding request's MESSAGE-INTEGRITY verifies with the session's ICE password (RFC 8489 §14.5). */
function verifiedCheck(datagram: Buffer, record: RtcSession): boolean {
  if (record.icePwd === undefined || record.icePwd === '') return false;
  try {
    return verifyStunMessageIntegrity(datagram, record.icePwd);
  } catch (err) {
    if (err instanceof StunError) return false;
    throw err;
  }
}

function removeItem(list: string[], item: string): void {
  const i = list.indexOf(item);
  if (i !== -1) list.splice(i, 1);
}
