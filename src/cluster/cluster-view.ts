// Worker 0's view of the whole proxy (PROXY_WORKERS > 1, docs/BEHAVIOUR.md §8.5): the clients, streams,
// stats and metrics APIs read every worker's own view through gathers and sum them (aggregate.ts). A
// worker that does not answer in time is left out and named in `workers.missing`; the primary itself
// out of reach is a 503.
import type { ClientJson, ClientsPage, StreamsView, WholeProxyView } from '../api/proxy-view.js';
import { HttpError } from '../net/http-util.js';
import { clientWindows, mergeMetrics, mergeStats, mergeStreams, type MetricJson, type WorkerStreams } from './aggregate.js';
import type { Query, WorkerAnswer } from './gather-protocol.js';
import type { Gatherer } from './gatherer.js';

/** What one worker answers to a `stats` query. */
export interface WorkerStats {
  pid: number;
  /** Live clients it relays. */
  clients: number;
  stats: Record<string, unknown>;
}

/** Client ids carry the slot of the worker holding the client (RelayRegistry's prefix). */
export function clientIdPrefix(slot: number): string {
  return `w${slot}-`;
}

function slotOf(id: string): number | undefined {
  const m = /^w(\d{1,3})-/.exec(id);
  return m ? Number(m[1]) : undefined;
}

export function clusterView(gatherer: Pick<Gatherer, 'gather'>): WholeProxyView {
  const ask = async (q: Query, to?: number): Promise<WorkerAnswer[]> => {
    try {
      return await gatherer.gather(q, to);
    } catch (err) {
      throw new HttpError(503, `workers out of reach: ${(err as Error).message}`, 503, { cause: err });
    }
  };
  const coverage = (answers: readonly WorkerAnswer[]) => ({ count: answers.length, missing: answers.filter((a) => !a.ok).map((a) => a.w) });
  const one = async (q: Query, id: string): Promise<ClientJson | undefined> => {
    const slot = slotOf(id);
    if (slot === undefined) return undefined;
    const [a] = await ask(q, slot);
    if (a && !a.ok) throw new HttpError(503, `worker ${slot} did not answer: ${a.e ?? 'error'}`);
    return isClient(a?.v) ? a.v : undefined;
  };

  return {
    clients: async ({ stream, offset, limit }): Promise<ClientsPage> => {
      const s = stream === undefined ? {} : { stream };
      const counts = await ask({ k: 'count', ...s });
      const totals = counts.flatMap((a) => (a.ok && isCount(a.v) ? [{ w: a.w, total: a.v }] : []));
      const slices = await Promise.all(clientWindows(totals, offset, limit).map((w) => ask({ k: 'clients', ...s, offset: w.offset, limit: w.limit }, w.w)));
      const items = slices.flatMap((answers) => answers.flatMap((a) => (a.ok && Array.isArray(a.v) ? (a.v as unknown[]).filter(isClient) : [])));
      return { total: totals.reduce((n, t) => n + t.total, 0), items, workers: coverage(counts) };
    },
    client: (id) => one({ k: 'client', id }, id),
    kick: (id) => one({ k: 'kick', id }, id),
    streams: async (keys): Promise<StreamsView> => {
      const answers = await ask(keys ? { k: 'streams', keys: [...keys] } : { k: 'streams' });
      const parts = answers.flatMap((a) => (a.ok && isWorkerStreams(a.v) ? [a.v] : []));
      return { ...mergeStreams(parts), workers: coverage(answers) };
    },
    stats: async () => {
      const answers = await ask({ k: 'stats' });
      const ok = answers.flatMap((a) => (a.ok && isWorkerStats(a.v) ? [{ w: a.w, ...a.v }] : []));
      return {
        ...mergeStats(ok.map((a) => a.stats)),
        workers: { ...coverage(answers), each: ok.map((a) => ({ worker: a.w, pid: a.pid, clients: a.clients })) },
      };
    },
    metrics: async () => {
      const answers = await ask({ k: 'metrics' });
      const parts = answers.flatMap((a) => (a.ok && Array.isArray(a.v) ? [(a.v as unknown[]).filter(isMetric)] : []));
      const { text, contentType } = await mergeMetrics(parts);
      const missing = answers.length - parts.length;
      const tail =
        '# HELP origin_proxy_workers Worker processes by whether they answered this scrape (missing: their series are left out)\n' +
        '# TYPE origin_proxy_workers gauge\n' +
        `origin_proxy_workers{state="answered"} ${parts.length}\norigin_proxy_workers{state="missing"} ${missing}\n`;
      return { text: text.endsWith('\n') || text === '' ? text + tail : `${text}\n${tail}`, contentType };
    },
    // A worker's pin commit travels on its channel ahead of its answer, so the primary has applied it.
    settled: async () => {
      await ask({ k: 'ping' });
    },
    sync: async () => {
      await ask({ k: 'sync' });
    },
    forget: async (server) => {
      await ask({ k: 'forget', server });
    },
  };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isClient(v: unknown): v is ClientJson {
  const c = v as Partial<ClientJson> | null;
  return typeof c === 'object' && c !== null && typeof c.id === 'string' && typeof c.stream === 'string' && typeof c.bytes === 'object';
}

function isWorkerStreams(v: unknown): v is WorkerStreams {
  const s = v as Partial<WorkerStreams> | null;
  return typeof s === 'object' && s !== null && Array.isArray(s.tallies) && Array.isArray(s.publishers);
}

function isWorkerStats(v: unknown): v is WorkerStats {
  const s = v as Partial<WorkerStats> | null;
  return typeof s === 'object' && s !== null && typeof s.pid === 'number' && typeof s.clients === 'number' && typeof s.stats === 'object' && s.stats !== null;
}

function isMetric(v: unknown): v is MetricJson {
  const m = v as Partial<MetricJson> | null;
  return typeof m === 'object' && m !== null && typeof m.name === 'string' && Array.isArray(m.values);
}
