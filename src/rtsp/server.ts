// The RTSP proxy (PROXY_RTSP_SERVER). For each client: read requests until one names the stream
// (OPTIONS before that is answered here), route the stream key to an origin with an `rtsp` endpoint,
// open one TCP connection to it, then relay both directions — RTSP messages rewritten only where
// they name the proxy or the origin (rewrite.ts), interleaved RTP/RTCP frames passed as bytes.
// Timeouts: handshake until the stream is known, origin dial, the origin's first answer, idle relay.
import type { Socket } from 'node:net';
import type { ListenAddress } from '../config/listen.js';
import type { Logger } from '../log.js';
import { clientAddress } from '../net/client-stats.js';
import type { ProtocolDeps, ProxyService } from '../net/service.js';
import { emptyProtocolStats, type ProtocolStats, type ServiceStats } from '../net/service-stats.js';
import { dialFirst } from '../net/origin-dial.js';
import { listenTcp } from '../net/tcp-listener.js';
import { RouteRefusal, wireError } from '../routing/refusal.js';
import type { RelayHandle } from '../routing/relays.js';
import type { Route, RouteIntent, RouteTarget } from '../routing/types.js';
import { streamKeyFromRtsp, type StreamKey } from '../stream-key.js';
import { RtspDemuxer, type DemuxItem } from './demuxer.js';
import { header, proxyResponse, RtspParseError, serialize, setHeader, type RtspMessage, type RtspRequest } from './message.js';
import { ReadBuffer } from '../net/read-buffer.js';
import { interleavedOnly, towardClient, towardOrigin, uriAuthority, urlAuthority } from './rewrite.js';

export const RTSP_VARIABLE = 'PROXY_RTSP_SERVER';
/** Bytes a socket may hold unsent before the other side is no longer read. */
export const RTSP_HIGH_WATER = 64 * 1024;
/** Bytes of client messages held while the origin is dialled (the client is not read meanwhile). */
const MAX_QUEUED_BYTES = 512 * 1024;
const SWEEP_MS = 1000;
/** After an error answer, how long the client gets to read it before its socket is destroyed. */
const LINGER_MS = 1000;
const PUBLIC_METHODS = 'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER';

/** The listener's own state (`GET /api/v1/stats` → `detail.rtsp`). */
export interface RtspDetail {
  connections: number;
  /** Connections relaying to an origin. */
  relays: number;
  /** Client sockets not read right now (the origin's backlog is full, or the origin is being dialled). */
  clientsPaused: number;
  /** Origin sockets not read right now (the client's backlog is full). */
  originsPaused: number;
  /** Largest number of bytes held for one client socket. */
  largestClientBacklog: number;
}

export interface RtspService extends ProxyService {
  detail(): RtspDetail;
}

interface ServerContext {
  deps: ProtocolDeps;
  connections: Set<RtspConnection>;
  stats: ProtocolStats;
}

export async function startRtspServer(deps: ProtocolDeps, listen: ListenAddress): Promise<RtspService> {
  const ctx: ServerContext = { deps, connections: new Set(), stats: emptyProtocolStats() };
  const listener = await listenTcp({
    variable: RTSP_VARIABLE,
    listen,
    log: deps.log.child({ listener: RTSP_VARIABLE }),
    onFatal: deps.onFatal,
    onConnection: (socket, log) => new RtspConnection(socket, log, ctx).start(),
    ...(deps.connectionLimits ? { limits: deps.connectionLimits } : {}),
  });
  const idleMs = deps.config.timeouts.idleMs;
  // One timer for every connection: nothing per connection, nothing per byte.
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const c of ctx.connections) c.checkIdle(now, idleMs);
    },
    Math.min(SWEEP_MS, idleMs),
  );
  sweep.unref();
  return {
    variable: RTSP_VARIABLE,
    address: () => listener.address(),
    stats: (): ServiceStats => {
      // Bytes of closed connections were added when they closed; live ones are read from their sockets.
      const bytes = { ...ctx.stats.bytes };
      for (const c of ctx.connections) {
        bytes.in += c.client.bytesRead;
        bytes.out += c.client.bytesWritten;
      }
      return { rtsp: { ...ctx.stats, bytes } };
    },
    detail: (): RtspDetail => {
      let relays = 0;
      let clientsPaused = 0;
      let originsPaused = 0;
      let largestClientBacklog = 0;
      for (const c of ctx.connections) {
        if (c.relaying) relays++;
        if (c.client.isPaused()) clientsPaused++;
        if (c.origin?.isPaused()) originsPaused++;
        largestClientBacklog = Math.max(largestClientBacklog, c.client.writableLength);
      }
      return { connections: ctx.connections.size, relays, clientsPaused, originsPaused, largestClientBacklog };
    },
    close: async (graceMs: number) => {
      clearInterval(sweep);
      await listener.close(graceMs);
    },
  };
}

