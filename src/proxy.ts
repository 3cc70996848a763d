// Composition root: builds the balancer and the listeners from one Config, starts them in order,
// and stops them in reverse order with a bounded drain. Nothing here is a module-level singleton:
// tests build a Proxy with their own config, logger, balancer and clock.
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { classifyStreamRequest } from './http/classify.js';
import { performance } from 'node:perf_hooks';
import { createRouter, type Fallback, type Route } from './net/router.js';
import { systemApiExposure, systemApiRoutes, versionsRoute } from './api/system-api.js';
import { consoleRoutes } from './console/routes.js';
import type { Balancer } from './balancer/balancer.js';
import { startDefaultBackend, type DefaultBackendHandle } from './balancer/default-backend.js';
import { MemoryBalancer } from './balancer/memory.js';
import { RedisBalancer } from './balancer/redis.js';
import { LISTENER_VARIABLES, type Config, type Listeners } from './config.js';
import { streamVersionsRoute } from './http/stream-routes.js';
import { createLogger, type Logger } from './log.js';
import { httpStreamProxy } from './http/stream-proxy.js';
import { HttpStreamStats } from './http/stream-stats.js';
import { HlsCache } from './http/hls-cache.js';
import { clientsApiRoutes } from './api/clients-api.js';
import { localStreams, localView, type LocalAnswers, type WholeProxyView } from './api/proxy-view.js';
import { metricsRoute } from './api/metrics-route.js';
import type { HealthShare } from './health/shared.js';
import { StreamSummaries } from './api/stream-summary.js';
import type { ServiceStats } from './net/service-stats.js';
import { listenHttp } from './net/http-listener.js';
import { RelayRegistry, type ClientProtocol } from './routing/relays.js';
import { Router } from './routing/router.js';
import { workerLimits, type ConnectionLimits } from './net/connection-guard.js';
import { FdBudget, type FileLimit } from './net/fd-limit.js';
import { HeapGuard } from './net/heap-guard.js';
import { TlsCredentials } from './net/tls.js';
import { OriginAgent } from './net/origin-http.js';
import { OriginClient, type OriginClientStats } from './net/origin-client.js';
import type { ProtocolDeps, ProxyService } from './net/service.js';
import { startRtmpServer } from './rtmp/server.js';
import { Edge } from './edge/edge.js';
import { RTSP_VARIABLE, startRtspServer, type RtspService } from './rtsp/server.js';
import { startSrtServer } from './srt/server.js';
import { startWebrtcRelay } from './webrtc/relay.js';
import { webrtcRoutes } from './webrtc/signalling.js';
import { createOriginHealth, type HealthMonitor } from './health/index.js';
import { reportingRegistrations, type RegistrationEvents } from './health/balancer-events.js';
import { originDrainMethods, type DrainControl } from './api/origin-drain-api.js';
import { balancerReadiness, healthRoutes, type ReadinessState } from './api/health-api.js';
import { EventLoopMonitor } from './api/event-loop.js';
import { proxyMetrics } from './metrics/index.js';
import { requireToken } from './api/system-api.js';

export interface ProxyDeps {
  config: Config;
  log: Logger;
  /** Overrides the balancer chosen by config (tests). */
  balancer?: Balancer;
  now?: () => number;
  /** Called when a listener fails after startup; main.ts exits non-zero. */
  onFatal?: (err: Error) => void;
  /** The RLIMIT_NOFILE in force (main.ts raises it); client listeners keep PROXY_FD_RESERVE of it free. */
  fileLimit?: FileLimit | undefined;
  /** Heap in use and its limit, in bytes, for the PROXY_MAX_HEAP_RATIO guard (tests inject their own). */
  heap?: () => { used: number; limit: number };
  /**
   * A worker's share of the listeners (PROXY_WORKERS > 1, src/cluster/): `stream` runs only the shared TCP
   * client listeners (RTMP, HTTP(S) stream, RTSP); `lead` or absent runs them all.
   */
  role?: 'lead' | 'stream';
  /** A worker's link to the others (PROXY_WORKERS > 1, src/cluster/). */
  worker?: WorkerLink | undefined;
}

