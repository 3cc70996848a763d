// The routing seam: every protocol asks route(streamKey, service, intent) and gets the stream's origin,
// the endpoints to dial in order (failover included) and a lease on the stream's pin; or a typed
// RouteRefusal. The pick policy (policy.ts) runs inside the balancer; this module adds what only a
// live proxy knows: endpoints that just failed (passive health), live relays, and leases.
import { BalancerUnavailableError, NoOriginError, type Balancer, type PickResult } from '../balancer/balancer.js';
import { dialTargets, type Origin, type Service } from '../balancer/origin.js';
import type { Transport } from '../balancer/endpoint.js';
import type { Logger } from '../log.js';
import { ipBytes, OriginAddressError, vetOriginHost, type OriginAddressPolicy } from '../net/address-policy.js';
import { EndpointBackoff } from './backoff.js';
import { EVERY_ORIGIN_UP, type HealthState, type OriginHealth } from './health.js';
import { isAlive, NoServiceError, serves } from './policy.js';
import { RouteRefusal } from './refusal.js';
import { RelayRegistry, type RelayHandle } from './relays.js';
import {
  SERVICE_NEEDS,
  type DialCounts,
  type DialOutcome,
  type RelayEnds,
  type Route,
  type RouteIntent,
  type RouteService,
  type RouteTarget,
  type StreamRouter,
} from './types.js';

export interface RouterOptions {
  balancer: Balancer;
  relays?: RelayRegistry;
  /** Active health and load (default: every origin up, equal load). */
  health?: OriginHealth;
  log: Logger;
  now?: () => number;
  /** PROXY_ORIGIN_EXPIRE, to order failover origins (alive ones first). */
  originExpireMs: number;
  /** Other origins offered after the chosen one's endpoints, for failover within a request. */
  maxFailoverOrigins?: number;
  backoff?: EndpointBackoff;
  /**
   * Checked again at every route (registration checked it once): a host name that now resolves to a
   * refused address is not dialled, and targets carry the vetted IP, so the dial cannot resolve the
   * name to something else afterwards. Without it, targets are dialled as registered.
   */
  addressPolicy?: OriginAddressPolicy;
}

/** The endpoint list a protocol dials (WebRTC dials the origin's API; its media port is not dialled). */
const DIAL: Readonly<Record<RouteService, { service: Service; transport?: Transport }>> = {
  rtmp: { service: 'rtmp' },
  http: { service: 'http' },
  srt: { service: 'srt', transport: 'udp' },
  rtc: { service: 'api' },
  'rtc-media': { service: 'rtc', transport: 'udp' },
  rtsp: { service: 'rtsp' },
};

/** Origins whose dial failures are counted at once (more than PROXY_MAX_ORIGINS allows by default). */
const MAX_FAILURE_ORIGINS = 10_000;
/** Address-policy verdicts of IP literals kept at once (they depend on the policy alone); the memo starts over beyond. */
const MAX_IP_VERDICTS = 1024;

const NO_RELAY: RelayHandle = { release: () => undefined };

export class Router implements StreamRouter {
  readonly relays: RelayRegistry;
  readonly backoff: EndpointBackoff;
  private readonly balancer: Balancer;
  private readonly health: OriginHealth;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly maxFailover: number;
  private readonly dials: DialCounts = { ok: 0, failed: 0, skipped: 0, refused: 0 };
  /** Failed dials per origin server id (metrics); pruned to registered origins when read, capped. */
  private readonly failuresByOrigin = new Map<string, number>();
  /** The health each protocol's routes see (one object per protocol, not one per route). */
  private readonly healthByService = new Map<RouteService, OriginHealth>();
  /**
   * Verdicts of the address policy on IP literals: pure functions of the policy, so computed once. Host
   * names are never kept here: they are resolved again at every route.
   */
  private readonly ipVerdicts = new Map<string, string | OriginAddressError>();

  constructor(private readonly opts: RouterOptions) {
    this.balancer = opts.balancer;
    this.relays = opts.relays ?? new RelayRegistry();
    this.health = opts.health ?? EVERY_ORIGIN_UP;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.backoff = opts.backoff ?? new EndpointBackoff({ now: this.now });
    this.maxFailover = opts.maxFailoverOrigins ?? 2;
  }

