// A worker's HealthShare with the memory balancer (PROXY_WORKERS > 1): drain marks, down verdicts,
// loads and relay counts live in the primary (health-store.ts), so every worker sees the drains made
// through worker 0's API and the relays the other workers hold.
import { emptySnapshot, type HealthShare, type HealthSnapshot, type SharedLoad, type SharedVerdict } from '../health/shared.js';
import type { WireSnapshot } from './health-store.js';
import type { IpcBalancer } from './ipc-balancer.js';

export class IpcHealthShare implements HealthShare {
  readonly kind = 'local' as const;

  constructor(private readonly balancer: Pick<IpcBalancer, 'request'>) {}

  async publishDown(serverId: string, verdict: SharedVerdict): Promise<void> {
    await this.balancer.request('healthDown', [serverId, verdict]);
  }

  async publishUp(serverId: string, originId: string): Promise<void> {
    await this.balancer.request('healthUp', [serverId, originId]);
  }

  async setDrain(serverId: string, since: number | undefined): Promise<void> {
    await this.balancer.request('healthDrain', since === undefined ? [serverId] : [serverId, since]);
  }

  async publishLoad(serverId: string, load: SharedLoad): Promise<void> {
    await this.balancer.request('healthLoad', [serverId, load]);
  }

  async publishRelays(counts: ReadonlyMap<string, number>): Promise<void> {
    await this.balancer.request('healthRelays', [[...counts]]);
  }

  async read(serverIds: readonly string[]): Promise<HealthSnapshot> {
    const w = await this.balancer.request<WireSnapshot>('healthRead', [[...serverIds]]);
    const snap = emptySnapshot();
    for (const [id, v] of w.down) snap.down.set(id, v);
    for (const [id, since] of w.drained) snap.drained.set(id, since);
    for (const [id, l] of w.loads) snap.loads.set(id, l);
    for (const [id, n] of w.relays) snap.relays.set(id, n);
    return snap;
  }

  async close(): Promise<void> {
    // The primary drops this worker's relay counts when it exits.
  }
}