/** What a worker process gets from src/cluster/ (docs/BEHAVIOUR.md §8.5). */
export interface WorkerLink {
  /** This worker's slot (0 = the lead), for its share of the connection caps. */
  slot: number;
  /** The proxy's process id as clients see it: the supervisor's. */
  proxyPid: number;
  /** Starts every client id of this worker. */
  clientIdPrefix: string;
  /** Origin health shared with the other workers (memory balancer); undefined: by balancer kind. */
  healthShare: HealthShare | undefined;
  /** A stream got its first live relay here, or lost its last. */
  onStreamLive: ((streamKey: string, live: boolean) => void) | undefined;
  /** Worker 0 (the API owner): the whole proxy's view. */
  view: WholeProxyView | undefined;
  /** Answers the API owner with this worker's own view. */
  serve(local: LocalAnswers): void;
  /** Refreshes what the metrics read from the shared balancer (its record counts are otherwise a scrape late). */
  beforeScrape: () => Promise<void>;
  /** Resolves once every other worker has exited (worker 0 closes the system API only then). */
  othersStopped?: () => Promise<void>;
}

export type ListenerName = keyof Listeners | 'httpsApi' | 'httpsServer' | 'rtsp' | 'metrics';

export function createBalancer(config: Config, now?: () => number, log?: Logger, relays?: RelayRegistry): Balancer {
  if (config.loadBalancer === 'redis') {
    return new RedisBalancer({
      redis: config.redis,
      originExpireMs: config.originExpireMs,
      sessionTtlMs: config.sessionTtlMs,
      maxStreamPins: config.maxStreamPins,
      log: log ?? createLogger({ level: 'silent', format: 'json' }),
      ...(now ? { now } : {}),
    });
  }
  return new MemoryBalancer({
    originExpireMs: config.originExpireMs,
    sessionTtlMs: config.sessionTtlMs,
    maxStreamPins: config.maxStreamPins,
    ...(now ? { now } : {}),
    // A stream with a live relay keeps its pin under the pin cap.
    ...(relays ? { isLive: (streamKey: string) => relays.countByStream(streamKey) > 0 } : {}),
  });
}

export class OriginProxy {
  readonly balancer: Balancer;
  private readonly listeners = new Map<ListenerName, ProxyService>();
  private defaultBackend: DefaultBackendHandle | undefined;
  /** Keep-alive connections to origins' HTTP endpoints for WHIP/WHEP and the WebRTC API (undici, loaded at first use). */
  readonly originAgent: OriginAgent;
  /** Keep-alive connections to origins' HTTP endpoints for HLS/DASH playlists, manifests and segments. */
  readonly originClient: OriginClient;
  /** Origin states (probes, heartbeats, drain) and load: what routing asks before picking. */
  readonly health: HealthMonitor;
  /** Live relays per origin and stream (load scores, pins that must stay, closing a down origin's relays), and the live clients. */
  readonly relays: RelayRegistry;
  /** HTTP-FLV/TS clients and HLS/DASH players of the stream listener. */
  readonly httpStats: HttpStreamStats;
  /** Playlists, manifests and segments shared between players (PROXY_HLS_CACHE_MAX; undefined = off). */
  readonly hlsCache: HlsCache | undefined;
  /** This proxy's streams shared with the others (Redis mode) for the cluster view. */
  private summaries: StreamSummaries | undefined;
  /** The routing seam every protocol asks for a stream's origin. */
  readonly router: Router;
  private stopping: Promise<void> | undefined;
  /** start() finished: every listener is up (a failed start's clean-up is no drain). */
  private fullyStarted = false;
  /** Refuses new work while the heap is above PROXY_MAX_HEAP_RATIO. */
  readonly heapGuard: HeapGuard;
  private tls: TlsCredentials | undefined;
  /** Event-loop delay for `/healthz`. */
  private readonly loop = new EventLoopMonitor();
  /** Edge mode's shared upstreams (PROXY_EDGE=on), else undefined. */
  edge: Edge | undefined;

