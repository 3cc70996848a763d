// The wire of "gathers" (docs/BEHAVIOUR.md §8.5): the API owner (worker 0) asks the primary to put one
// query to every started worker (or to one), and gets every worker's answer back in one message:
//   worker 0 → primary   {t: GATHER_TAG, id, q, to?}
//   primary → worker     {t: QUERY_TAG, id, q}
//   worker → primary     {t: ANSWER_TAG, id, ok, v | e}
//   primary → worker 0   {t: GATHERED_TAG, id, r: [{w, ok, v | e}]}
// A worker that does not answer in time is reported as missing (`ok: false`), never waited for.
// Queries are plain data checked on arrival; anything else is dropped.

export const GATHER_TAG = 'origin-proxy:gather';
export const GATHERED_TAG = 'origin-proxy:gathered';
export const QUERY_TAG = 'origin-proxy:query';
export const ANSWER_TAG = 'origin-proxy:answer';

/** Longest wait of the primary for one worker's answer (ms). */
export const ANSWER_TIMEOUT_MS = 2000;
/** Longest wait of worker 0 for a whole gather (ms): the primary's wait plus slack. */
export const GATHER_TIMEOUT_MS = 3000;
/** Most gathers waiting at once (worker 0) and queries in flight (primary); more are refused (503). */
export const MAX_GATHERS = 64;
/** Most stream keys one `streams` query names (a listing page is at most 1001). */
export const MAX_QUERY_KEYS = 1024;
const MAX_TEXT = 1024;
const MAX_WINDOW = 1_000_000_000;

export type Query =
  /** Live clients here (optionally of one stream): their count. */
  | { k: 'count'; stream?: string }
  /** Live clients here from position `offset`, at most `limit`. */
  | { k: 'clients'; stream?: string; offset: number; limit: number }
  | { k: 'client'; id: string }
  | { k: 'kick'; id: string }
  /** Tallies and publishers of these streams (all when `keys` is absent). */
  | { k: 'streams'; keys?: string[] }
  /** This worker's `GET /api/v1/stats` body. */
  | { k: 'stats' }
  /** This worker's metrics as prom-client JSON (Registry.getMetricsAsJSON). */
  | { k: 'metrics' }
  /** Nothing: answered after every message the worker sent before it (a barrier). */
  | { k: 'ping' }
  /** Re-read the shared origin health now (after a drain or undrain). */
  | { k: 'sync' }
  /** An origin was removed through the API: forget it and close its relays now. */
  | { k: 'forget'; server: string };

export interface WorkerAnswer {
  /** Worker slot. */
  w: number;
  ok: boolean;
  v?: unknown;
  /** Why there is no answer (timeout, error, worker gone). */
  e?: string;
}

const text = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT;
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_WINDOW;
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** A query as sent, or undefined when it is not one. */
export function parseQuery(raw: unknown): Query | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const q = raw as Record<string, unknown>;
  const stream = q.stream === undefined ? {} : text(q.stream) ? { stream: q.stream } : undefined;
  switch (q.k) {
    case 'count':
      return stream ? { k: 'count', ...stream } : undefined;
    case 'clients':
      return stream && count(q.offset) && count(q.limit) ? { k: 'clients', ...stream, offset: q.offset, limit: q.limit } : undefined;
    case 'client':
    case 'kick':
      return text(q.id) ? { k: q.k, id: q.id } : undefined;
    case 'streams':
      if (q.keys === undefined) return { k: 'streams' };
      return Array.isArray(q.keys) && q.keys.length <= MAX_QUERY_KEYS && q.keys.every(text) ? { k: 'streams', keys: q.keys as string[] } : undefined;
    case 'ping':
    case 'stats':
    case 'metrics':
    case 'sync':
      return { k: q.k };
    case 'forget':
      return text(q.server) ? { k: 'forget', server: q.server } : undefined;
    default:
      return undefined;
  }
}

/** A gather request (worker 0 → primary), or undefined when the message is another kind or malformed. */
export function parseGather(m: unknown): { id: number; q: Query; to?: number } | undefined {
  const g = tagged(m, GATHER_TAG);
  if (!g || !isId(g.id)) return undefined;
  const q = parseQuery(g.q);
  if (!q) return undefined;
  if (g.to !== undefined && !(typeof g.to === 'number' && Number.isSafeInteger(g.to) && g.to >= 0)) return undefined;
  return g.to === undefined ? { id: g.id, q } : { id: g.id, q, to: g.to as number };
}

/** A query (primary → worker). */
export function parseQueryMessage(m: unknown): { id: number; q: Query } | undefined {
  const g = tagged(m, QUERY_TAG);
  if (!g || !isId(g.id)) return undefined;
  const q = parseQuery(g.q);
  return q ? { id: g.id, q } : undefined;
}

/** A worker's answer (worker → primary). */
export function parseAnswer(m: unknown): { id: number; ok: boolean; v?: unknown; e?: string } | undefined {
  const a = tagged(m, ANSWER_TAG);
  if (!a || !isId(a.id) || typeof a.ok !== 'boolean') return undefined;
  return a.ok ? { id: a.id, ok: true, v: a.v } : { id: a.id, ok: false, e: typeof a.e === 'string' ? a.e.slice(0, MAX_TEXT) : 'error' };
}

/** The answers of a gather (primary → worker 0). */
export function parseGathered(m: unknown): { id: number; r: WorkerAnswer[] } | undefined {
  const g = tagged(m, GATHERED_TAG);
  if (!g || !isId(g.id) || !Array.isArray(g.r)) return undefined;
  const r: WorkerAnswer[] = [];
  for (const x of g.r as unknown[]) {
    if (typeof x !== 'object' || x === null) continue;
    const a = x as Record<string, unknown>;
    if (typeof a.w !== 'number' || !Number.isSafeInteger(a.w) || typeof a.ok !== 'boolean') continue;
    r.push(a.ok ? { w: a.w, ok: true, v: a.v } : { w: a.w, ok: false, e: typeof a.e === 'string' ? a.e : 'error' });
  }
  return { id: g.id, r };
}

function tagged(m: unknown, tag: string): Record<string, unknown> | undefined {
  if (typeof m !== 'object' || m === null || (m as { t?: unknown }).t !== tag) return undefined;
  return m as Record<string, unknown>;
}