type Phase = 'identify' | 'dialing' | 'relay' | 'closed';

class RtspConnection {
  origin: Socket | null = null;
  private phase: Phase = 'identify';
  private readonly fromClient = new RtspDemuxer();
  private readonly fromOrigin = new RtspDemuxer();
  /** Client items that arrived while the origin was dialled (sent once it is connected). */
  private queued: DemuxItem[] = [];
  private queuedBytes = 0;
  private deadline: NodeJS.Timeout | null = null;
  private answerTimer: NodeJS.Timeout | null = null;
  private abort: AbortController | null = null;
  private route: Route | null = null;
  private target: RouteTarget | null = null;
  private relayHandle: RelayHandle | null = null;
  /** `host:port` as the client addressed the proxy, and as the proxy addresses the origin. */
  private clientAuthority = '';
  private originAuthority = '';
  private role: RouteIntent | 'pending' = 'pending';
  private fields: { stream?: string; kind?: string } = {};
  private readonly arrived = Date.now();
  /** Idle detection: bytes seen at the last sweep, and since when they have not changed. */
  private lastBytes = -1;
  private quietSince = 0;
  /** What the origin socket reads into (reused), and whether the current read's bytes still wait for the client. */
  private originReads: ReadBuffer | null = null;
  private readRetained = false;

  constructor(
    readonly client: Socket,
    private readonly log: Logger,
    private readonly ctx: ServerContext,
  ) {}

  /** The connection's cid (its log lines), also its id in the clients API. */
  private get cid(): string {
    return String((this.log.bindings() as { cid?: unknown }).cid ?? '');
  }

  get relaying(): boolean {
    return this.phase === 'relay';
  }

