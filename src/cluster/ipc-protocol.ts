// The wire between worker processes and the primary that owns the shared memory balancer
// (docs/ARCHITECTURE.md, "Worker processes"). Messages travel over the cluster IPC channel (JSON):
// a worker sends a batch of requests, the primary answers with a batch of responses, each matched by
// its id. Everything here is plain data: no class instance, no function crosses the channel.
import { BalancerUnavailableError, NoOriginError } from '../balancer/balancer.js';
import { SERVICES, type Service } from '../balancer/origin.js';
import type { HealthState, OriginHealth } from '../routing/health.js';
import { NoServiceError } from '../routing/policy.js';

/** One side of a message channel (the worker's `process`, a cluster Worker, or a test pair). */
export interface Channel {
  send(message: unknown): void;
  /** Subscribes; returns the unsubscribe function. */
  onMessage(listener: (message: unknown) => void): () => void;
}

/** Balancer methods a worker may call on the primary's balancer. */
export const BALANCER_METHODS = [
  'register',
  'deregister',
  'origins',
  'pick',
  'claim',
  'commitPin',
  'releasePin',
  'lookup',
  'pins',
  'hlsSession',
  'hlsSessionById',
  'hlsSessionOf',
  'putRtcSession',
  'rtcSession',
  'deleteRtcSession',
  'sharedSecret',
  'recordCounts',
  // The shared origin health (health-store.ts), not the balancer's: same channel, same batching.
  'healthDown',
  'healthUp',
  'healthDrain',
  'healthLoad',
  'healthRelays',
  'healthRead',
] as const;
export type BalancerMethod = (typeof BALANCER_METHODS)[number];
const METHOD_SET: ReadonlySet<string> = new Set(BALANCER_METHODS);

/** Request batch tag (worker → primary) and response batch tag (primary → worker). */
export const REQUEST_TAG = 'origin-proxy:balancer';
export const RESPONSE_TAG = 'origin-proxy:balancer-reply';
/** Most requests or responses in one batch message; a larger batch is dropped as malformed. */
export const MAX_BATCH = 4096;
const MAX_ARGS = 4;

export interface WireRequest {
  id: number;
  m: BalancerMethod;
  a: unknown[];
}

export interface WireError {
  name: string;
  message: string;
  streamKey?: string;
  reason?: string;
  operation?: string;
  needs?: string[];
  pinnedTo?: string;
}

export type WireResponse = { id: number; ok: true; v?: unknown } | { id: number; ok: false; e: WireError };

/**
 * What a pick needs from the worker's health monitor, evaluated in the worker (where probes, drain marks
 * and relay counts live): each known origin's state and load score at the worker's clock.
 */
export interface WireHealth {
  /** [origin id, state, load] */
  o: [string, HealthState, number][];
}

export interface WirePickRequest {
  needs?: Service[];
  live?: boolean;
  tentative?: boolean;
  health?: WireHealth;
}

const HEALTH_STATES: ReadonlySet<string> = new Set(['up', 'suspect', 'draining', 'down']);
const SERVICE_SET: ReadonlySet<string> = new Set(SERVICES);

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The requests of a batch message, or undefined when it is not one (malformed entries are left out). */
export function parseRequestBatch(message: unknown): { valid: WireRequest[]; dropped: number } | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as { t?: unknown; b?: unknown };
  if (m.t !== REQUEST_TAG) return undefined;
  if (!Array.isArray(m.b) || m.b.length > MAX_BATCH) return { valid: [], dropped: 1 };
  const valid: WireRequest[] = [];
  let dropped = 0;
  for (const r of m.b as unknown[]) {
    const q = r as Partial<WireRequest> | null;
    if (typeof q === 'object' && q !== null && isId(q.id) && typeof q.m === 'string' && METHOD_SET.has(q.m) && Array.isArray(q.a) && q.a.length <= MAX_ARGS) {
      valid.push({ id: q.id, m: q.m, a: q.a });
    } else dropped++;
  }
  return { valid, dropped };
}

