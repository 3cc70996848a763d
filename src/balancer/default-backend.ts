// The debug "default backend" (BEHAVIOUR.md §3.8): a synthetic origin registered at startup and re-registered
// on a timer, for a single-origin setup without heartbeats. Unlike the Go proxy, every tick refreshes
// its heartbeat time (BEHAVIOUR.md §9.2 #17), so it never turns stale while the proxy runs.
import { randomBytes } from 'node:crypto';
import type { DefaultBackendConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { Balancer } from './balancer.js';
import { parseRegistration } from './origin.js';

export interface DefaultBackendHandle {
  stop(): void;
}

export async function startDefaultBackend(
  balancer: Balancer,
  cfg: DefaultBackendConfig,
  opts: { log: Logger; originExpireMs: number; now?: () => number },
): Promise<DefaultBackendHandle> {
  const now = opts.now ?? Date.now;
  const hex = () => randomBytes(4).toString('hex').slice(0, 7);
  const body: Record<string, unknown> = {
    ip: cfg.ip,
    server: `default-${hex()}`,
    service: hex(),
    pid: String(process.pid),
    rtmp: [cfg.rtmp],
  };
  for (const k of ['http', 'api', 'rtc', 'srt'] as const) if (cfg[k]) body[k] = [cfg[k]];
  const tick = async () => {
    try {
      await balancer.register(parseRegistration(body, now()));
    } catch (err) {
      opts.log.error({ err }, 'default backend: register failed');
    }
  };
  await balancer.register(parseRegistration(body, now()));
  opts.log.info({ origin: body }, 'default backend registered');
  // Refresh well within the expiry so the record never looks stale (the Go proxy's 30 s, or faster).
  const every = Math.min(30_000, Math.max(100, opts.originExpireMs / 3));
  const timer = setInterval(() => void tick(), every);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
