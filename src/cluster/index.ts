// PROXY_WORKERS > 1 (docs/ARCHITECTURE.md, "Worker processes"): main.ts loads this module only then.
import cluster from 'node:cluster';

export { runPrimary } from './primary.js';
export { workerHooks, type WorkerHooks, type WorkerRole } from './worker.js';

/** True in the process the user started (it forks the workers), false in a worker. */
export function isPrimary(): boolean {
  return cluster.isPrimary;
}
