// The primary process of PROXY_WORKERS > 1: forks the workers, owns the shared memory balancer (served
// to workers over IPC), restarts a crashed worker (only that one, with backoff, a bounded number of
// times), and on SIGTERM/SIGINT asks every worker to drain as a single proxy would (second signal:
// exit now). It serves no client itself. See docs/ARCHITECTURE.md, "Worker processes".
import cluster, { type Worker } from 'node:cluster';
import type { Balancer } from '../balancer/balancer.js';
import { MemoryBalancer } from '../balancer/memory.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { SIGNATURE } from '../version.js';
import { BalancerServer } from './balancer-server.js';
import { GatherRelay } from './gather-relay.js';
import { HealthStore } from './health-store.js';
import { LiveStreams } from './live-streams.js';
import { supervisorTls, tlsPairMessage } from './tls-share.js';
import { CONTROL_TAG, OTHERS_DONE, SLOT_VARIABLE, STARTED_TAG, type ControlCommand } from './worker.js';

/** Restarts of one slot allowed within RESTART_WINDOW_MS before the primary gives up and stops. */
export const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;
/** A worker that exits with this code before it started could not start (bad listen address): so can none. */
const EXIT_STARTUP_FAILURE = 255;

export interface PrimaryOptions {
  config: Config;
  log: Logger;
  exit: (code: number) => void;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  started: boolean;
  crashes: number[];
  timer: NodeJS.Timeout | undefined;
}

/** Backoff before restarting a slot that crashed `recent` times in the window (1 → FIRST_BACKOFF_MS). */
export function restartDelayMs(recent: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, recent - 1));
}

