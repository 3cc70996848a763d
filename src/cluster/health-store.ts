// The primary's copy of what the workers share about origins (PROXY_WORKERS > 1 with the memory
// balancer): drain marks, down verdicts, reported loads and each worker's relay counts, read by every
// worker's health monitor through IpcHealthShare. The same rules as RedisHealthShare: a down mark
// lapses unless repeated, a load report lives as long as an origin record, relay counts are summed
// over the workers (a worker that exits takes its counts with it). Marks of servers no longer listed
// are forgotten on read, as LocalHealthShare does; every map is capped.
import type { ReportedLoad } from '../health/load.js';
import type { SharedLoad, SharedVerdict } from '../health/shared.js';

/** Most servers tracked per kind of mark (origins are capped lower by PROXY_MAX_ORIGINS). */
const MAX_SERVERS = 10_000;

export interface HealthStoreOptions {
  verdictTtlMs: number;
  loadTtlMs: number;
  now?: () => number;
}

/** A HealthSnapshot as plain data (maps as entry lists). */
export interface WireSnapshot {
  down: [string, SharedVerdict][];
  drained: [string, number][];
  loads: [string, SharedLoad][];
  relays: [string, number][];
}

export class HealthStore {
  private readonly down = new Map<string, { verdict: SharedVerdict; until: number }>();
  private readonly drained = new Map<string, number>();
  private readonly loads = new Map<string, { load: SharedLoad; until: number }>();
  private readonly relays = new Map<number, Map<string, number>>();
  private readonly now: () => number;

  constructor(private readonly opts: HealthStoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  publishDown(serverId: string, verdict: SharedVerdict): void {
    if (this.down.size >= MAX_SERVERS && !this.down.has(serverId)) return;
    this.down.set(serverId, {
      verdict: { originId: verdict.originId, reason: verdict.reason.slice(0, 512), since: verdict.since },
      until: this.now() + this.opts.verdictTtlMs,
    });
  }

  publishUp(serverId: string, originId: string): void {
    if (this.down.get(serverId)?.verdict.originId === originId) this.down.delete(serverId);
  }

  setDrain(serverId: string, since: number | undefined): void {
    if (since === undefined) this.drained.delete(serverId);
    else if (this.drained.size < MAX_SERVERS || this.drained.has(serverId)) this.drained.set(serverId, since);
  }

  publishLoad(serverId: string, load: SharedLoad): void {
    if (this.loads.size >= MAX_SERVERS && !this.loads.has(serverId)) return;
    this.loads.set(serverId, { load, until: this.now() + this.opts.loadTtlMs });
  }

  /** A worker's relay counts now (they replace what it reported before). */
  publishRelays(slot: number, counts: readonly [string, number][]): void {
    const m = new Map<string, number>();
    for (const [id, n] of counts.slice(0, MAX_SERVERS)) if (n > 0) m.set(id, n);
    this.relays.set(slot, m);
  }

  /** A worker exited: its relays are gone. */
  workerGone(slot: number): void {
    this.relays.delete(slot);
  }

  read(serverIds: readonly string[]): WireSnapshot {
    const now = this.now();
    const known = new Set(serverIds);
    const snap: WireSnapshot = { down: [], drained: [], loads: [], relays: [] };
    for (const [id, d] of this.down) {
      if (d.until <= now || !known.has(id)) this.down.delete(id);
      else snap.down.push([id, d.verdict]);
    }
    for (const [id, since] of this.drained) {
      if (!known.has(id)) this.drained.delete(id);
      else snap.drained.push([id, since]);
    }
    for (const [id, l] of this.loads) {
      if (l.until <= now || !known.has(id)) this.loads.delete(id);
      else snap.loads.push([id, l.load]);
    }
    const sums = new Map<string, number>();
    for (const counts of this.relays.values()) for (const [id, n] of counts) if (known.has(id)) sums.set(id, (sums.get(id) ?? 0) + n);
    snap.relays = [...sums];
    return snap;
  }
}

/** A SharedVerdict sent by a worker, or undefined. */
export function verdictFromWire(v: unknown): SharedVerdict | undefined {
  const r = v as Partial<SharedVerdict> | null;
  if (typeof r !== 'object' || r === null || typeof r.originId !== 'string' || typeof r.reason !== 'string' || typeof r.since !== 'number') return undefined;
  return { originId: r.originId, reason: r.reason, since: r.since };
}

/** A SharedLoad sent by a worker, or undefined (only finite numbers kept). */
export function loadFromWire(v: unknown): SharedLoad | undefined {
  const r = v as { originId?: unknown; load?: Record<string, unknown>; weight?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.originId !== 'string') return undefined;
  const out: SharedLoad = { originId: r.originId };
  if (typeof r.weight === 'number' && Number.isFinite(r.weight)) out.weight = r.weight;
  if (typeof r.load === 'object' && r.load !== null) {
    const load: ReportedLoad = {};
    for (const k of ['cpu', 'loadPerCpu', 'connections'] as const) {
      const n = r.load[k];
      if (typeof n === 'number' && Number.isFinite(n)) load[k] = n;
    }
    out.load = load;
  }
  return out;
}
