// Health shared by a fleet of proxies through Redis, in keys of our own next to the Go proxy's
// (which stay as they are): one key per origin (by server id) for each of
//   origin-proxy-health:<server>  a down verdict {origin, reason, since}; short TTL, repeated by every
//                                 proxy whose probes still fail, withdrawn by one whose probe succeeds
//   origin-proxy-drain:<server>   {since}: set and removed by the drain API (no TTL)
//   origin-proxy-load:<server>    {origin, load, weight} from the last heartbeat; TTL = origin expiry
//   origin-proxy-relays:<server>  a hash: proxy id → "<relays>:<ms>", each proxy its own field;
//                                 fields not refreshed for RELAYS_FRESH_MS are ignored and removed
// Every command names one key, so the same code runs on standalone, Sentinel and Cluster Redis
// (commands are pipelined by the client).
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../balancer/redis-connection.js';
import { parseSummaries, parseWeight, type ReportedLoad } from './load.js';
import { emptySnapshot, type HealthShare, type HealthSnapshot, type SharedLoad, type SharedVerdict } from './shared.js';

export const HEALTH_KEY_PREFIX = 'origin-proxy-health:';
export const DRAIN_KEY_PREFIX = 'origin-proxy-drain:';
export const LOAD_KEY_PREFIX = 'origin-proxy-load:';
export const RELAYS_KEY_PREFIX = 'origin-proxy-relays:';
/** A proxy's relay count older than this is from a proxy that stopped (or lost Redis). */
export const RELAYS_FRESH_MS = 10_000;
/** Values we read are small; anything longer is not ours and is ignored. */
const MAX_VALUE = 4096;

export interface RedisHealthShareOptions {
  client: RedisClient;
  /** Lifetime of a down mark unless repeated (a few sync periods). */
  verdictTtlMs: number;
  /** Lifetime of a load report (the origin expiry). */
  loadTtlMs: number;
  now?: () => number;
  proxyId?: string;
}

export class RedisHealthShare implements HealthShare {
  readonly kind = 'redis' as const;
  readonly proxyId: string;
  private readonly client: RedisClient;
  private readonly now: () => number;
  /** Origins this proxy reported relays for (so a drop to zero is reported too). */
  private reported = new Set<string>();

  constructor(private readonly opts: RedisHealthShareOptions) {
    this.client = opts.client;
    this.now = opts.now ?? Date.now;
    this.proxyId = opts.proxyId ?? randomBytes(4).toString('hex');
  }

  async publishDown(serverId: string, v: SharedVerdict): Promise<void> {
    await this.client.set(
      HEALTH_KEY_PREFIX + serverId,
      JSON.stringify({ origin: v.originId, reason: v.reason.slice(0, 512), since: v.since }),
      'PX',
      this.opts.verdictTtlMs,
    );
  }

  async publishUp(serverId: string, originId: string): Promise<void> {
    const key = HEALTH_KEY_PREFIX + serverId;
    const raw = await this.client.get(key);
    if (raw !== null && parseVerdict(raw)?.originId === originId) await this.client.del(key);
  }

  async setDrain(serverId: string, since: number | undefined): Promise<void> {
    if (since === undefined) await this.client.del(DRAIN_KEY_PREFIX + serverId);
    else await this.client.set(DRAIN_KEY_PREFIX + serverId, JSON.stringify({ since }));
  }

  async publishLoad(serverId: string, load: SharedLoad): Promise<void> {
    await this.client.set(
      LOAD_KEY_PREFIX + serverId,
      JSON.stringify({ origin: load.originId, load: load.load, weight: load.weight }),
      'PX',
      this.opts.loadTtlMs,
    );
  }