  async route(streamKey: string, service: RouteService, intent: RouteIntent): Promise<Route> {
    const needs = SERVICE_NEEDS[service];
    const health = this.healthFor(service);
    const live = this.relays.countByStream(streamKey) > 0;
    let claim: PickResult;
    try {
      claim = await this.balancer.claim(streamKey, { needs, health, live, tentative: true });
    } catch (err) {
      throw refusalOf(err);
    }
    if (claim.created) claim = await this.keepRelayedOrigin(streamKey, claim, needs);
    const route = new StreamRoute(this, streamKey, service, claim, live);
    try {
      await route.prepare();
    } catch (err) {
      route.release();
      throw refusalOf(err);
    }
    if (this.log.isLevelEnabled('debug'))
      this.log.debug({ stream: streamKey, service, intent, origin: claim.origin.id, targets: route.targets.length }, 'routed');
    return route;
  }

  /**
   * A stream this proxy relays lives where its relays go. When the balancer has lost the stream's pin
   * (Redis restarted without persistence, a pin evicted) and just picked a new origin for it, a fresh
   * pick could send players to an origin that does not have the stream, and load-aware picks would even
   * prefer the other origins, since this one carries the stream's relays. The new lease is given back and
   * the stream is pinned again to the origin of its live relays, if that origin is registered, serves
   * the protocol and is not down.
   */
  private async keepRelayedOrigin(streamKey: string, claim: PickResult, needs: readonly Service[]): Promise<PickResult> {
    const relayedTo = this.relays.originOfStream(streamKey);
    if (!claim.created || relayedTo === undefined || relayedTo === claim.origin.serverId) return claim;
    let views;
    try {
      views = await this.balancer.origins();
    } catch {
      return claim;
    }
    const origin = views.find((v) => v.origin.serverId === relayedTo)?.origin;
    if (!origin || !serves(origin, needs) || this.health.state(origin, this.now()) === 'down') return claim;
    await this.balancer.releasePin(streamKey, claim.origin, false).catch(() => undefined);
    this.log.info({ stream: streamKey, origin: origin.id, picked: claim.origin.id }, 'stream pinned again to the origin of its live relays');
    return { origin, created: true };
  }

  async lookup(streamKey: string, service: RouteService): Promise<Route | undefined> {
    const live = this.relays.countByStream(streamKey) > 0;
    let origin: Origin | undefined;
    try {
      origin = await this.balancer.lookup(streamKey, { needs: SERVICE_NEEDS[service], health: this.healthFor(service), live });
    } catch (err) {
      throw refusalOf(err);
    }
    if (!origin) return undefined;
    const route = new StreamRoute(this, streamKey, service, { origin, created: false }, live);
    try {
      await route.prepare();
    } catch (err) {
      throw refusalOf(err);
    }
    return route;
  }

  /** The dial targets of one origin for a protocol, endpoints in backoff left out. */
  targetsOf(origin: Origin, service: RouteService): RouteTarget[] {
    return originTargets(origin, service).filter((t) => !this.backoff.isDown(t));
  }

