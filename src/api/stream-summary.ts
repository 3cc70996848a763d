// What one proxy tells the others about its streams, for `GET /api/v1/streams?cluster=1` in Redis
// mode. Each proxy keeps one field in one hash of our own (the Go proxy's keys are left alone):
//   origin-proxy-stream-summary   hash: proxy id → {"at": ms, "streams": {"<key>": {pub, players, in, out}}}
// written every SUMMARY_EVERY_MS, the hash's TTL refreshed with it; a field older than SUMMARY_FRESH_MS
// is a proxy that stopped (or lost Redis): ignored and removed. Bounded: at most MAX_SUMMARY_STREAMS
// streams per proxy (those with the most clients first) and MAX_SUMMARY_BYTES per field; a reader
// looks at most MAX_SUMMARY_PROXIES fields, skips larger or malformed ones and clamps every number,
// so garbage written by another process costs a bounded read and changes no count beyond its own.
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../balancer/redis-connection.js';
import type { Logger } from '../log.js';
import type { ClientProtocol } from '../routing/relays.js';

export const SUMMARY_KEY = 'origin-proxy-stream-summary';
export const SUMMARY_EVERY_MS = 5_000;
export const SUMMARY_FRESH_MS = 15_000;
export const MAX_SUMMARY_STREAMS = 1000;
export const MAX_SUMMARY_BYTES = 256 * 1024;
export const MAX_SUMMARY_PROXIES = 256;
const MAX_KEY_LENGTH = 512;
const PROTOCOLS: readonly ClientProtocol[] = ['rtmp', 'flv', 'ts', 'hls', 'dash', 'webrtc', 'srt', 'rtsp'];

/** One stream as one proxy (or the sum of several) sees it. */
export interface StreamTally {
  /** Publishers (normally 0 or 1 per proxy). */
  publishers: number;
  players: Partial<Record<ClientProtocol, number>>;
  bytes: { in: number; out: number };
}

export interface ClusterView {
  /** Proxies whose summaries were counted (this one included). */
  proxies: number;
  streams: Map<string, StreamTally>;
}

export interface StreamSummaryOptions {
  client: RedisClient;
  /** This proxy's streams now (with worker processes: gathered from every worker). */
  local: () => Map<string, StreamTally> | Promise<Map<string, StreamTally>>;
  log: Logger;
  now?: () => number;
  proxyId?: string;
  everyMs?: number;
}

/** Publishes this proxy's summary and reads the others'. */
export class StreamSummaries {
  readonly proxyId: string;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private warned = false;

  constructor(private readonly opts: StreamSummaryOptions) {
    this.now = opts.now ?? Date.now;
    this.proxyId = opts.proxyId ?? randomBytes(6).toString('hex');
  }

  start(): void {
    const tick = () => void this.publish().catch((err: Error) => this.warnOnce(err));
    tick();
    this.timer = setInterval(tick, this.opts.everyMs ?? SUMMARY_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.opts.client.status === 'ready') await this.opts.client.hdel(SUMMARY_KEY, this.proxyId).catch(() => undefined);
  }

  async publish(): Promise<void> {
    const text = encodeSummary(await this.opts.local(), this.now());
    await Promise.all([this.opts.client.hset(SUMMARY_KEY, this.proxyId, text), this.opts.client.pexpire(SUMMARY_KEY, SUMMARY_FRESH_MS)]);
    this.warned = false;
  }

  /** The sum over every live proxy: this one from memory (current), the others from their summaries. */
  async cluster(): Promise<ClusterView> {
    const [all, local] = await Promise.all([this.opts.client.hgetall(SUMMARY_KEY), this.opts.local()]);
    const now = this.now();
    const streams = new Map<string, StreamTally>();
    for (const [key, t] of local) addTally(streams, key, t);
    let proxies = 1;
    const stale: string[] = [];
    let seen = 0;
    for (const [proxy, raw] of Object.entries(all)) {
      if (proxy === this.proxyId) continue;
      if (++seen > MAX_SUMMARY_PROXIES) break;
      const summary = decodeSummary(raw);
      // Too old is a proxy that stopped; dated in the future is not a clock we can trust either.
      if (!summary || Math.abs(now - summary.at) > SUMMARY_FRESH_MS) {
        stale.push(proxy);
        continue;
      }
      proxies++;
      for (const [key, t] of summary.streams) addTally(streams, key, t);
    }
    if (stale.length > 0) void this.opts.client.hdel(SUMMARY_KEY, ...stale).catch(() => undefined);
    return { proxies, streams };
  }

  private warnOnce(err: Error): void {
    if (this.warned) return;
    this.warned = true;
    this.opts.log.warn({ err: err.message }, 'could not publish the stream summary');
  }
}

/** The summary text of this proxy's streams: the MAX_SUMMARY_STREAMS with the most clients, within MAX_SUMMARY_BYTES. */
export function encodeSummary(local: Map<string, StreamTally>, at: number): string {
  const ranked = [...local.entries()]
    .map(([key, t]) => ({ key, t, clients: t.publishers + Object.values(t.players).reduce((a, b) => a + (b ?? 0), 0) }))
    .sort((a, b) => b.clients - a.clients)
    .slice(0, MAX_SUMMARY_STREAMS);
  const parts: string[] = [];
  let bytes = 0;
  for (const { key, t } of ranked) {
    const part = `${JSON.stringify(key.slice(0, MAX_KEY_LENGTH))}:${JSON.stringify({ pub: t.publishers, players: t.players, in: t.bytes.in, out: t.bytes.out })}`;
    if (bytes + part.length > MAX_SUMMARY_BYTES - 64) break;
    bytes += part.length + 1;
    parts.push(part);
  }
  return `{"at":${at},"streams":{${parts.join(',')}}}`;
}

/** A summary read back; undefined when it is not one of ours (too large, not JSON, wrong shape). */
export function decodeSummary(raw: string): { at: number; streams: Map<string, StreamTally> } | undefined {
  if (raw.length > MAX_SUMMARY_BYTES) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.at !== 'number' || !Number.isFinite(r.at)) return undefined;
  if (typeof r.streams !== 'object' || r.streams === null || Array.isArray(r.streams)) return undefined;
  const streams = new Map<string, StreamTally>();
  for (const [key, value] of Object.entries(r.streams as Record<string, unknown>)) {
    if (streams.size >= MAX_SUMMARY_STREAMS) break;
    if (key.length === 0 || key.length > MAX_KEY_LENGTH || typeof value !== 'object' || value === null) continue;
    const s = value as Record<string, unknown>;
    const players: Partial<Record<ClientProtocol, number>> = {};
    if (typeof s.players === 'object' && s.players !== null) {
      const given = s.players as Record<string, unknown>;
      for (const p of PROTOCOLS) {
        const n = count(given[p]);
        if (n > 0) players[p] = n;
      }
    }
    streams.set(key, { publishers: count(s.pub), players, bytes: { in: count(s.in), out: count(s.out) } });
  }
  return { at: r.at, streams };
}

/** A count or byte total as written by another proxy: a finite non-negative integer, else 0. */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

export function addTally(into: Map<string, StreamTally>, key: string, t: StreamTally): void {
  let s = into.get(key);
  if (!s) into.set(key, (s = { publishers: 0, players: {}, bytes: { in: 0, out: 0 } }));
  s.publishers += t.publishers;
  for (const [p, n] of Object.entries(t.players) as [ClientProtocol, number][]) s.players[p] = (s.players[p] ?? 0) + n;
  s.bytes.in += t.bytes.in;
  s.bytes.out += t.bytes.out;
}