  constructor(private readonly deps: ProxyDeps) {
    this.relays = new RelayRegistry(deps.now, deps.worker?.clientIdPrefix);
    this.relays.onStreamLive = deps.worker?.onStreamLive;
    this.httpStats = new HttpStreamStats(deps.now);
    const cacheBytes = deps.config.hlsCacheMaxBytes;
    this.hlsCache = cacheBytes > 0 ? new HlsCache({ maxBytes: cacheBytes, ...(deps.now ? { now: deps.now } : {}) }) : undefined;
    this.balancer = deps.balancer ?? createBalancer(deps.config, deps.now, deps.log, this.relays);
    this.health = createOriginHealth({
      config: deps.config,
      balancer: this.balancer,
      log: deps.log,
      relays: this.relays,
      share: deps.worker?.healthShare,
      // Worker 0 alone probes origins (one prober per proxy, not per worker); the others read its verdicts.
      probe: deps.role !== 'stream',
      ...(deps.now ? { now: deps.now } : {}),
    });
    this.router = new Router({
      balancer: this.balancer,
      relays: this.relays,
      health: this.health,
      log: deps.log.child({ component: 'router' }),
      originExpireMs: deps.config.originExpireMs,
      addressPolicy: { allow: deps.config.edge.originAllowCidrs },
      ...(deps.now ? { now: deps.now } : {}),
    });
    this.heapGuard = new HeapGuard({ ratio: deps.config.edge.maxHeapRatio, log: deps.log, ...(deps.heap ? { heap: deps.heap } : {}) });
    this.originAgent = new OriginAgent({ dialMs: deps.config.timeouts.dialMs, headersMs: deps.config.timeouts.originAnswerMs });
    // A request waits for a pooled connection at most as long as a dial may take (both: getting a connection);
    // a body that stops flowing is cut after the idle time, as every relay's.
    this.originClient = new OriginClient({ dialMs: deps.config.timeouts.dialMs, bodyIdleMs: deps.config.timeouts.idleMs });
  }