  /** Other origins that could take the stream, best first (policy tiers, then load). */
  async failoverTargets(streamKey: string, service: RouteService, exclude: Origin): Promise<RouteTarget[]> {
    const needs = SERVICE_NEEDS[service];
    const health = this.healthFor(service);
    const now = this.now();
    const views = await this.balancer.origins();
    const ranked: { o: Origin; rank: number; load: number; tie: number }[] = [];
    for (const { origin: o } of views) {
      if (o.serverId === exclude.serverId || !serves(o, needs)) continue;
      const state = health.state(o, now);
      if (state === 'draining' || state === 'down') continue;
      const alive = isAlive(o, { now, originExpireMs: this.opts.originExpireMs });
      const rank = alive && state === 'up' ? 0 : alive && state === 'suspect' ? 1 : 2;
      ranked.push({ o, rank, load: health.loadOf(o), tie: Math.random() });
    }
    // Most streams have no other origin to fail over to: nothing to sort or log.
    if (ranked.length === 0) return [];
    const candidates = ranked.sort((a, b) => a.rank - b.rank || a.load - b.load || a.tie - b.tie).slice(0, this.maxFailover);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ stream: streamKey, failover: candidates.map((c) => c.o.id) }, 'failover origins');
    return candidates.flatMap((c) => this.targetsOf(c.o, service));
  }

  /** The router's clock (ms). */
  clock(): number {
    return this.now();
  }

  /** Dial outcomes so far (`GET /api/v1/stats`). */
  stats(): { dials: DialCounts } {
    return { dials: { ...this.dials } };
  }

  /** Failed dials per origin, for origins still registered; the others are forgotten here. */
  dialFailuresByOrigin(registered: ReadonlySet<string>): ReadonlyMap<string, number> {
    for (const server of this.failuresByOrigin.keys()) if (!registered.has(server)) this.failuresByOrigin.delete(server);
    return this.failuresByOrigin;
  }

  noteSkipped(target: RouteTarget, dialMs: number): void {
    this.dials.skipped++;
    this.log.debug({ origin: target.origin.id, target: `${target.host}:${target.port}`, dialMs }, 'endpoint skipped: its origin used its whole dial time');
  }

  /**
   * The targets whose host passes the address policy, each with the vetted IP as its host (one check
   * per distinct host). Refused ones are left out and logged; they are no dial failure (no backoff).
   */
  async vetTargets(targets: RouteTarget[]): Promise<{ passed: RouteTarget[]; refused: string[] }> {
    const policy = this.opts.addressPolicy;
    if (!policy || targets.length === 0) return { passed: targets, refused: [] };
    let verdicts: Map<string, Promise<string | OriginAddressError>> | undefined;
    const verdictOf = (host: string): string | OriginAddressError | Promise<string | OriginAddressError> => {
      const known = this.ipVerdicts.get(host);
      if (known !== undefined) return known;
      let v = verdicts?.get(host);
      if (!v) {
        v = vetOriginHost(host, policy).catch((err: unknown) => {
          if (err instanceof OriginAddressError) return err;
          throw err;
        });
        (verdicts ??= new Map()).set(host, v);
        if (ipBytes(host)) {
          void v.then(
            (verdict) => {
              if (this.ipVerdicts.size >= MAX_IP_VERDICTS) this.ipVerdicts.clear();
              this.ipVerdicts.set(host, verdict);
            },
            () => undefined,
          );
        }
      }
      return v;
    };
    const passed: RouteTarget[] = [];
    const refused: string[] = [];
    for (const t of targets) {
      const known = verdictOf(t.host);
      // A known verdict is used without waiting (no microtask per target).
      const v = known instanceof Promise ? await known : known;
      if (typeof v === 'string') {
        passed.push(v === t.host ? t : { ...t, host: v, registeredHost: t.host });
        continue;
      }
      this.dials.refused++;
      refused.push(`${t.origin.id} ${v.message}`);
      this.log.warn({ origin: t.origin.id, target: `${t.host}:${t.port}`, reason: v.reason }, 'origin endpoint not dialled: its address is refused');
    }
    return { passed, refused };
  }

  report(reported: RouteTarget, outcome: DialOutcome): void {
    // Backoff is kept per endpoint as registered (a name, not what it resolved to this time).
    const target = reported.registeredHost === undefined ? reported : { ...reported, host: reported.registeredHost };
    if (outcome === 'ok') {
      this.dials.ok++;
      this.backoff.succeed(target);
      return;
    }
    this.dials.failed++;
    const server = target.origin.serverId;
    if (this.failuresByOrigin.has(server) || this.failuresByOrigin.size < MAX_FAILURE_ORIGINS)
      this.failuresByOrigin.set(server, (this.failuresByOrigin.get(server) ?? 0) + 1);
    const ms = this.backoff.fail(target);
    this.log.warn({ origin: target.origin.id, target: `${target.host}:${target.port}`, backoffMs: ms }, 'origin endpoint failed: skipped for a while');
  }

  commit(route: StreamRoute, target: RouteTarget, created: boolean): void {
    const moved = target.origin.id !== route.origin.id;
    if (created || moved) this.health.noteNewStream?.(target.origin, this.now());
    const onError = (err: Error) => this.log.warn({ stream: route.streamKey, err: err.message }, 'could not keep the stream pin');
    // The common case (a segment of a pinned stream): one call, no async wrapper per request.
    if (!moved) {
      this.balancer.commitPin(route.streamKey, target.origin, undefined).catch(onError);
      return;
    }
    void (async () => {
      await this.balancer.commitPin(route.streamKey, target.origin, route.origin);
      // A failover: the lease taken on the first origin is given back.
      if (created) await this.balancer.releasePin(route.streamKey, route.origin, true);
    })().catch(onError);
  }

  release(route: StreamRoute, created: boolean): void {
    if (!created) return;
    const live = this.relays.countByStream(route.streamKey) > 0;
    this.balancer
      .releasePin(route.streamKey, route.origin, live)
      .catch((err: Error) => this.log.warn({ stream: route.streamKey, err: err.message }, 'could not release the stream pin'));
  }

  /**
   * The health the policy sees for one protocol: the active verdict, and `suspect` for an origin
   * whose endpoints for this protocol are all in failure backoff (no new streams; a live stream keeps
   * its pin, so one refused dial does not move a stream that is playing).
   */
  private healthFor(service: RouteService): OriginHealth {
    let health = this.healthByService.get(service);
    if (!health) this.healthByService.set(service, (health = this.makeHealthFor(service)));
    return health;
  }

  private makeHealthFor(service: RouteService): OriginHealth {
    const base = this.health;
    const d = DIAL[service];
    const backoff = this.backoff;
    return {
      loadOf: (o) => base.loadOf(o),
      state: (o, now): HealthState => {
        const state = base.state(o, now);
        if (state !== 'up') return state;
        const list = dialTargets(o, d.service, d.transport);
        return list.length > 0 && list.every((t) => backoff.isDown(t)) ? 'suspect' : 'up';
      },
    };
  }
}

