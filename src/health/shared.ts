// What proxies share about origins beyond the balancer's records: probe verdicts, drain marks, the
// load each origin reported and the relays each proxy holds to it. One proxy alone shares with
// itself (LocalHealthShare); a Redis fleet shares through its own keys (redis-share.ts).
import type { ReportedLoad } from './load.js';

export interface SharedVerdict {
  /** The origin record the verdict is about: a restarted origin (new id) is not judged by it. */
  originId: string;
  reason: string;
  since: number;
}

export interface SharedLoad {
  originId: string;
  load?: ReportedLoad;
  weight?: number;
}

/** Everything read back in one sync, keyed by server id. */
export interface HealthSnapshot {
  down: Map<string, SharedVerdict>;
  /** Drain marks: server id → since (ms). */
  drained: Map<string, number>;
  loads: Map<string, SharedLoad>;
  /** Relays held to each origin by every proxy (this one included), when known. */
  relays: Map<string, number>;
}

export interface HealthShare {
  readonly kind: 'local' | 'redis';
  /** Says (or keeps saying) that an origin is down; the mark lapses unless repeated. */
  publishDown(serverId: string, verdict: SharedVerdict): Promise<void>;
  /** Withdraws a down mark about this origin record. */
  publishUp(serverId: string, originId: string): Promise<void>;
  setDrain(serverId: string, since: number | undefined): Promise<void>;
  publishLoad(serverId: string, load: SharedLoad): Promise<void>;
  /** This proxy's relay counts per server id (those that went to zero included). */
  publishRelays(counts: ReadonlyMap<string, number>): Promise<void>;
  /** Reads the shared view of these servers. */
  read(serverIds: readonly string[]): Promise<HealthSnapshot>;
  close(): Promise<void>;
}

export function emptySnapshot(): HealthSnapshot {
  return { down: new Map(), drained: new Map(), loads: new Map(), relays: new Map() };
}

/** A single proxy: drain marks live here; verdicts and loads are this proxy's own. */
export class LocalHealthShare implements HealthShare {
  readonly kind = 'local' as const;
  private readonly drained = new Map<string, number>();
  private readonly loads = new Map<string, SharedLoad>();
  private relays = new Map<string, number>();

  async publishDown(): Promise<void> {}
  async publishUp(): Promise<void> {}

  async setDrain(serverId: string, since: number | undefined): Promise<void> {
    if (since === undefined) this.drained.delete(serverId);
    else this.drained.set(serverId, since);
  }

  async publishLoad(serverId: string, load: SharedLoad): Promise<void> {
    this.loads.set(serverId, load);
  }

  async publishRelays(counts: ReadonlyMap<string, number>): Promise<void> {
    this.relays = new Map(counts);
  }

  async read(serverIds: readonly string[]): Promise<HealthSnapshot> {
    const snap = emptySnapshot();
    for (const id of serverIds) {
      const d = this.drained.get(id);
      if (d !== undefined) snap.drained.set(id, d);
      const l = this.loads.get(id);
      if (l) snap.loads.set(id, l);
      const r = this.relays.get(id);
      if (r !== undefined) snap.relays.set(id, r);
    }
    // Marks of servers no longer listed are forgotten (bounded by the origins registered).
    const known = new Set(serverIds);
    for (const id of this.drained.keys()) if (!known.has(id)) this.drained.delete(id);
    for (const id of this.loads.keys()) if (!known.has(id)) this.loads.delete(id);
    return snap;
  }

  async close(): Promise<void> {}
}