  /** Starts the balancer, then every listener; on any failure, closes what was started and rethrows. */
  async start(): Promise<void> {
    const { config, log } = this.deps;
    const onFatal = this.deps.onFatal ?? ((err: Error) => log.fatal({ err }, 'listener failed'));
    try {
      await this.balancer.start();
      await this.health.start();
      this.loop.start();
      if (config.defaultBackend && this.deps.role !== 'stream') {
        this.defaultBackend = await startDefaultBackend(this.balancer, config.defaultBackend, {
          log,
          originExpireMs: config.originExpireMs,
          ...(this.deps.now ? { now: this.deps.now } : {}),
        });
      }
      const edge = config.edge;
      const overloaded = () => this.heapGuard.overloaded();
      const fileLimit = this.deps.fileLimit;
      // Worker processes: each admits its share, so the caps hold for the whole proxy (BEHAVIOUR.md §8.5).
      const connectionLimits: ConnectionLimits = workerLimits(
        {
          maxConnections: edge.maxConnections,
          maxConnectionsPerIp: edge.maxConnectionsPerIp,
          overloaded,
          fds: fileLimit && Number.isFinite(fileLimit.soft) ? new FdBudget({ limit: fileLimit.soft, reserve: edge.fdReserve }) : undefined,
        },
        this.deps.worker ? config.workers : 1,
        this.deps.worker?.slot ?? 0,
      );
      const httpLimits: ConnectionLimits = { ...connectionLimits, overloaded: undefined };
      if (edge.tlsCert && edge.tlsKey) {
        this.tls = new TlsCredentials({ certPath: edge.tlsCert, keyPath: edge.tlsKey }, log);
        // A worker serves the pair its supervisor reads and hands out (useTls); one process watches the files itself.
        if (!this.deps.worker) this.tls.watch();
      }
      if (config.edgeMode.enabled) this.edge = new Edge({ config, router: this.router, log });
      const edgeMode = this.edge;
      const deps: ProtocolDeps = {
        ...(edgeMode ? { edge: edgeMode } : {}),
        config,
        log,
        balancer: this.balancer,
        router: this.router,
        onFatal,
        overloaded,
        connectionLimits,
        ...(this.deps.now ? { now: this.deps.now } : {}),
      };
      const started = (name: ListenerName, service: ProxyService) => {
        this.listeners.set(name, service);
        const a = service.address();
        log.info({ listener: service.variable, address: a.address, port: a.port }, 'listening');
      };
      const http = async (name: keyof Listeners, routes: Route[], fallback?: Fallback) => {
        const variable = LISTENER_VARIABLES[name];
        const handler = createRouter(routes, fallback);
        const client = name !== 'systemApi';
        const streams = name === 'httpServer' ? this.httpStreamCounting() : {};
        started(
          name,
          await listenHttp({
            variable,
            listen: config.listeners[name],
            handler,
            log: log.child({ listener: variable }),
            onFatal,
            // HTTP answers an overloaded proxy per request (503 JSON), so connections are not refused for it.
            ...(client ? { limits: httpLimits, overloaded } : { allowClients: edge.systemApiAllowCidrs }),
            ...streams,
          }),
        );
        // The HTTPS twin serves the same routes.
        const twin =
          name === 'httpApi'
            ? (['httpsApi', 'PROXY_HTTPS_API', edge.httpsApi] as const)
            : name === 'httpServer'
              ? (['httpsServer', 'PROXY_HTTPS_SERVER', edge.httpsServer] as const)
              : undefined;
        if (twin && twin[2] && this.tls) {
          const [twinName, twinVariable, listen] = twin;
          started(
            twinName,
            await listenHttp({
              variable: twinVariable,
              listen,
              handler,
              log: log.child({ listener: twinVariable }),
              onFatal,
              limits: httpLimits,
              overloaded,
              tls: this.tls,
              ...streams,
            }),
          );
        }
      };
      const streamServer = () =>
        http(
          'httpServer',
          [streamVersionsRoute(this.deps.worker?.proxyPid)],
          httpStreamProxy({
            config,
            balancer: this.balancer,
            router: this.router,
            origins: this.originClient,
            cache: this.hlsCache,
            stats: this.httpStats,
            ...(deps.now ? { now: deps.now } : {}),
            ...(edgeMode ? { edge: edgeMode } : {}),
          }),
        );
      // Start order as the Go proxy: RTMP → WebRTC → HTTP API → SRT → System API → HTTP stream.
      const rtmp = await startRtmpServer(deps);
      started('rtmp', rtmp);
      const httpPlayers = () => this.httpStats.playersByStream();
      const metricsOf = () =>
        proxyMetrics({
          balancer: this.balancer,
          router: this.router,
          health: this.health,
          services: () => [{ stats: () => this.protocolStats() }],
          hlsCache: this.hlsCache,
          originClient: this.originClient,
          now: deps.now,
          edge: edgeMode ? () => edgeMode.stats() : undefined,
        });
      if (this.deps.role === 'stream') {
        const rtsp: RtspService | undefined = config.rtsp ? await startRtspServer(deps, config.rtsp) : undefined;
        if (rtsp) started('rtsp', rtsp);
        await streamServer();
        const metrics = metricsOf();
        this.serveWorker(
          () => ({
            protocols: this.protocolStats(),
            detail: {
              rtmp: rtmp.detail(),
              http: this.httpDetail(),
              ...(rtsp ? { rtsp: rtsp.detail() } : {}),
              ...(edgeMode ? { edge: edgeMode.stats() } : {}),
            },
            routing: this.router.stats(),
          }),
          metrics,
          httpPlayers,
          (serverId) => this.health.onDeregistered(serverId),
        );
        return;
      }
      const rtc = await startWebrtcRelay(deps);
      started('webrtc', rtc);
      await http('httpApi', [versionsRoute(), ...webrtcRoutes({ ...deps, relay: rtc, agent: this.originAgent })]);
      const srt = await startSrtServer(deps);
      started('srt', srt);
      const rtsp: RtspService | undefined = config.rtsp ? await startRtspServer(deps, config.rtsp) : undefined;
      if (rtsp) started('rtsp', rtsp);
      const stats = () => ({
        protocols: this.protocolStats(),
        detail: {
          rtmp: rtmp.detail(),
          webrtc: rtc.detail(),
          srt: srt.detail(),
          http: this.httpDetail(),
          ...(rtsp ? { rtsp: rtsp.detail() } : {}),
          ...(edgeMode ? { edge: edgeMode.stats() } : {}),
        },
        routing: this.router.stats(),
      });
      const whole = this.deps.worker?.view;
      if (this.balancer instanceof RedisBalancer) {
        this.summaries = new StreamSummaries({
          client: this.balancer.client,
          // Worker 0 publishes the whole proxy's streams (every worker's).
          local: whole ? async () => (await whole.streams()).tallies : () => localStreams({ relays: this.relays, httpPlayers }),
          log: log.child({ component: 'stream-summary' }),
          ...(deps.now ? { now: deps.now } : {}),
        });
        this.summaries.start();
      }
      const summaries = this.summaries;
      const probes = healthRoutes({ loopDelayMs: () => this.loop.delayMs(), readiness: () => this.readiness() });
      // Prometheus: read at scrape time; the system API's /metrics takes the admin token, PROXY_METRICS_LISTEN none.
      const metrics = metricsOf();
      // Worker 0 answers for every worker (their metrics summed); one process for itself.
      const scrape = whole
        ? async () => {
            const { text, contentType } = await whole.metrics();
            return { body: text, contentType };
          }
        : () => metrics.body();
      this.serveWorker(stats, metrics, httpPlayers, () => undefined);
      if (config.metricsListen) {
        const handler = createRouter([metricsRoute(scrape), ...probes.filter((r) => r.path === '/healthz')]);
        started('metrics', await listenHttp({ variable: 'PROXY_METRICS_LISTEN', listen: config.metricsListen, handler, log, onFatal }));
      }
      // Bound ports where the listener runs (a configured 0 is only known then), else the configured ones.
      const portOf = (name: ListenerName, configured: number | undefined) => this.listeners.get(name)?.address().port ?? configured;
      const consolePorts = () => ({
        httpServer: portOf('httpServer', config.listeners.httpServer.port) ?? 0,
        httpApi: portOf('httpApi', config.listeners.httpApi.port) ?? 0,
        httpsServer: this.tls ? portOf('httpsServer', edge.httpsServer?.port) : undefined,
        httpsApi: this.tls ? portOf('httpsApi', edge.httpsApi?.port) : undefined,
      });
      await http('systemApi', [
        ...probes,
        metricsRoute(scrape, (ctx) => requireToken(config.registerToken, ctx)),
        ...consoleRoutes({ ports: consolePorts, tokenRequired: config.registerToken !== undefined }),
        ...clientsApiRoutes({
          relays: this.relays,
          balancer: this.balancer,
          registerToken: config.registerToken,
          httpPlayers,
          ...(whole ? { view: whole } : {}),
          ...(summaries ? { cluster: () => summaries.cluster() } : {}),
          ...(deps.now ? { now: deps.now } : {}),
        }),
        ...systemApiRoutes({
          balancer: reportingRegistrations(this.balancer, whole ? this.toEveryWorker(whole) : this.health),
          registerToken: config.registerToken,
          maxOrigins: edge.maxOrigins,
          addressPolicy: { allow: edge.originAllowCidrs },
          describeOrigin: (v) => this.health.describe(v),
          originMethods: originDrainMethods(whole ? this.drainEverywhere(whole) : this.health, config.registerToken),
          stats: whole ? () => whole.stats() : stats,
          ...(this.deps.worker ? { pid: this.deps.worker.proxyPid } : {}),
          onRegister: (outcome) => metrics.noteRegister(outcome),
          ...(deps.now ? { now: deps.now } : {}),
        }),
      ]);
      const exposed = systemApiExposure(config);
      if (exposed) log.warn({ listener: 'PROXY_SYSTEM_API', address: config.listeners.systemApi.host ?? '(all interfaces)' }, exposed);
      await streamServer();
      this.fullyStarted = true;
    } catch (err) {
      await this.stop(0);
      throw err;
    }
  }

