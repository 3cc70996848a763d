// The ONE pick policy, shared by the memory balancer, the Redis balancer and its fallback cache.
//
// Keeping a pin: a stream stays on its origin while that origin is the very record it was pinned to
// (not restarted, not deregistered), registered the endpoints the protocol needs, and
// - is `up` and alive by heartbeat, or
// - is `suspect` or `draining` while the stream has live relays (a flapping or draining origin keeps
//   the streams it carries), or
// - no other origin could take the stream (a possibly-dead origin beats certain failure).
// A pinned origin lacking the protocol's endpoints is a refusal, not a re-pin: the stream lives there.
//
// Picking a new origin: among origins that registered the needed endpoints, the first non-empty tier
// of (1) alive and up, (2) alive and suspect, (3) anything not draining (stale heartbeat or down:
// still better than certain failure); within it, power-of-two-choices over the load score.
import type { Origin, Service } from '../balancer/origin.js';
import type { OriginHealth } from './health.js';

export interface PickContext {
  streamKey: string;
  now: number;
  /** PROXY_ORIGIN_EXPIRE: an origin heard from within this is alive. */
  originExpireMs: number;
  /** Endpoint lists the protocol needs (empty: any origin). */
  needs: readonly Service[];
  health: OriginHealth;
  /** The stream has live relays on this proxy. */
  live: boolean;
  /** Uniform random integer in [0, n). */
  randomInt: (n: number) => number;
}

/** What to do with an existing pin before looking at other origins. */
export type PinStanding = 'keep' | 'keep-unless-other' | 'lacks-service';

export class NoServiceError extends Error {
  override readonly name = 'NoServiceError';
  constructor(
    readonly streamKey: string,
    readonly needs: readonly Service[],
    /** The origin the stream is pinned to, when that one lacks the endpoints (else no origin has them). */
    readonly pinnedTo: string | undefined,
  ) {
    super(
      pinnedTo === undefined
        ? `no origin registered ${needs.join(' + ')} endpoints (stream ${streamKey})`
        : `stream ${streamKey} is on origin ${pinnedTo}, which registered no ${needs.join(' + ')} endpoint`,
    );
  }
}

export function serves(origin: Origin, needs: readonly Service[]): boolean {
  for (const s of needs) if (!origin.parsed[s]?.length) return false;
  return true;
}

export function isAlive(origin: Origin, ctx: Pick<PickContext, 'now' | 'originExpireMs'>): boolean {
  return ctx.now - origin.updatedAt < ctx.originExpireMs;
}

/** The pinned origin's standing on its own (cheap: no list of origins needed). */
export function pinStanding(origin: Origin, ctx: PickContext): PinStanding {
  return pinStandingOf(origin, ctx.now, ctx.originExpireMs, ctx.needs, ctx.health, ctx.live);
}

/** pinStanding without a context object (the hot path of picks for pinned streams allocates nothing). */
export function pinStandingOf(
  origin: Origin,
  now: number,
  originExpireMs: number,
  needs: readonly Service[],
  health: OriginHealth,
  live: boolean,
): PinStanding {
  if (!serves(origin, needs)) return 'lacks-service';
  if (now - origin.updatedAt >= originExpireMs) return 'keep-unless-other';
  const state = health.state(origin, now);
  if (state === 'up') return 'keep';
  if ((state === 'suspect' || state === 'draining') && live) return 'keep';
  return 'keep-unless-other';
}

export type PickDecision<T> = { keep: true; item: T } | { keep: false; item: T };

/**
 * Decides a stream's origin. `pinned` is the stream's current pin (its record still registered and
 * the same incarnation), `items` every registered origin. Throws NoServiceError when the pinned
 * origin or every origin lacks the endpoints; returns undefined when nothing can take the stream.
 */
export function decidePick<T>(pinned: T | undefined, items: readonly T[], originOf: (item: T) => Origin, ctx: PickContext): PickDecision<T> | undefined {
  if (pinned !== undefined) {
    const standing = pinStanding(originOf(pinned), ctx);
    if (standing === 'lacks-service') throw new NoServiceError(ctx.streamKey, ctx.needs, originOf(pinned).serverId);
    if (standing === 'keep') return { keep: true, item: pinned };
    const pinnedId = originOf(pinned).id;
    const better = chooseNew(items, originOf, ctx, (o) => o.id !== pinnedId, true);
    return better === undefined ? { keep: true, item: pinned } : { keep: false, item: better };
  }
  const chosen = chooseNew(items, originOf, ctx, () => true, false);
  return chosen === undefined ? undefined : { keep: false, item: chosen };
}

/**
 * A new origin for a stream: the first non-empty tier, then power-of-two-choices. `aliveOnly` limits
 * the choice to tiers 1-2 (moving a pin off an origin is worth it only for a live one).
 */
export function chooseNew<T>(
  items: readonly T[],
  originOf: (item: T) => Origin,
  ctx: PickContext,
  allowed: (o: Origin) => boolean,
  aliveOnly: boolean,
): T | undefined {
  const up: T[] = [];
  const suspect: T[] = [];
  const rest: T[] = [];
  let anyServes = false;
  for (const item of items) {
    const o = originOf(item);
    if (!serves(o, ctx.needs)) continue;
    anyServes = true;
    if (!allowed(o)) continue;
    const state = ctx.health.state(o, ctx.now);
    if (state === 'draining') continue;
    const alive = isAlive(o, ctx);
    if (alive && state === 'up') up.push(item);
    else if (alive && state === 'suspect') suspect.push(item);
    else rest.push(item);
  }
  if (!anyServes && items.length > 0 && !aliveOnly) throw new NoServiceError(ctx.streamKey, ctx.needs, undefined);
  const tier = up.length > 0 ? up : suspect.length > 0 ? suspect : aliveOnly ? [] : rest;
  return twoChoices(tier, originOf, ctx);
}

/** Power-of-two-choices with one random draw: two distinct uniform candidates, the lower load wins. */
export function twoChoices<T>(tier: readonly T[], originOf: (item: T) => Origin, ctx: Pick<PickContext, 'health' | 'randomInt'>): T | undefined {
  const n = tier.length;
  if (n <= 1) return tier[0];
  const r = ctx.randomInt(n * (n - 1));
  const a = Math.floor(r / (n - 1));
  const b = (a + 1 + (r % (n - 1))) % n;
  const first = tier[a]!;
  const second = tier[b]!;
  return ctx.health.loadOf(originOf(second)) < ctx.health.loadOf(originOf(first)) ? second : first;
}
