// The RTMP proxy (PROXY_RTMP_SERVER): for each client, identify (handshake, connect … publish/play answered
// in the origin's place), route (the stream key picks the origin), open the origin leg (replaying the client's
// intent), then relay messages both ways. Every failure after the client named its stream reaches the client
// as an onStatus error before the socket closes. Timeouts: handshake + identify, origin dial, origin answers,
// idle relay.
import type { Socket } from 'node:net';
import type { Edge } from '../edge/edge.js';
import { LISTENER_VARIABLES } from '../config.js';
import type { Logger } from '../log.js';
import type { ProtocolDeps, ProxyService } from '../net/service.js';
import { RouteRefusal, wireError, type RefusalKind } from '../routing/refusal.js';
import type { RelayHandle } from '../routing/relays.js';
import type { Route, RouteTarget } from '../routing/types.js';
import { listenTcp } from '../net/tcp-listener.js';
import { ClientCounters, clientAddress, type Arrival } from '../net/client-stats.js';
import type { ServiceStats } from '../net/service-stats.js';
import { streamKeyFromRtmp, type StreamKey } from '../stream-key.js';
import { VERSION } from '../version.js';
import type { Amf0Value } from './amf0.js';
import { CarefulOrigins } from './careful-origins.js';
import { ClientError, ClientLimitError, ClientSession, type ClientIntent } from './client.js';
import { COMMAND_CSID, commandMessage, onFCPublish, onStatus, statusInfo } from './commands.js';
import { RtmpError } from './errors.js';
import { clientSafeStatus } from './public-status.js';
import type { RtmpMessage } from './messages.js';
import { OriginError, openOriginLeg, type OriginLeg } from './origin-leg.js';
import { RELAY_HIGH_WATER, Relay, type RelayEnd } from './relay.js';

/**
 * How often live relays are checked for idleness: a twentieth of the idle timeout (a relay ends at most 5 %
 * after its timeout), at least once a second and at most every 5 s, never less often than the timeout. Each
 * sweep touches every relay (about 5 ms of CPU per sweep with 9,000 idle players on a loaded 2-core machine).
 */
export function sweepPeriodMs(idleMs: number): number {
  return Math.min(idleMs, Math.max(1000, Math.min(5000, idleMs / 20)));
}
/** After a failure status, how long the client gets to read it before its socket is destroyed. */
const FAILURE_LINGER_MS = 1000;

/** What every connection of one server shares. */
interface ServerContext {
  deps: ProtocolDeps;
  maxMessageSize: number;
  /** Connections in the relay phase (checked for idleness). */
  relays: Set<ProxyConnection>;
  /** Every open client connection (for stats). */
  connections: Set<ProxyConnection>;
  counters: ClientCounters;
  /** Origin endpoints that need the careful origin leg (BEHAVIOUR.md §4.5). */
  careful: CarefulOrigins;
}

/** What the RTMP listener reports beyond its ServiceStats (tests, benchmarks). */
export interface RtmpDetail {
  connections: number;
  /** Largest number of bytes the proxy holds for one client socket right now. */
  largestClientBacklog: number;
  /** Client sockets not being read right now (backpressure). */
  clientsPaused: number;
  /** Origin endpoints remembered as needing the careful origin leg. */
  carefulOrigins: number;
}

/** The RTMP listener as the composition root and tests see it. */
export interface RtmpService extends ProxyService {
  stats(): ServiceStats;
  detail(): RtmpDetail;
}

export interface RtmpServerOptions {
  /** The careful-origin memory (tests give a small one); default: CAREFUL_ORIGINS_MAX endpoints. */
  careful?: CarefulOrigins;
}

/** Starts the RTMP listener. */
export async function startRtmpServer(deps: ProtocolDeps, options: RtmpServerOptions = {}): Promise<RtmpService> {
  const variable = LISTENER_VARIABLES.rtmp;
  const counters = new ClientCounters('rtmp', deps.now);
  const careful = options.careful ?? new CarefulOrigins({ now: deps.now });
  const ctx: ServerContext = { deps, maxMessageSize: deps.config.rtmpMaxMessageSize, relays: new Set(), connections: new Set(), counters, careful };
  const listenerLog = deps.log.child({ listener: variable });
  const listener = await listenTcp({
    variable,
    listen: deps.config.listeners.rtmp,
    log: listenerLog,
    onFatal: deps.onFatal,
    onConnection: (socket, log) => new ProxyConnection(socket, log, ctx).start(),
    limits: deps.connectionLimits,
    onRefused: (reason, client, why) => counters.refuse(reason, listenerLog, { client, why }),
  });
  const idleMs = deps.config.timeouts.idleMs;
  // One timer for all relays: nothing per connection, nothing per byte.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of ctx.relays) c.checkIdle(now, idleMs);
  }, sweepPeriodMs(idleMs));
  sweep.unref();
  return {
    variable,
    stats: () => ({ rtmp: counters.snapshot() }),
    detail: () => {
      let largestClientBacklog = 0;
      let clientsPaused = 0;
      for (const c of ctx.connections) {
        largestClientBacklog = Math.max(largestClientBacklog, c.socket.writableLength);
        if (c.socket.isPaused()) clientsPaused++;
      }
      return { connections: ctx.connections.size, largestClientBacklog, clientsPaused, carefulOrigins: careful.size };
    },
    address: () => listener.address(),
    close: async (graceMs: number) => {
      clearInterval(sweep);
      await listener.close(graceMs);
    },
  };
}

