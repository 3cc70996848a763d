// The register path's view of the balancer, reporting heartbeats and removals to the health monitor
// as they happen (a restart or a DELETE closes that origin's relays at once, not on the next sync).
import type { Balancer } from '../balancer/balancer.js';
import type { Origin } from '../balancer/origin.js';

export interface RegistrationEvents {
  /** A promise makes the register answer wait for it (every worker told of a new record, PROXY_WORKERS > 1). */
  onRegistered(origin: Origin, replaced: Origin | undefined): boolean | void | Promise<void>;
  /** A promise makes the removal answer wait for it (every worker told, PROXY_WORKERS > 1). */
  onDeregistered(serverId: string): void | Promise<void>;
}

export function reportingRegistrations(balancer: Balancer, events: RegistrationEvents): Balancer {
  return new Proxy(balancer, {
    get(target, prop) {
      if (prop === 'register') {
        return async (origin: Origin) => {
          const result = await target.register(origin);
          await events.onRegistered(origin, result.replaced);
          return result;
        };
      }
      if (prop === 'deregister') {
        return async (serverId: string) => {
          const removed = await target.deregister(serverId);
          if (removed) await events.onDeregistered(serverId);
          return removed;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
