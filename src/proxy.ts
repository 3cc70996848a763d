// Composition root: builds the balancer and the listeners from one Config, starts them in order,
// and stops them in reverse order with a bounded drain. Nothing here is a module-level singleton:
// tests build a Proxy with their own config, logger, balancer and clock.
import type { AddressInfo } from 'node:net';
import { createRouter, type Fallback, type Route } from './api/router.js';
import { systemApiRoutes, versionsRoute } from './api/system-api.js';
import type { Balancer } from './balancer/balancer.js';
import { startDefaultBackend, type DefaultBackendHandle } from './balancer/default-backend.js';
import { MemoryBalancer } from './balancer/memory.js';
import { RedisBalancer } from './balancer/redis.js';
import { LISTENER_VARIABLES, type Config, type Listeners } from './config.js';
import { streamVersionsRoute } from './http/stream-routes.js';
import { createLogger, type Logger } from './log.js';
import { httpStreamProxy } from './http/stream-proxy.js';
import { listenHttp } from './net/http-listener.js';
import type { OriginHealth } from './routing/health.js';
import { RelayRegistry } from './routing/relays.js';
import { Router } from './routing/router.js';
import { createOriginAgent } from './net/origin-http.js';
import type { Agent } from 'undici';
import type { ProtocolDeps, ProxyService } from './net/service.js';
import { startRtmpServer } from './rtmp/server.js';
import { startSrtServer } from './srt/server.js';
import { startWebrtcRelay } from './webrtc/relay.js';
import { webrtcRoutes } from './webrtc/signalling.js';

export interface ProxyDeps {
  config: Config;
  log: Logger;
  /** Overrides the balancer chosen by config (tests). */
  balancer?: Balancer;
  /** Origin health and load for routing (default: every origin up, equal load). */
  health?: OriginHealth;
  now?: () => number;
  /** Called when a listener fails after startup; main.ts exits non-zero. */
  onFatal?: (err: Error) => void;
}

export type ListenerName = keyof Listeners;

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

export class Proxy {
  readonly balancer: Balancer;
  /** Live relays per origin and stream (load scores, closing relays of an origin that went down). */
  readonly relays = new RelayRegistry();
  readonly router: Router;
  private readonly listeners = new Map<ListenerName, ProxyService>();
  private defaultBackend: DefaultBackendHandle | undefined;
  /** Keep-alive connections to origins' HTTP endpoints (HTTP streaming, WHIP/WHEP). */
  readonly originAgent: Agent;
  private stopping: Promise<void> | undefined;

  constructor(private readonly deps: ProxyDeps) {
    this.balancer = deps.balancer ?? createBalancer(deps.config, deps.now, deps.log, this.relays);
    this.router = new Router({
      balancer: this.balancer,
      relays: this.relays,
      log: deps.log.child({ component: 'router' }),
      originExpireMs: deps.config.originExpireMs,
      ...(deps.health ? { health: deps.health } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    });
    this.originAgent = createOriginAgent({ dialMs: deps.config.timeouts.dialMs, headersMs: deps.config.timeouts.originAnswerMs });
  }

  /** Starts the balancer, then every listener; on any failure, closes what was started and rethrows. */
  async start(): Promise<void> {
    const { config, log } = this.deps;
    const onFatal = this.deps.onFatal ?? ((err: Error) => log.fatal({ err }, 'listener failed'));
    try {
      await this.balancer.start();
      if (config.defaultBackend) {
        this.defaultBackend = await startDefaultBackend(this.balancer, config.defaultBackend, {
          log,
          originExpireMs: config.originExpireMs,
          ...(this.deps.now ? { now: this.deps.now } : {}),
        });
      }
      const deps: ProtocolDeps = { config, log, balancer: this.balancer, router: this.router, onFatal, ...(this.deps.now ? { now: this.deps.now } : {}) };
      const started = (name: ListenerName, service: ProxyService) => {
        this.listeners.set(name, service);
        const a = service.address();
        log.info({ listener: service.variable, address: a.address, port: a.port }, 'listening');
      };
      const http = async (name: ListenerName, routes: Route[], fallback?: Fallback) => {
        const variable = LISTENER_VARIABLES[name];
        const handler = createRouter(routes, fallback);
        started(name, await listenHttp({ variable, listen: config.listeners[name], handler, log: log.child({ listener: variable }), onFatal }));
      };
      // Start order as the Go proxy: RTMP → WebRTC → HTTP API → SRT → System API → HTTP stream.
      started('rtmp', await startRtmpServer(deps));
      const rtc = await startWebrtcRelay(deps);
      started('webrtc', rtc);
      await http('httpApi', [versionsRoute(), ...webrtcRoutes({ ...deps, relay: rtc, agent: this.originAgent })]);
      started('srt', await startSrtServer(deps));
      await http('systemApi', systemApiRoutes({ balancer: this.balancer, registerToken: config.registerToken, ...(deps.now ? { now: deps.now } : {}) }));
      await http('httpServer', [streamVersionsRoute()], httpStreamProxy({ config, balancer: this.balancer, router: this.router, agent: this.originAgent }));
    } catch (err) {
      await this.stop(0);
      throw err;
    }
  }

  address(name: ListenerName): AddressInfo {
    const l = this.listeners.get(name);
    if (!l) throw new Error(`listener ${name} is not running`);
    return l.address();
  }

  /** Stops accepting, drains for up to graceMs, then closes the rest. Safe to call twice. */
  stop(graceMs = this.deps.config.graceQuitMs): Promise<void> {
    this.stopping ??= (async () => {
      this.defaultBackend?.stop();
      const listeners = [...this.listeners.values()].reverse();
      await Promise.all(listeners.map((l) => l.close(graceMs)));
      await this.originAgent.destroy();
      await this.balancer.close();
    })();
    return this.stopping;
  }
}