  /** A worker answers the API owner with its own view (PROXY_WORKERS > 1). */
  private serveWorker(
    stats: () => Record<string, unknown>,
    metrics: { registry: { getMetricsAsJSON(): Promise<unknown[]> } },
    httpPlayers: () => Map<string, Partial<Record<ClientProtocol, number>>>,
    forget: (serverId: string) => void,
  ): void {
    const worker = this.deps.worker;
    if (!worker) return;
    const local: LocalAnswers = {
      view: localView({ relays: this.relays, httpPlayers, now: this.deps.now }),
      stats,
      clients: () => this.relays.listClients().length,
      metrics: async () => {
        await worker.beforeScrape().catch(() => undefined);
        return metrics.registry.getMetricsAsJSON();
      },
      // A sync under way may have read before the change this follows: the second one reads after it.
      sync: async () => {
        await this.health.sync().catch(() => undefined);
        await this.health.sync();
      },
      forget,
    };
    worker.serve(local);
  }

  /** Registration events of worker 0's API, also told to the other workers (a removal closes their relays now). */
  private toEveryWorker(whole: WholeProxyView): RegistrationEvents {
    return {
      onRegistered: (origin, replaced) => {
        // A new record is answered once every worker dropped its cached origin list: the next client on any
        // worker can be routed (or fail over) to it. A heartbeat of a known record tells no one.
        if (!this.health.onRegistered(origin, replaced)) return;
        return whole
          .sync()
          .catch((err: Error) => this.deps.log.warn({ err: err.message, server: origin.serverId }, 'registration not read by every worker yet'));
      },
      onDeregistered: (serverId) => {
        this.health.onDeregistered(serverId);
        // The removal is answered once every worker forgot the origin (no cached pin sends a stream there after).
        return whole.forget(serverId).catch((err: Error) => this.deps.log.warn({ err: err.message, server: serverId }, 'removal not told to every worker'));
      },
    };
  }

