// The Redis commands of the balancer, one method per question, each as few round trips as possible.
// Standalone and Sentinel Redis run the Lua scripts that read several keys at once (one round trip,
// atomic). Redis Cluster cannot run a script over keys of different slots, and the Go key names have
// no hash tags, so there the same questions are asked with single-key commands sent together
// (auto-pipelined per node) and the server list is edited by a single-key script, which still never
// loses a concurrent update.
import type { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connection.js';
import { ALL_SERVERS_KEY, HLS_KEY_PREFIX, SERVER_KEY_PREFIX, UFRAG_KEY_PREFIX, URL_KEY_PREFIX, decodeServerList } from './redis-records.js';
import { COMPARE_AND_DELETE, COMPARE_AND_SET, DEREGISTER, EDIT_LIST, REGISTER, RESOLVE, SERVERS, type LuaScript } from './redis-scripts.js';

/** A server key and its record's JSON as stored ('' when the listed record has expired). */
export interface StoredServer {
  key: string;
  raw: string;
}

export class RedisStore {
  private readonly cluster: boolean;

  constructor(readonly client: RedisClient) {
    this.cluster = client.isCluster;
  }

  /** Runs a script by SHA; sends its source when Redis does not know it (first use, or after a restart). */
  async run(s: LuaScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return this.client.eval(s.source, keys.length, ...keys, ...args);
    }
  }

  /** Stores a server record (EX ttl) and lists it; unlists expired keys and the same server's older records. Returns those records. */
  async register(key: string, raw: string, serverId: string, ttlSeconds: number): Promise<string[]> {
    const prefix = `${SERVER_KEY_PREFIX}${serverId}-`;
    if (!this.cluster) return (await this.run(REGISTER, [ALL_SERVERS_KEY, key], [raw, ttlSeconds, serverId, prefix])) as string[];
    await this.client.set(key, raw, 'EX', ttlSeconds);
    const listed = await this.listedServers();
    const gone = listed.filter((s) => s.key !== key && s.raw === '').map((s) => s.key);
    const twins = listed.filter((s) => s.key !== key && s.key.startsWith(prefix) && s.raw !== '' && serverIdOf(s.raw) === serverId);
    await Promise.all(twins.map((t) => this.client.del(t.key)));
    await this.run(EDIT_LIST, [ALL_SERVERS_KEY], [key, ...gone, ...twins.map((t) => t.key)]);
    return twins.map((t) => t.raw);
  }

  /** Deletes and unlists every record of a server id. Returns how many there were. */
  async deregister(serverId: string): Promise<number> {
    const prefix = `${SERVER_KEY_PREFIX}${serverId}-`;
    if (!this.cluster) return Number(await this.run(DEREGISTER, [ALL_SERVERS_KEY], [serverId, prefix]));
    const listed = await this.listedServers();
    const mine = listed.filter((s) => s.key.startsWith(prefix) && s.raw !== '' && serverIdOf(s.raw) === serverId);
    const gone = listed.filter((s) => s.raw === '');
    await Promise.all(mine.map((t) => this.client.del(t.key)));
    await this.run(EDIT_LIST, [ALL_SERVERS_KEY], ['', ...mine.map((s) => s.key), ...gone.map((s) => s.key)]);
    return mine.length;
  }

  /** Every listed server with its record ('' when expired): one script (standalone), or GETs sent together (cluster). */
  async listedServers(): Promise<StoredServer[]> {
    if (!this.cluster) {
      const flat = (await this.run(SERVERS, [ALL_SERVERS_KEY], [])) as string[];
      const out: StoredServer[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ key: flat[i]!, raw: flat[i + 1]! });
      return out;
    }
    const raw = await this.client.get(ALL_SERVERS_KEY);
    let keys: string[];
    try {
      keys = raw ? decodeServerList(raw) : [];
    } catch {
      keys = []; // as the scripts do: a damaged list counts as empty (the next register rewrites it)
    }
    const values = await Promise.all(keys.map((k) => this.client.get(k)));
    return keys.map((key, i) => ({ key, raw: values[i] ?? '' }));
  }

  /** A stream's pinned server key and that server's record ('' when gone); undefined when unpinned. */
  async resolve(urlKey: string): Promise<StoredServer | undefined> {
    if (!this.cluster) {
      const r = (await this.run(RESOLVE, [urlKey], [])) as string[];
      return r.length === 2 ? { key: r[0]!, raw: r[1]! } : undefined;
    }
    const key = await this.client.get(urlKey);
    if (key === null) return undefined;
    if (!key.startsWith(SERVER_KEY_PREFIX)) return { key, raw: '' };
    return { key, raw: (await this.client.get(key)) ?? '' };
  }

  /** SET NX without TTL: true when this call created the pin. */
  async createPin(urlKey: string, serverKey: string): Promise<boolean> {
    return (await this.client.set(urlKey, serverKey, 'NX')) === 'OK';
  }

  /** Moves a pin from `expected` to `next` only if it still holds `expected`; the value now held. */
  async movePin(urlKey: string, expected: string, next: string): Promise<string | null> {
    return (await this.run(COMPARE_AND_SET, [urlKey], [expected, next])) as string | null;
  }

  /** Up to `limit` pins as [streamKey, serverKey], by SCAN (on every master in a cluster). */
  async pins(limit: number): Promise<[string, string][]> {
    const nodes = this.client.isCluster ? (this.client as Cluster).nodes('master') : [this.client];
    const keys: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', `${URL_KEY_PREFIX}*`, 'COUNT', 1000);
        cursor = next;
        for (const k of batch) if (keys.length < limit) keys.push(k);
      } while (cursor !== '0' && keys.length < limit);
      if (keys.length >= limit) break;
    }
    if (keys.length === 0) return [];
    const values = this.cluster ? await Promise.all(keys.map((k) => this.client.get(k))) : await this.client.mget(keys);
    const out: [string, string][] = [];
    keys.forEach((k, i) => {
      const v = values[i];
      if (typeof v === 'string') out.push([k.slice(URL_KEY_PREFIX.length), v]);
    });
    return out;
  }

  /**
   * Pins, HLS sessions (one key per stream) and WebRTC sessions (one key per ufrag), counted by SCAN
   * over the proxy's keys on every master, at most `maxSteps` SCAN calls per node (a partial count
   * beyond that). For metrics, run every few seconds at most: never per request.
   */
  async countRecords(maxSteps = 1000): Promise<{ pins: number; hlsSessions: number; rtcSessions: number }> {
    const nodes = this.client.isCluster ? (this.client as Cluster).nodes('master') : [this.client];
    const counts = { pins: 0, hlsSessions: 0, rtcSessions: 0 };
    for (const node of nodes) {
      let cursor = '0';
      let steps = 0;
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', 'srs-proxy-*', 'COUNT', 1000);
        cursor = next;
        for (const k of batch) {
          if (k.startsWith(URL_KEY_PREFIX)) counts.pins++;
          else if (k.startsWith(HLS_KEY_PREFIX)) counts.hlsSessions++;
          else if (k.startsWith(UFRAG_KEY_PREFIX)) counts.rtcSessions++;
        }
      } while (cursor !== '0' && ++steps < maxSteps);
    }
    return counts;
  }

  /** GET and, in the same round trip, PEXPIRE (a read that keeps a session alive). */
  async getAndTouch(key: string, ttlMs: number): Promise<string | null> {
    const [value] = await Promise.all([this.client.get(key), this.client.pexpire(key, ttlMs)]);
    return value;
  }

  async touch(key: string, ttlMs: number): Promise<void> {
    await this.client.pexpire(key, ttlMs);
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(key);
  }

  /** SET with a TTL in ms; with `onlyIfAbsent`, true only when this call created the key. */
  async put(key: string, value: string, ttlMs: number, onlyIfAbsent = false): Promise<boolean> {
    const r = onlyIfAbsent ? await this.client.set(key, value, 'PX', ttlMs, 'NX') : await this.client.set(key, value, 'PX', ttlMs);
    return r === 'OK';
  }

  /** SET NX without TTL, then GET: the value every caller agrees on (the first writer's). */
  async createOnce(key: string, value: string): Promise<string> {
    await this.client.set(key, value, 'NX');
    return (await this.client.get(key)) ?? value;
  }

  async del(key: string): Promise<void> {
    await this.client.del(key);
  }

  /** Deletes `key` only while it holds `expected`. */
  async deleteIf(key: string, expected: string): Promise<void> {
    await this.run(COMPARE_AND_DELETE, [key], [expected]);
  }
}

function serverIdOf(raw: string): string | undefined {
  try {
    const r = JSON.parse(raw) as { server_id?: unknown };
    return typeof r.server_id === 'string' ? r.server_id : undefined;
  } catch {
    return undefined;
  }
}