export async function runPrimary({ config, log: baseLog, exit }: PrimaryOptions): Promise<void> {
  const log = baseLog.child({ role: 'primary' });
  // A stream with a live relay in any worker keeps its pin under the pin cap.
  const live = new LiveStreams();
  const balancer: Balancer | undefined =
    config.loadBalancer === 'memory'
      ? new MemoryBalancer({
          originExpireMs: config.originExpireMs,
          sessionTtlMs: config.sessionTtlMs,
          maxStreamPins: config.maxStreamPins,
          isLive: (streamKey) => live.isLive(streamKey),
        })
      : undefined;
  await balancer?.start();
  // Drain marks, verdicts, loads and relay counts the workers share (Redis mode: shared in Redis instead).
  const health = balancer
    ? new HealthStore({ verdictTtlMs: Math.max(2000, 2 * config.health.intervalMs + 1000), loadTtlMs: config.originExpireMs })
    : undefined;
  const server = balancer ? new BalancerServer(balancer, log.child({ component: 'balancer-server' }), health) : undefined;
  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({ index, worker: undefined, started: false, crashes: [], timer: undefined }));
  const relay = new GatherRelay({
    started: () => slots.filter((s) => s.started && s.worker?.isConnected()).map((s) => s.index),
    send: (slot, message) => {
      const w = slots[slot]?.worker;
      if (!w || !w.isConnected()) return false;
      try {
        // false only means queued behind a full pipe: it is still delivered.
        w.send(message as Parameters<Worker['send']>[0]);
        return true;
      } catch {
        return false;
      }
    },
    log: log.child({ component: 'gather' }),
  });
  let stopping = false;
  let announced = false;
  let exitCode = 0;

  const send = (w: Worker | undefined, message: unknown) => {
    if (w && w.isConnected()) {
      try {
        w.send(message as Parameters<Worker['send']>[0]);
      } catch (err) {
        log.debug({ err: (err as Error).message, pid: w.process.pid }, 'message to worker not sent');
      }
    }
  };
  const control = (c: ControlCommand) => {
    for (const s of slots) send(s.worker, { t: CONTROL_TAG, c });
  };
  // The HTTPS certificate: read and checked here, handed to every started worker (all serve the same pair).
  const tls = supervisorTls(config, log, (message) => {
    for (const s of slots) if (s.started) send(s.worker, message);
  });
  const finishIfDone = () => {
    if (!stopping) return;
    // Worker 0 holds the system API (/readyz 503 while draining): it goes last, once the others have drained.
    const lead = slots[0]?.worker;
    if (lead && slots.every((s) => s.index === 0 || s.worker === undefined)) send(lead, { t: CONTROL_TAG, c: OTHERS_DONE });
    if (slots.some((s) => s.worker !== undefined)) return;
    void balancer?.close();
    log.info({ code: exitCode }, `${SIGNATURE} done`);
    exit(exitCode);
  };
  const stopAll = (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ why, graceMs: config.graceQuitMs, forceMs: config.forceQuitMs }, 'stopping workers');
    for (const s of slots) clearTimeout(s.timer);
    tls?.close();
    control('stop');
    // Workers keep their own force timer; this one catches a worker that hangs past it.
    setTimeout(() => {
      log.error('force exit: workers still running after PROXY_FORCE_QUIT_TIMEOUT');
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      exit(1);
    }, config.forceQuitMs + 2000).unref();
    finishIfDone();
  };

  const fork = (slot: Slot) => {
    slot.timer = undefined;
    slot.started = false;
    const w = cluster.fork({ [SLOT_VARIABLE]: String(slot.index) });
    slot.worker = w;
    w.on('message', (m: unknown) => {
      if (server?.handle(m, (reply) => send(w, reply), slot.index)) return;
      if (live.handle(slot.index, m) || relay.handle(slot.index, m)) return;
      if (typeof m === 'object' && m !== null && (m as { t?: unknown }).t === STARTED_TAG) {
        slot.started = true;
        log.info({ worker: slot.index, pid: w.process.pid }, 'worker started');
        // It read the files at its start: the pair in force here is the one every worker serves.
        if (tls) send(w, tlsPairMessage(tls.options, 'worker started'));
        if (!announced && slots.every((s) => s.started)) {
          announced = true;
          log.info({ workers: slots.map((s) => s.worker?.process.pid) }, `${SIGNATURE} started`);
        }
      }
    });
    w.on('error', (err) => log.warn({ worker: slot.index, err: err.message }, 'worker channel error'));
    w.on('exit', (code, signal) => {
      if (slot.worker === w) slot.worker = undefined;
      relay.workerGone(slot.index);
      health?.workerGone(slot.index);
      live.workerGone(slot.index);
      const wasStarted = slot.started;
      slot.started = false;
      if (stopping) {
        if (code !== 0) exitCode = exitCode || 1;
        finishIfDone();
        return;
      }
      log.error({ worker: slot.index, pid: w.process.pid, code, signal }, 'worker exited');
      if (!wasStarted && code === EXIT_STARTUP_FAILURE) {
        stopAll(EXIT_STARTUP_FAILURE, 'a worker could not start');
        // Workers still starting serve nobody yet: waiting for them to start only to drain them delays the exit.
        for (const s of slots) if (!s.started) s.worker?.process.kill('SIGKILL');
        return;
      }
      const now = performance.now();
      slot.crashes = slot.crashes.filter((t) => now - t < RESTART_WINDOW_MS);
      slot.crashes.push(now);
      if (slot.crashes.length > MAX_RESTARTS) {
        log.fatal({ worker: slot.index, restarts: MAX_RESTARTS, windowMs: RESTART_WINDOW_MS }, 'worker keeps crashing: stopping');
        stopAll(1, 'worker keeps crashing');
        return;
      }
      const delay = restartDelayMs(slot.crashes.length);
      log.warn({ worker: slot.index, delayMs: delay }, 'restarting worker');
      slot.timer = setTimeout(() => fork(slot), delay);
    });
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      control('force');
      exit(1);
      return;
    }
    stopAll(0, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => {
    if (!tls) log.info('SIGHUP: no TLS certificate reloaded');
    else tls.reload('SIGHUP');
  });

  log.info({ workers: config.workers, schedulingPolicy: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none' }, 'starting workers');
  for (const s of slots) fork(s);
}