class StreamRoute implements Route {
  targets: RouteTarget[] = [];
  private settled = false;
  /** The first origin dialled and when its dial time ends; other origins' (failover) in a Map made when needed. */
  private firstDialled: string | undefined;
  private firstDeadline = 0;
  private dialDeadlines: Map<string, number> | undefined;

  constructor(
    private readonly router: Router,
    readonly streamKey: string,
    private readonly service: RouteService,
    private readonly claim: PickResult,
    private readonly live: boolean,
  ) {}

  get origin(): Origin {
    return this.claim.origin;
  }

  /** Fills `targets`: the origin's healthy endpoints, then failover origins'; refuses when none. */
  async prepare(): Promise<void> {
    const own = this.router.targetsOf(this.origin, this.service);
    // A live stream stays where it is; failover is for streams that can start anywhere.
    const others = this.live && own.length > 0 ? [] : await this.router.failoverTargets(this.streamKey, this.service, this.origin);
    const candidates = [...own, ...others];
    if (candidates.length === 0) {
      const all = dialTargets(this.origin, DIAL[this.service].service, DIAL[this.service].transport);
      if (all.length === 0) throw new NoServiceError(this.streamKey, SERVICE_NEEDS[this.service], this.origin.serverId);
      throw new RouteRefusal('endpoints-down', `every endpoint of ${this.origin.id} and of the other origins is in failure backoff`);
    }
    const { passed, refused } = await this.router.vetTargets(candidates);
    if (passed.length === 0) throw new RouteRefusal('unreachable', `no endpoint may be dialled: ${refused.join('; ')}`);
    this.targets = passed;
  }

  report(target: RouteTarget, outcome: DialOutcome): void {
    this.router.report(target, outcome);
  }

  dialTimeFor(target: RouteTarget, dialMs: number): number {
    const now = this.router.clock();
    const id = target.origin.id;
    let deadline: number | undefined;
    if (this.firstDialled === undefined) {
      // Most routes dial one origin: no Map for them.
      this.firstDialled = id;
      deadline = this.firstDeadline = now + dialMs;
    } else if (this.firstDialled === id) {
      deadline = this.firstDeadline;
    } else {
      const deadlines = (this.dialDeadlines ??= new Map());
      deadline = deadlines.get(id);
      if (deadline === undefined) deadlines.set(id, (deadline = now + dialMs));
    }
    const left = Math.max(0, Math.ceil(deadline - now));
    if (left === 0) this.router.noteSkipped(target, dialMs);
    return left;
  }