/** The responses of a batch message, or undefined when it is not one (malformed entries are left out). */
export function parseResponseBatch(message: unknown): { valid: WireResponse[]; dropped: number } | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as { t?: unknown; b?: unknown };
  if (m.t !== RESPONSE_TAG) return undefined;
  if (!Array.isArray(m.b) || m.b.length > MAX_BATCH) return { valid: [], dropped: 1 };
  const valid: WireResponse[] = [];
  let dropped = 0;
  for (const r of m.b as unknown[]) {
    const q = r as { id?: unknown; ok?: unknown; v?: unknown; e?: unknown } | null;
    if (typeof q !== 'object' || q === null || !isId(q.id)) {
      dropped++;
    } else if (q.ok === true) {
      valid.push({ id: q.id, ok: true, v: q.v });
    } else if (q.ok === false && typeof q.e === 'object' && q.e !== null && typeof (q.e as WireError).message === 'string') {
      const e = q.e as WireError;
      valid.push({ id: q.id, ok: false, e: { ...e, name: typeof e.name === 'string' ? e.name : 'Error' } });
    } else dropped++;
  }
  return { valid, dropped };
}

/** An error thrown by the primary's balancer, as data (the kinds routing maps to refusals keep their fields). */
export function encodeError(err: unknown): WireError {
  if (err instanceof NoOriginError) return { name: err.name, message: err.message, streamKey: err.streamKey, reason: err.reason };
  if (err instanceof NoServiceError) {
    return {
      name: err.name,
      message: err.message,
      streamKey: err.streamKey,
      needs: [...err.needs],
      ...(err.pinnedTo !== undefined ? { pinnedTo: err.pinnedTo } : {}),
    };
  }
  if (err instanceof BalancerUnavailableError) return { name: err.name, message: err.message, operation: err.operation, reason: err.reason };
  return { name: 'Error', message: err instanceof Error ? err.message : String(err) };
}

/** The worker-side error for a WireError: the same class for the kinds routing tells apart. */
export function decodeError(e: WireError, method: string): Error {
  switch (e.name) {
    case 'NoOriginError':
      return new NoOriginError(e.streamKey ?? '', e.reason);
    case 'NoServiceError':
      return new NoServiceError(
        e.streamKey ?? '',
        (e.needs ?? []).filter((s): s is Service => SERVICE_SET.has(s)),
        e.pinnedTo,
      );
    case 'BalancerUnavailableError':
      return new BalancerUnavailableError(e.operation ?? method, e.reason ?? e.message);
    default:
      return new Error(e.message);
  }
}

/** The primary's OriginHealth for one pick: the states and loads the worker sent; origins it did not know are up, load 0. */
export function healthFromWire(wire: unknown): OriginHealth | undefined {
  if (typeof wire !== 'object' || wire === null || !Array.isArray((wire as WireHealth).o)) return undefined;
  const table = new Map<string, { state: HealthState; load: number }>();
  for (const row of (wire as WireHealth).o as unknown[]) {
    if (!Array.isArray(row) || row.length !== 3) continue;
    const [id, state, load] = row as unknown[];
    if (typeof id !== 'string' || typeof state !== 'string' || !HEALTH_STATES.has(state) || typeof load !== 'number' || !Number.isFinite(load)) continue;
    table.set(id, { state: state as HealthState, load });
  }
  return {
    state: (o) => table.get(o.id)?.state ?? 'up',
    loadOf: (o) => table.get(o.id)?.load ?? 0,
  };
}

/** A PickRequest as sent: needs filtered to known services, health rebuilt from its table. */
export function pickRequestFromWire(wire: unknown): { needs?: Service[]; live?: boolean; tentative?: boolean; health?: OriginHealth } {
  if (typeof wire !== 'object' || wire === null) return {};
  const w = wire as WirePickRequest;
  const health = healthFromWire(w.health);
  return {
    ...(Array.isArray(w.needs) ? { needs: w.needs.filter((s): s is Service => typeof s === 'string' && SERVICE_SET.has(s)) } : {}),
    ...(typeof w.live === 'boolean' ? { live: w.live } : {}),
    ...(typeof w.tentative === 'boolean' ? { tentative: w.tentative } : {}),
    ...(health ? { health } : {}),
  };
}