  /** Drain and undrain through worker 0's API: answered once every worker has read the change. */
  private drainEverywhere(whole: WholeProxyView): DrainControl {
    const everywhere = async (done: Promise<boolean>) => {
      if (!(await done)) return false;
      await whole.sync().catch((err: Error) => this.deps.log.warn({ err: err.message }, 'drain change not read by every worker yet'));
      return true;
    };
    return {
      drain: (serverId) => everywhere(this.health.drain(serverId)),
      undrain: (serverId) => everywhere(this.health.undrain(serverId)),
    };
  }

  /** The clients' counters of every listener, merged by protocol label (the HTTPS twin adds to the HTTP listener's). */
  protocolStats(): ServiceStats {
    const out: ServiceStats = {};
    for (const [name, l] of this.listeners) {
      if (name === 'httpsServer') continue; // shares the HTTP stream listener's counters
      Object.assign(out, l.stats());
    }
    return out;
  }

  /** What the HTTP stream listener reports beyond its client counters: the origin client's state (summed over workers). */
  private httpDetail(): { originClient: OriginClientStats } {
    return { originClient: this.originClient.stats() };
  }

  /** The stream listener's counters, for listenHttp: its stats, and requests the heap guard refused. */
  private httpStreamCounting(): { stats: () => ServiceStats; onRefused: (reason: 'overloaded', req: IncomingMessage, log: Logger) => void } {
    return {
      stats: () => this.httpStats.stats(),
      onRefused: (reason, req, log) => {
        const path = requestPath(req);
        const protocol = this.httpStats.protocolOf(classifyStreamRequest(path, new URLSearchParams()), path, null);
        if (protocol) this.httpStats.counters(protocol).refuse(reason, log);
      },
    };
  }

