// Redis command latency and errors, measured in one place: every command an ioredis client sends
// (the balancer's, the health share's, scripts, scans) passes its sendCommand, which is wrapped here
// once. Command names label the series; they are a small set (what the proxy's code sends), capped.
import { Counter, Histogram, type Registry } from './prom-client.js';
import type { RedisClient } from '../balancer/redis-connection.js';
import { tokenLabel } from './snapshot-metric.js';
import { SeriesSet, textMetric } from './text-metric.js';

/** Upper bounds (s) of the command latency buckets: a LAN round trip is well under a millisecond. */
export const REDIS_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Distinct command names kept as labels; more are counted as `other`. */
const MAX_COMMANDS = 48;

interface SentCommand {
  name: string;
  promise: Promise<unknown>;
}

export function instrumentRedis(registry: Registry, client: RedisClient): void {
  const latency = new Histogram({
    name: 'origin_proxy_redis_command_seconds',
    help: 'Redis command latency (send to reply), by command',
    labelNames: ['command'],
    buckets: REDIS_BUCKETS_S,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'origin_proxy_redis_command_errors_total',
    help: 'Redis commands that failed (error reply, timeout, connection lost), by command',
    labelNames: ['command'],
    registers: [registry],
  });
  const up = new SeriesSet('origin_proxy_redis_up').get();
  textMetric(registry, {
    name: 'origin_proxy_redis_up',
    help: '1 while the Redis connection is ready, else 0',
    type: 'gauge',
    collect: (out) => out.add(up, client.status === 'ready' ? 1 : 0),
  });
  const names = new Set<string>();
  const label = (name: string) => {
    const n = tokenLabel(name.toLowerCase());
    if (names.has(n)) return n;
    if (names.size >= MAX_COMMANDS) return 'other';
    names.add(n);
    return n;
  };
  // A Cluster hands a command on to a node's client (and again after a redirection): time it once.
  const seen = new WeakSet<object>();
  const send = client.sendCommand.bind(client) as (command: SentCommand, ...rest: unknown[]) => unknown;
  (client as { sendCommand: unknown }).sendCommand = (command: SentCommand, ...rest: unknown[]) => {
    if (!seen.has(command)) {
      seen.add(command);
      const command_ = label(command.name);
      const end = latency.startTimer({ command: command_ });
      command.promise.then(
        () => end(),
        () => {
          end();
          errors.inc({ command: command_ });
        },
      );
    }
    return send(command, ...rest);
  };
}
