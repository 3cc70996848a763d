// What a worker process needs from the cluster (PROXY_WORKERS > 1): its role, its balancer (the
// primary's memory balancer over IPC, or Redis directly), and the primary's stop/reload requests.
// Roles (docs/ARCHITECTURE.md, "Worker processes"): the `lead` worker (slot 0) runs every listener
// including the UDP ones and the HTTP APIs that own per-session or per-proxy state; the other workers
// (`stream`) run only the TCP client listeners every worker shares (RTMP, HTTP(S) stream, RTSP).
import cluster from 'node:cluster';
import type { LocalAnswers, WholeProxyView } from '../api/proxy-view.js';
import type { Config } from '../config.js';
import type { HealthShare } from '../health/shared.js';
import type { Logger } from '../log.js';
import { answerer } from './answers.js';
import { clientIdPrefix, clusterView } from './cluster-view.js';
import { answerQueries, Gatherer } from './gatherer.js';
import { IpcBalancer } from './ipc-balancer.js';
import { IpcHealthShare } from './ipc-health-share.js';
import type { Channel } from './ipc-protocol.js';
import { LiveStreamReporter } from './live-streams.js';
import { parseTlsPairMessage } from './tls-share.js';

export type WorkerRole = 'lead' | 'stream';
/** Settled balancer answers (a pinned stream's origin, HLS sessions) a worker reuses this long (ms) before asking again. */
const READ_CACHE_MS = 1000;
/** Environment variable the primary gives each worker: its slot (0 = lead). Not a setting. */
export const SLOT_VARIABLE = 'ORIGIN_PROXY_WORKER_SLOT';

/** Control messages primary → worker. */
export const CONTROL_TAG = 'origin-proxy:control';
export type ControlCommand = 'stop' | 'force';
/** Primary → worker 0 while stopping: every other worker has exited (worker 0's APIs may go now). */
export const OTHERS_DONE = 'others-done';
/** Worker → primary once its listeners are up. */
export const STARTED_TAG = 'origin-proxy:started';

export interface WorkerHooks {
  slot: number;
  role: WorkerRole;
  /** The shared memory balancer over IPC; undefined with Redis (each worker connects itself). */
  balancer: IpcBalancer | undefined;
  log: Logger;
  /** The origin health shared with the other workers through the primary (memory balancer); Redis: undefined. */
  healthShare: HealthShare | undefined;
  /** The supervisor's process id (what the APIs report as the proxy's pid). */
  proxyPid: number;
  /** Starts this worker's client ids (unique across workers; names the worker). */
  clientIdPrefix: string;
  /** Tells the primary a stream got its first live relay here or lost its last (memory balancer: the pin cap). */
  onStreamLive: ((streamKey: string, live: boolean) => void) | undefined;
  /** Worker 0: the whole proxy's clients, streams, stats and metrics (every worker's, summed). */
  view: WholeProxyView | undefined;
  /** Answers the API owner's questions with this worker's own view. */
  serve(local: LocalAnswers): void;
  /** Refreshes the balancer's record counts before a metrics answer. */
  beforeScrape: () => Promise<void>;
  /** Tells the primary the listeners are up. */
  started(): void;
  /** Calls `fn` for each control command from the primary (and `stop` when the primary is gone). */
  onControl(fn: (command: ControlCommand) => void): void;
  /** Calls `fn` with each TLS pair the primary read and checked (sent once this worker started, then on changes). */
  onTlsPair(fn: (pair: { cert: string; key: string }, why: string) => void): void;
  /**
   * Resolves once every other worker has exited (or the primary is gone): worker 0 keeps the system API
   * (`/readyz` 503, stats) up while the others still drain.
   */
  othersStopped(): Promise<void>;
}

export function isWorker(): boolean {
  return cluster.isWorker;
}

/** The channel to the primary (this process's IPC). */
export function processChannel(): Channel {
  return {
    send: (message) => {
      if (!process.send || !process.connected) throw new Error('no channel to the primary process');
      process.send(message);
    },
    onMessage: (listener) => {
      process.on('message', listener);
      return () => process.off('message', listener);
    },
  };
}

export function workerHooks(config: Config, baseLog: Logger): WorkerHooks {
  const slot = Number.parseInt(process.env[SLOT_VARIABLE] ?? '0', 10) || 0;
  const role: WorkerRole = slot === 0 ? 'lead' : 'stream';
  const log = baseLog.child({ worker: slot });
  const channel = processChannel();
  const balancer =
    config.loadBalancer === 'memory'
      ? new IpcBalancer({ channel, readCacheMs: READ_CACHE_MS, onDropped: (n) => log.warn({ dropped: n }, 'malformed balancer answers dropped') })
      : undefined;
  const live = balancer ? new LiveStreamReporter(channel) : undefined;
  let othersDone = () => undefined as void;
  const others = new Promise<void>((resolve) => (othersDone = resolve));
  const listeners: ((command: ControlCommand) => void)[] = [];
  // Commands that arrive before main.ts subscribed (while the worker still starts) wait for it.
  const early: ControlCommand[] = [];
  const dispatch = (c: ControlCommand) => {
    if (listeners.length === 0) early.push(c);
    for (const fn of listeners) fn(c);
  };
  channel.onMessage((m) => {
    const msg = m as { t?: unknown; c?: unknown } | null;
    if (typeof msg !== 'object' || msg === null || msg.t !== CONTROL_TAG) return;
    if (msg.c === 'stop' || msg.c === 'force') dispatch(msg.c);
    else if (msg.c === OTHERS_DONE) othersDone();
  });
  // The primary is gone (killed): nothing would ever stop this worker, and the balancer cannot answer.
  process.on('disconnect', () => {
    balancer?.failAll('the primary process is gone');
    othersDone();
    log.error('primary process gone: stopping');
    dispatch('stop');
  });
  return {
    slot,
    role,
    balancer,
    log,
    healthShare: balancer ? new IpcHealthShare(balancer) : undefined,
    clientIdPrefix: clientIdPrefix(slot),
    proxyPid: process.ppid,
    onStreamLive: live ? (key, isLive) => live.note(key, isLive) : undefined,
    view: role === 'lead' ? clusterView(new Gatherer(channel)) : undefined,
    beforeScrape: async () => {
      await balancer?.loadRecordCounts();
    },
    serve: (local) => {
      const forget = (server: string) => {
        balancer?.originRemoved();
        local.forget(server);
      };
      // A sync follows a change through worker 0's API (drain, a new origin): the origin list is read again too.
      const sync = async () => {
        balancer?.originsChanged();
        await local.sync();
      };
      answerQueries(channel, answerer({ ...local, forget, sync }), log);
    },
    started: () => {
      try {
        channel.send({ t: STARTED_TAG });
      } catch {
        // primary gone: the disconnect handler stops this worker
      }
    },
    othersStopped: () => others,
    onControl: (fn) => {
      listeners.push(fn);
      for (const c of early.splice(0)) fn(c);
    },
    onTlsPair: (fn) => {
      channel.onMessage((m) => {
        const pair = parseTlsPairMessage(m);
        if (pair) fn(pair, pair.why);
      });
    },
  };
}