  start(): void {
    const { client, ctx } = this;
    ctx.connections.add(this);
    ctx.stats.active.pending++;
    client.on('data', this.onClientData);
    client.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ err: err.code ?? err.message }, 'client socket error');
      this.close('client error');
    });
    client.on('end', () => this.close('client left'));
    client.on('close', () => this.close('client left'));
    this.deadline = setTimeout(() => {
      this.log.info({ ms: ctx.deps.config.timeouts.handshakeMs }, 'no stream named in time');
      this.count('timeout');
      this.close('handshake timeout');
    }, ctx.deps.config.timeouts.handshakeMs);
    this.deadline.unref();
  }

  private count(reason: string): void {
    const r = this.ctx.stats.refused;
    r[reason] = (r[reason] ?? 0) + 1;
  }

  private readonly onClientData = (chunk: Buffer): void => {
    try {
      this.fromClient.push(chunk, this.onClientItem);
    } catch (err) {
      if (!(err instanceof RtspParseError)) throw err;
      this.log.info({ reason: err.message }, 'malformed RTSP from client');
      this.count('bad-request');
      this.answerAndClose(err.status, undefined, err.message);
      return;
    }
    this.holdIfBacklogged(this.origin, this.client);
    // The proxy's own answers must not pile up for a client that sends but never reads.
    if (this.phase === 'identify') this.holdIfBacklogged(this.client, this.client);
  };

  private readonly onClientItem = (item: DemuxItem): void => {
    if (this.phase === 'closed') return;
    if (this.phase === 'relay') return this.forwardFromClient(item);
    if (this.phase === 'dialing') {
      this.queuedBytes += item.kind === 'frame' ? item.bytes.length : item.message.body.length + 256;
      if (this.queuedBytes > MAX_QUEUED_BYTES) {
        this.count('bad-request');
        this.answerAndClose(400, undefined, 'too much sent before the origin answered');
        return;
      }
      this.queued.push(item.kind === 'frame' ? { kind: 'frame', bytes: Buffer.from(item.bytes) } : item);
      return;
    }
    // Identify: nothing but requests, until one names the stream.
    if (item.kind === 'frame') {
      this.count('bad-request');
      this.answerAndClose(400, undefined, 'interleaved data before SETUP');
      return;
    }
    const msg = item.message;
    if (msg.kind !== 'request') return; // a stray response: nothing asked for it
    const cseq = header(msg, 'cseq');
    if (msg.method === 'OPTIONS') {
      this.client.write(proxyResponse(200, cseq, { headers: [{ name: 'Public', value: PUBLIC_METHODS }] }));
      return;
    }
    if (msg.method !== 'DESCRIBE' && msg.method !== 'ANNOUNCE') {
      this.client.write(proxyResponse(455, cseq, { error: `${msg.method} before DESCRIBE or ANNOUNCE` }));
      return;
    }
    this.identified(msg);
  };

  /** The request that names the stream: route it, dial the origin, send it there. */
  private identified(msg: RtspRequest): void {
    const cseq = header(msg, 'cseq');
    let key: StreamKey;
    try {
      key = streamKeyFromRtsp(msg.uri);
    } catch (err) {
      this.log.info({ reason: (err as Error).message }, 'invalid stream');
      this.count('bad-request');
      this.answerAndClose(400, cseq, `invalid stream: ${(err as Error).message}`);
      return;
    }
    const intent: RouteIntent = msg.method === 'ANNOUNCE' ? 'publish' : 'play';
    this.fields = { stream: key.key, kind: intent };
    if (this.ctx.deps.overloaded?.()) {
      this.log.warn(this.fields, 'refused: proxy overloaded');
      this.count('overloaded');
      this.answerAndClose(503, cseq, 'proxy overloaded, retry shortly');
      return;
    }
    this.clearDeadline();
    this.clientAuthority = uriAuthority(msg.uri) ?? '';
    this.phase = 'dialing';
    this.client.pause();
    this.queued.push({ kind: 'message', message: msg });
    void this.connect(key, intent, cseq).catch((err: unknown) => {
      this.log.error({ ...this.fields, err }, 'RTSP origin setup failed');
      this.answerAndClose(500, cseq, 'internal error');
    });
  }

  private async connect(key: StreamKey, intent: RouteIntent, cseq: string | undefined): Promise<void> {
    const { deps } = this.ctx;
    let route: Route;
    try {
      route = await deps.router.route(key.key, 'rtsp', intent);
    } catch (err) {
      if (!(err instanceof RouteRefusal)) throw err;
      this.log.warn({ ...this.fields, refusal: err.kind, reason: err.detail }, 'stream not routed');
      this.count(err.kind);
      const wire = wireError(err.kind);
      this.answerAndClose(wire.rtspStatus, cseq, wire.text);
      return;
    }
    if (this.phase !== 'dialing') return route.release();
    this.route = route;
    this.abort = new AbortController();
    const dialMs = deps.config.timeouts.dialMs;
    let origin: Socket;
    let target: RouteTarget;
    const reads = (this.originReads = new ReadBuffer());
    try {
      const dialled = await dialFirst(route.targets, {
        onread: { buffer: reads.next, callback: this.onOriginRead },
        dialMs,
        signal: this.abort.signal,
        report: (t, ok) => route.report(t, ok ? 'ok' : 'fail'),
        timeFor: (t) => route.dialTimeFor(t, dialMs),
        what: 'RTSP',
      });
      origin = dialled.socket;
      target = dialled.target;
    } catch (err) {
      this.route = null;
      route.release();
      if (this.phase !== 'dialing') return;
      // The log line names the origin; the client learns only the kind of failure.
      this.log.warn({ ...this.fields, origin: route.origin.id, reason: (err as Error).message }, 'origin unreachable');
      this.count('unreachable');
      const wire = wireError('unreachable');
      this.answerAndClose(wire.rtspStatus, cseq, wire.text);
      return;
    }
    if (this.phase !== 'dialing') {
      origin.destroy();
      this.route = null;
      route.release();
      return;
    }
    this.origin = origin;
    this.target = target;
    this.originAuthority = urlAuthority(target.host, target.port);
    origin.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ err: err.code ?? err.message }, 'origin socket error');
      this.close('origin error');
    });
    origin.on('end', () => this.close('origin closed'));
    origin.on('close', () => this.close('origin closed'));
    this.answerTimer = setTimeout(() => {
      this.log.warn({ ...this.fields, origin: target.origin.id, ms: deps.config.timeouts.originAnswerMs }, 'origin did not answer in time');
      this.count('origin-timeout');
      this.answerAndClose(504, cseq, 'origin did not answer in time');
    }, deps.config.timeouts.originAnswerMs);
    this.answerTimer.unref();
    this.phase = 'relay';
    this.ctx.stats.active.pending--;
    this.role = intent;
    this.ctx.stats.active[intent]++;
    const queued = this.queued;
    this.queued = [];
    for (const item of queued) this.forwardFromClient(item);
    if (this.phase === 'relay' && origin.writableLength <= RTSP_HIGH_WATER) this.client.resume();
    else if (this.phase === 'relay') origin.once('drain', () => this.phase === 'relay' && this.client.resume());
    this.log.info({ ...this.fields, origin: target.origin.id, target: this.originAuthority }, 'relay started');
  }

  /** Client → origin: SETUP keeps only interleaved transports (461 when there is none), URLs point at the origin. */
  private forwardFromClient(item: DemuxItem): void {
    const origin = this.origin!;
    if (item.kind === 'frame') {
      origin.write(item.bytes);
      return;
    }
    const msg = item.message;
    if (msg.kind === 'request' && msg.method === 'SETUP') {
      const transport = interleavedOnly(header(msg, 'transport') ?? '');
      if (transport === undefined) {
        // Only the RTSP connection is relayed: the client retries over TCP (ffmpeg, VLC, GStreamer do).
        this.client.write(proxyResponse(461, header(msg, 'cseq'), { error: 'only RTP/AVP/TCP interleaved transport is supported' }));
        return;
      }
      setHeader(msg, 'Transport', transport);
    }
    towardOrigin(msg, this.originAuthority);
    origin.write(serialize(msg));
  }

  /** One read of the origin socket (into originReads' buffer: no 'data' events on this socket). */
  private readonly onOriginRead = (n: number, buf: Uint8Array): boolean => {
    this.readRetained = false;
    this.onOriginData((buf as Buffer).subarray(0, n));
    this.originReads?.settle(n, this.readRetained);
    return true;
  };

  private readonly onOriginData = (chunk: Buffer): void => {
    try {
      this.fromOrigin.push(chunk, this.onOriginItem);
    } catch (err) {
      if (!(err instanceof RtspParseError)) throw err;
      this.log.warn({ ...this.fields, origin: this.target?.origin.id, reason: err.message }, 'malformed RTSP from origin');
      this.answerAndClose(502, undefined, 'origin sent a malformed message');
      return;
    }
    this.holdIfBacklogged(this.client, this.origin!);
  };

  private readonly onOriginItem = (item: DemuxItem): void => {
    if (this.phase !== 'relay') return;
    if (item.kind === 'frame') {
      const client = this.client;
      if (client.writableLength > 0) {
        // A backlog: this write waits too. A copy holds only its own bytes, not the whole read buffer.
        client.write(Buffer.from(item.bytes));
      } else {
        client.write(item.bytes);
        // The kernel did not take it all: the slice keeps the read buffer (a fresh one for the next read).
        if (client.writableLength > 0) this.readRetained = true;
      }
      return;
    }
    const msg: RtspMessage = item.message;
    if (msg.kind === 'response') this.originAnswered(msg.status);
    towardClient(msg, this.originAuthority, this.clientAuthority);
    this.client.write(serialize(msg));
  };

  /**
   * An origin answer: the first one ends the answer deadline; the first success (2xx: the stream exists, or
   * the publish was accepted) keeps the stream's pin and registers the relay (closed if its origin goes down,
   * listed and kickable as a client). Answers before it (a 401 Digest challenge, a 404) keep nothing: a
   * connection that ends without a success releases the route, so a missing stream leaves no pin.
   */
  private originAnswered(status: number): void {
    if (this.answerTimer !== null) {
      clearTimeout(this.answerTimer);
      this.answerTimer = null;
    }
    if (this.route === null || status < 200 || status > 299) return;
    const route = this.route;
    this.route = null;
    const role = this.role === 'publish' ? 'publish' : 'play';
    const client = this.client;
    this.relayHandle = route.commit(this.target!, {
      close: () => this.close('origin down'),
      client: {
        protocol: 'rtsp',
        role,
        address: clientAddress(client.remoteAddress, client.remotePort),
        cid: this.cid,
        since: this.arrived,
        bytes: () => ({ in: client.bytesRead, out: client.bytesWritten }),
      },
    });
    this.ctx.stats.total[role]++;
    this.ctx.stats.setup.observe((Date.now() - this.arrived) / 1000);
  }

  /** Backpressure: `reader` is not read while `writer` holds more than the high-water mark. */
  private holdIfBacklogged(writer: Socket | null, reader: Socket): void {
    if (writer === null || writer.writableLength <= RTSP_HIGH_WATER || reader.isPaused()) return;
    reader.pause();
    writer.once('drain', () => {
      if (this.phase === 'relay' || (this.phase === 'identify' && reader === this.client)) reader.resume();
    });
  }

  /** Ends a relay idle for idleMs in both directions. */
  checkIdle(now: number, idleMs: number): void {
    if (this.phase !== 'relay') return;
    const bytes = this.client.bytesRead + this.client.bytesWritten;
    if (bytes !== this.lastBytes) {
      this.lastBytes = bytes;
      this.quietSince = now;
      return;
    }
    if (now - this.quietSince >= idleMs) {
      this.log.info({ ...this.fields, ms: idleMs }, 'relay idle');
      this.close('idle');
    }
  }

  /** Tells the client why (an RTSP error with a JSON `{code, error}` body), then closes. */
  private answerAndClose(status: number, cseq: string | undefined, error: string): void {
    if (this.phase === 'closed') return;
    const client = this.client;
    if (client.writable) client.write(proxyResponse(status, cseq, { error, close: true }));
    this.close(`answered ${status}`);
    client.end();
    setTimeout(() => client.destroy(), LINGER_MS).unref();
  }

  private clearDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  }

  /** Ends both legs (the client gets what was already queued for it). */
  close(reason: string): void {
    if (this.phase === 'closed') return;
    const wasRelay = this.phase === 'relay';
    this.phase = 'closed';
    this.clearDeadline();
    if (this.answerTimer !== null) clearTimeout(this.answerTimer);
    this.answerTimer = null;
    this.abort?.abort();
    this.route?.release();
    this.route = null;
    this.relayHandle?.release();
    this.relayHandle = null;
    this.queued = [];
    const { stats } = this.ctx;
    if (this.role === 'pending') stats.active.pending--;
    else stats.active[this.role]--;
    stats.bytes.in += this.client.bytesRead;
    stats.bytes.out += this.client.bytesWritten;
    this.ctx.connections.delete(this);
    const origin = this.origin;
    if (origin) {
      // Each side still gets what was queued for it (the last frames of a publish, a TEARDOWN answer),
      // then both sockets go within LINGER_MS whatever the peers do.
      for (const s of [origin, this.client]) {
        s.end();
        setTimeout(() => s.destroy(), LINGER_MS).unref();
      }
    } else if (!reason.startsWith('answered')) this.client.destroy();
    if (wasRelay) {
      this.log.info(
        {
          ...this.fields,
          reason,
          seconds: Math.round((Date.now() - this.arrived) / 100) / 10,
          clientBytesIn: this.client.bytesRead,
          clientBytesOut: this.client.bytesWritten,
          originBytesIn: origin?.bytesRead,
          originBytesOut: origin?.bytesWritten,
        },
        'relay ended',
      );
    } else this.log.debug({ ...this.fields, reason }, 'client closed before relay');
  }
}