  commit(target: RouteTarget, relay?: RelayEnds): RelayHandle {
    if (!this.settled) {
      this.settled = true;
      this.router.commit(this, target, this.claim.created);
    }
    if (!relay) return NO_RELAY;
    return this.router.relays.register({
      originServerId: target.origin.serverId,
      originId: target.origin.id,
      streamKey: this.streamKey,
      close: () => relay.close(),
      ...(relay.client ? { client: relay.client } : {}),
    });
  }

  release(): void {
    if (this.settled) return;
    this.settled = true;
    this.router.release(this, this.claim.created);
  }
}

/** The refusal for an error of the balancer or the policy; anything else is passed on. */
export function refusalOf(err: unknown): unknown {
  if (err instanceof RouteRefusal) return err;
  if (err instanceof NoOriginError) return new RouteRefusal('no-origin', err.message, { cause: err });
  if (err instanceof NoServiceError) return new RouteRefusal('no-service', err.message, { cause: err });
  if (err instanceof BalancerUnavailableError) return new RouteRefusal('balancer-unavailable', err.message, { cause: err });
  return err;
}

/**
 * Dials route targets in order until one works: each outcome is reported (failures go into backoff),
 * and when every target failed the refusal is `unreachable`. For protocols whose dial is one async call.
 */
export async function dialInOrder<T>(
  route: Route,
  dial: (target: RouteTarget, timeoutMs: number) => Promise<T>,
  opts: { signal?: AbortSignal; log?: Logger; isDialFailure?: (err: unknown) => boolean; dialMs?: number } = {},
): Promise<{ value: T; target: RouteTarget }> {
  const failures: string[] = [];
  for (const target of route.targets) {
    if (opts.signal?.aborted) break;
    // With dialMs, each origin gets that much in total: once it is spent, its other endpoints are skipped.
    const timeoutMs = opts.dialMs === undefined ? Infinity : route.dialTimeFor(target, opts.dialMs);
    if (timeoutMs <= 0) {
      failures.push(`${target.origin.id} ${target.host}:${target.port} skipped (origin's dial time spent)`);
      continue;
    }
    try {
      const value = await dial(target, timeoutMs);
      route.report(target, 'ok');
      return { value, target };
    } catch (err) {
      if (opts.signal?.aborted) break;
      if (opts.isDialFailure && !opts.isDialFailure(err)) throw err;
      route.report(target, 'fail');
      failures.push(`${target.origin.id} ${target.host}:${target.port} ${(err as Error).message}`);
      opts.log?.debug(
        { origin: target.origin.id, target: `${target.host}:${target.port}`, err: (err as Error).message },
        'dial failed, trying the next endpoint',
      );
    }
  }
  throw new RouteRefusal('unreachable', failures.join('; ') || 'client left');
}

/**
 * Every endpoint a protocol dials on one given origin (a request for a resource that lives there,
 * e.g. a WHIP session's DELETE), backoff not applied: that origin or none.
 */
export function originTargets(origin: Origin, service: RouteService): RouteTarget[] {
  const d = DIAL[service];
  const list = dialTargets(origin, d.service, d.transport);
  const out: RouteTarget[] = new Array<RouteTarget>(list.length);
  // Built field by field: an object spread per endpoint per route was measurable.
  for (let i = 0; i < list.length; i++) out[i] = { host: list[i]!.host, port: list[i]!.port, transport: list[i]!.transport, origin };
  return out;
}

/** The origin's WebRTC media address (its first UDP `rtc` endpoint), where the UDP relay sends. */
export function rtcMediaTarget(origin: Origin): { host: string; port: number } | undefined {
  const t = dialTargets(origin, 'rtc', 'udp')[0];
  return t ? { host: t.host, port: t.port } : undefined;
}