/** One client connection through its phases: identify → route → origin leg → relay. */
class ProxyConnection {
  /** Until the relay starts (then released: an idle relay keeps as little as possible). */
  private session: ClientSession | null;
  private abort: AbortController | null = new AbortController();
  private deadline: NodeJS.Timeout | null = null;
  private phase: 'identify' | 'origin' | 'relay' | 'closed' = 'identify';
  private relay: Relay | null = null;
  /** The relay's entry in the router's registry, released when it ends. */
  private relayHandle: RelayHandle | null = null;
  /** This client in the listener's counters. */
  private readonly arrival: Arrival;
  private readonly cid: string;

  constructor(
    readonly socket: Socket,
    private readonly log: Logger,
    private readonly ctx: ServerContext,
  ) {
    ctx.connections.add(this);
    this.arrival = ctx.counters.arrive();
    socket.once('close', () => {
      ctx.connections.delete(this);
      this.arrival.end();
    });
    const cid = String((log.bindings() as { cid?: unknown }).cid ?? '');
    this.cid = cid;
    this.session = new ClientSession(socket, { cid, version: VERSION, maxMessageSize: ctx.maxMessageSize });
  }

  start(): void {
    const { socket } = this;
    socket.on('data', this.onIdentifyData);
    // Always handled: an unhandled 'error' would stop the process.
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketGone);
    socket.on('end', this.onSocketGone);
    this.deadline = setTimeout(this.onDeadline, this.ctx.deps.config.timeouts.handshakeMs);
    this.deadline.unref();
    this.session!.identified.then(this.onIdentified, this.onDropped);
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    this.log.debug({ err: err.code ?? err.message }, 'client socket error');
    this.onSocketGone();
  };

  /** The client went away before the relay (the relay handles its own ends): stop what is in progress. */
  private readonly onSocketGone = (): void => {
    if (this.phase === 'relay' || this.phase === 'closed') return;
    this.session?.fail(new ClientError('client left'));
    this.close();
  };

  private readonly onDeadline = (): void => {
    this.session?.fail(new ClientError(`no publish/play within ${this.ctx.deps.config.timeouts.handshakeMs} ms`));
  };

  private readonly onIdentifyData = (data: Buffer): void => {
    try {
      this.session!.onData(data);
      this.holdWhileAnswersPending();
    } catch (err) {
      if (err instanceof ClientLimitError) {
        // It was told why (the status is queued): let it read that, then close.
        this.ctx.counters.refuse('limit', this.log, { why: `went past a bound before publish/play: ${err.message}` });
        this.socket.off('data', this.onIdentifyData);
        this.session!.fail(err);
        this.linger();
        return;
      }
      // Malformed handshake/chunks/AMF, or commands out of order: nothing to tell a client that talks nonsense.
      const reason = err instanceof RtmpError ? `${err.code}: ${err.message}` : (err as Error).message;
      this.log.debug({ reason }, 'malformed RTMP from client');
      this.socket.off('data', this.onIdentifyData);
      this.session!.fail(err instanceof Error ? err : new Error(String(err)));
      this.close();
    }
  };

  /**
   * The proxy's own answers (handshake, _result, ping responses, acknowledgements) must not pile up for a
   * client that sends but never reads: past the bound, its socket is not read until they drain.
   */
  private holdWhileAnswersPending(): void {
    const { socket } = this;
    if (socket.writableLength <= RELAY_HIGH_WATER || socket.isPaused()) return;
    socket.pause();
    socket.once('drain', () => {
      // The relay resumes reading itself; a session holding its queue bound keeps it paused.
      if (this.phase === 'identify' && this.session !== null && !this.session.holding) socket.resume();
    });
  }

  private readonly onIdentified = (intent: ClientIntent): void => {
    this.clearDeadline();
    void this.route(intent);
  };

  private readonly onDropped = (err: Error): void => {
    this.clearDeadline();
    if (this.phase === 'closed') return;
    this.log.debug({ reason: err.message }, 'client dropped before publish/play');
    this.close();
  };

  private clearDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  }

  /** Route and open the origin leg; report any failure to the client. */
  private async route(intent: ClientIntent): Promise<void> {
    if (this.phase !== 'identify') return;
    this.phase = 'origin';
    const { deps } = this.ctx;
    const { request, connect } = intent;
    let key: StreamKey;
    try {
      key = streamKeyFromRtmp(connect.tcUrl, request.name, connect.app);
    } catch (err) {
      this.ctx.counters.refuse('bad-request', this.log, { kind: request.kind, why: (err as Error).message });
      this.fail(intent, `invalid stream: ${(err as Error).message}`);
      return;
    }
    const fields = { stream: key.key, kind: request.kind };
    if (request.kind === 'play' && deps.edge) {
      this.toEdge(deps.edge, intent, key);
      return;
    }
    this.log.debug(
      { ...fields, handshake: this.session!.handshakeMode, app: connect.app, flashVer: connect.commandObject.get('flashVer') },
      'client identified',
    );
    let route: Route;
    try {
      route = await deps.router.route(key.key, 'rtmp', request.kind === 'publish' ? 'publish' : 'play');
    } catch (err) {
      if (!(err instanceof RouteRefusal)) throw err;
      this.log.debug({ ...fields, refusal: err.kind, reason: err.detail }, 'stream not routed');
      this.ctx.counters.refuse(err.kind, this.log, { stream: key.key, kind: request.kind, why: err.detail });
      this.refuse(intent, err.kind);
      return;
    }
    if (this.phase !== 'origin') {
      route.release();
      return;
    }
    let ready: OriginLeg;
    try {
      ready = await openOriginLeg({
        targets: route.targets,
        intent,
        app: key.app,
        dialMs: deps.config.timeouts.dialMs,
        answerMs: deps.config.timeouts.originAnswerMs,
        maxMessageSize: this.ctx.maxMessageSize,
        signal: this.abort!.signal,
        report: (target, ok) => route.report(target as RouteTarget, ok ? 'ok' : 'fail'),
        timeFor: (target) => route.dialTimeFor(target as RouteTarget, deps.config.timeouts.dialMs),
        careful: this.ctx.careful,
      });
    } catch (err) {
      route.release();
      if (this.phase !== 'origin') return;
      const e = err as Error;
      // The log line names the origin and why; the client learns only the kind of failure.
      this.log.warn({ ...fields, origin: route.origin.id, reason: e.message }, 'origin leg failed');
      if (e instanceof OriginError && e.publicReason === 'origin unreachable') {
        this.ctx.counters.refuse('unreachable', this.log, { stream: key.key });
        this.refuse(intent, 'unreachable');
        return;
      }
      this.ctx.counters.refuse('origin-refused', this.log, { stream: key.key });
      const originStatus = e instanceof OriginError && e.status !== undefined ? clientSafeStatus(e.status, originNames(route)) : undefined;
      this.fail(intent, e instanceof OriginError ? e.publicReason : 'origin failed', originStatus);
      return;
    }
    if (this.phase !== 'origin') {
      route.release();
      ready.leg.socket.destroy();
      return;
    }
    const target = ready.target as RouteTarget;
    if (ready.redialedAfterId !== undefined) {
      this.log.info(
        { ...fields, origin: target.origin.id, target: `${target.host}:${target.port}`, answeredId: ready.redialedAfterId },
        'origin answered createStream with another stream id: re-dialed with the careful leg, remembered for this endpoint',
      );
    }
    const role = request.kind === 'publish' ? 'publish' : 'play';
    const socket = this.socket;
    const bytes = () => ({ in: socket.bytesRead, out: socket.bytesWritten });
    this.arrival.start(role, bytes);
    this.relayHandle = route.commit(target, {
      close: () => this.relay?.end('origin down'),
      client: { protocol: 'rtmp', role, address: clientAddress(socket.remoteAddress, socket.remotePort), cid: this.cid, since: this.arrival.at, bytes },
    });
    this.startRelay(intent, ready, fields);
    this.log.info({ ...fields, origin: target.origin.id, target: `${target.host}:${target.port}`, originStreamId: ready.streamId }, 'relay started');
  }

  private startRelay(intent: ClientIntent, ready: OriginLeg, fields: { stream: string; kind: string }): void {
    const session = this.session!;
    this.socket.off('data', this.onIdentifyData);
    this.socket.off('end', this.onSocketGone);
    this.phase = 'relay';
    const originSocket = ready.leg.socket;
    originSocket.on('error', (err: NodeJS.ErrnoException) => this.log.debug({ err: err.code ?? err.message }, 'origin socket error'));
    const started = Date.now();
    const relay = new Relay({
      client: session.leg!,
      origin: ready.leg,
      clientStreamId: intent.clientStreamId,
      originStreamId: ready.streamId,
      kind: intent.request.kind,
      log: this.log,
      onEnd: (reason: RelayEnd, err?: Error) => {
        this.phase = 'closed';
        this.relay = null;
        this.relayHandle?.release();
        this.relayHandle = null;
        this.ctx.relays.delete(this);
        const c = this.socket;
        this.log.info(
          {
            ...fields,
            reason,
            ...(err ? { err: err.message } : {}),
            seconds: Math.round((Date.now() - started) / 100) / 10,
            clientBytesIn: c.bytesRead,
            clientBytesOut: c.bytesWritten,
            originBytesIn: originSocket.bytesRead,
            originBytesOut: originSocket.bytesWritten,
          },
          'relay ended',
        );
      },
    });
    this.relay = relay;
    this.ctx.relays.add(this);
    const local: RtmpMessage[] = [];
    if (intent.request.kind === 'publish' && !ready.sentOnFCPublish && intent.preamble.some((c) => c.name === 'FCPublish')) {
      // Encoders that sent FCPublish expect onFCPublish (SRS and FMS send it; nginx-rtmp does not).
      local.push(commandMessage(onFCPublish(), 0, COMMAND_CSID));
    }
    relay.start(local, ready.forward, session.queued.splice(0));
    // The relay holds the legs now; what identification needed can go.
    this.session = null;
    this.abort = null;
  }

  /** Edge mode: the play joins its stream's shared upstream (src/edge/), which owns the connection from here. */
  private toEdge(edge: Edge, intent: ClientIntent, key: StreamKey): void {
    const leg = this.session!.leg!;
    const socket = this.socket;
    socket.off('data', this.onIdentifyData);
    socket.off('end', this.onSocketGone);
    this.phase = 'relay';
    this.session = null;
    this.abort = null;
    socket.resume();
    const bytes = () => ({ in: socket.bytesRead, out: socket.bytesWritten });
    edge.playRtmp({
      leg,
      intent,
      key,
      log: this.log,
      hooks: {
        started: () => this.arrival.start('play', bytes),
        refused: (reason, why) => this.ctx.counters.refuse(reason, this.log, { stream: key.key, kind: 'play', why }),
      },
    });
  }

  /** Lets the relay end itself when idle (a publisher), stuck, or cut off from a dead origin (see relay.ts). */
  checkIdle(now: number, idleMs: number): void {
    this.relay?.check(now, idleMs);
  }

  /** A routing refusal, in the words and status codes of the refusal table (no origin details). */
  private refuse(intent: ClientIntent, kind: RefusalKind): void {
    const wire = wireError(kind);
    const code = intent.request.kind === 'publish' ? wire.rtmpPublish : wire.rtmpPlay;
    this.fail(intent, wire.text, statusInfo('error', code, wire.text));
  }

  /**
   * Tells the client why its publish/play failed — the origin's own status when it gave one (a refused
   * connect arrives as a status too), otherwise ours — then closes.
   */
  private fail(intent: ClientIntent, reason: string, originStatus?: Amf0Value): void {
    if (this.phase === 'closed') return;
    const leg = this.session!.leg!;
    const code = intent.request.kind === 'publish' ? 'NetStream.Publish.BadName' : 'NetStream.Play.StreamNotFound';
    const info = originStatus ?? statusInfo('error', code, reason);
    leg.send(commandMessage(onStatus(info), intent.clientStreamId, COMMAND_CSID));
    leg.flush();
    this.abort?.abort();
    this.socket.off('data', this.onIdentifyData);
    this.linger();
  }

  /** Ends the connection, giving the client FAILURE_LINGER_MS to read what was sent last. */
  private linger(): void {
    this.phase = 'closed';
    this.clearDeadline();
    this.socket.end();
    const socket = this.socket;
    setTimeout(() => socket.destroy(), FAILURE_LINGER_MS).unref();
  }

  private close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.clearDeadline();
    this.abort?.abort();
    this.socket.destroy();
  }
}

/** Every name of the route's origins a status text could leak (ids, addresses of the targets). */
function originNames(route: Route): string[] {
  const names = new Set<string>();
  for (const t of route.targets) for (const n of [t.origin.id, t.origin.serverId, t.origin.ip, t.host]) names.add(n);
  return [...names];
}