  /** Re-reads the TLS certificate and key (SIGHUP); false when there is no TLS or the new pair is unusable. */
  reloadTls(why = 'SIGHUP'): boolean {
    return this.tls?.reload(why) ?? false;
  }

  /** Serves the certificate the supervisor read and checked (PROXY_WORKERS > 1). */
  useTls(pair: { cert: string; key: string }, why: string): void {
    this.tls?.use(pair, why);
  }

  /** What `/readyz` reports: unbound listeners, the balancer's usability, and whether a shutdown began. */
  readiness(): ReadinessState {
    const edge = this.deps.config.edge;
    const expected: [ListenerName, string][] = Object.entries(LISTENER_VARIABLES) as [ListenerName, string][];
    if (this.tls && edge.httpsApi) expected.push(['httpsApi', 'PROXY_HTTPS_API']);
    if (this.tls && edge.httpsServer) expected.push(['httpsServer', 'PROXY_HTTPS_SERVER']);
    if (this.deps.config.rtsp) expected.push(['rtsp', RTSP_VARIABLE]);
    if (this.deps.config.metricsListen) expected.push(['metrics', 'PROXY_METRICS_LISTEN']);
    const redisStatus = this.balancer instanceof RedisBalancer ? this.balancer.client.status : undefined;
    return {
      unbound: expected.filter(([name]) => !this.listeners.has(name)).map(([, variable]) => variable),
      balancer: balancerReadiness(redisStatus, this.deps.config.redis.fallback === 'cache'),
      draining: this.stopping !== undefined,
    };
  }

  address(name: ListenerName): AddressInfo {
    const l = this.listeners.get(name);
    if (!l) throw new Error(`listener ${name} is not running`);
    return l.address();
  }

  /**
   * Stops accepting, drains for up to graceMs, then closes the rest. Safe to call twice. The system
   * API closes last, within the same grace period: while clients drain, `/readyz` answers 503 so load
   * balancers send new clients elsewhere instead of meeting refused connections.
   */
  stop(graceMs = this.deps.config.graceQuitMs): Promise<void> {
    this.stopping ??= (async () => {
      const deadline = performance.now() + graceMs;
      this.defaultBackend?.stop();
      this.tls?.close();
      const clients = [...this.listeners.entries()]
        .filter(([name]) => name !== 'systemApi')
        .map(([, l]) => l)
        .reverse();
      await Promise.all(clients.map((l) => l.close(graceMs)));
      this.edge?.close();
      // Worker 0 keeps the system API (/readyz 503, stats, clients) until the other workers have drained too. Not
      // after a failed start: the supervisor stops the others only once this worker has exited (255).
      if (this.deps.role !== 'stream' && this.fullyStarted) await this.deps.worker?.othersStopped?.();
      await this.listeners.get('systemApi')?.close(Math.max(0, deadline - performance.now()));
      this.loop.stop();
      await this.summaries?.stop();
      await this.originAgent.destroy();
      this.originClient.destroy();
      await this.health.stop();
      await this.balancer.close();
    })();
    return this.stopping;
  }
}

/** The path of a request, for classifying it (no decoding: only its suffix matters). */
function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