  async publishRelays(counts: ReadonlyMap<string, number>): Promise<void> {
    const now = this.now();
    const jobs: Promise<unknown>[] = [];
    const next = new Set<string>();
    for (const [serverId, n] of counts) {
      if (n <= 0) continue;
      next.add(serverId);
      const key = RELAYS_KEY_PREFIX + serverId;
      jobs.push(this.client.hset(key, this.proxyId, `${n}:${now}`), this.client.pexpire(key, RELAYS_FRESH_MS * 3));
    }
    for (const serverId of this.reported) if (!next.has(serverId)) jobs.push(this.client.hdel(RELAYS_KEY_PREFIX + serverId, this.proxyId));
    this.reported = next;
    await Promise.all(jobs);
  }

  async read(serverIds: readonly string[]): Promise<HealthSnapshot> {
    const snap = emptySnapshot();
    const now = this.now();
    await Promise.all(
      serverIds.map(async (id) => {
        const [health, drain, load, relays] = await Promise.all([
          this.client.get(HEALTH_KEY_PREFIX + id),
          this.client.get(DRAIN_KEY_PREFIX + id),
          this.client.get(LOAD_KEY_PREFIX + id),
          this.client.hgetall(RELAYS_KEY_PREFIX + id),
        ]);
        const v = health === null ? undefined : parseVerdict(health);
        if (v) snap.down.set(id, v);
        const d = drain === null ? undefined : parseDrain(drain);
        if (d !== undefined) snap.drained.set(id, d);
        const l = load === null ? undefined : parseLoad(load);
        if (l) snap.loads.set(id, l);
        let total = 0;
        const stale: string[] = [];
        for (const [proxy, value] of Object.entries(relays)) {
          const m = /^(\d{1,9}):(\d{1,15})$/.exec(value);
          if (!m || now - Number(m[2]) > RELAYS_FRESH_MS) stale.push(proxy);
          else total += Number(m[1]);
        }
        if (stale.length > 0) void this.client.hdel(RELAYS_KEY_PREFIX + id, ...stale).catch(() => undefined);
        if (total > 0) snap.relays.set(id, total);
      }),
    );
    return snap;
  }

  async close(): Promise<void> {
    // Our relay fields lapse on their own; removing them now keeps the counts honest at once.
    const ids = [...this.reported];
    this.reported.clear();
    if (this.client.status === 'ready') await Promise.all(ids.map((id) => this.client.hdel(RELAYS_KEY_PREFIX + id, this.proxyId))).catch(() => undefined);
  }
}

function parseJson(raw: string): Record<string, unknown> | undefined {
  if (raw.length > MAX_VALUE) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseVerdict(raw: string): SharedVerdict | undefined {
  const r = parseJson(raw);
  if (!r || typeof r.origin !== 'string' || typeof r.since !== 'number' || !Number.isFinite(r.since)) return undefined;
  return { originId: r.origin, reason: typeof r.reason === 'string' ? r.reason.slice(0, 512) : 'down', since: r.since };
}

function parseDrain(raw: string): number | undefined {
  const r = parseJson(raw);
  return r && typeof r.since === 'number' && Number.isFinite(r.since) ? r.since : undefined;
}

function parseLoad(raw: string): SharedLoad | undefined {
  const r = parseJson(raw);
  if (!r || typeof r.origin !== 'string') return undefined;
  const out: SharedLoad = { originId: r.origin };
  try {
    const load: ReportedLoad | undefined = r.load === undefined ? undefined : parseSummaries({ data: { system: toSystem(r.load) } });
    if (load) out.load = load;
    const weight = parseWeight(r.weight);
    if (weight !== undefined) out.weight = weight;
  } catch {
    return out;
  }
  return out;
}

/** Our stored load back into the summaries shape, so the same bounds apply to what others wrote. */
function toSystem(load: unknown): Record<string, unknown> {
  if (typeof load !== 'object' || load === null) return {};
  const l = load as Record<string, unknown>;
  return { cpu_percent: l.cpu, load_1m: l.loadPerCpu, cpus_online: 1, conn_srs: l.connections };
}
