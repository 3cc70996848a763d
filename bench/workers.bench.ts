// PROXY_WORKERS: does a second worker process buy throughput where the proxy's own CPU is the limit?
// HLS playlist requests (keep-alive, 16 loops) and playlist requests on a new connection each (accept
// rate), through origin-proxy with 1 worker, 2 workers with node:cluster's default round-robin (the
// primary accepts and hands each connection over) and 2 workers with NODE_CLUSTER_SCHED_POLICY=none
// (workers accept on the shared socket themselves), all in one run against one nginx-rtmp origin.
// The load generator is this process: its CPU is reported beside the proxy's (primary + workers).
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { eventually, makeTestFlv, publish } from '../test/fixtures/media.js';
import { nginxOriginBody, startNginxRtmp } from '../test/fixtures/nginx-rtmp.js';
import { tempDir } from '../test/fixtures/paths.js';
import type { Peer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy } from '../test/fixtures/proxy.js';
import { httpLoad } from './lib/http-load.js';
import { cpuSeconds } from './lib/proc.js';
import { fmt, targetsLine, type Target } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

/** The process and its children (the workers), for CPU totals. */
function tree(pid: number): number[] {
  const out = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (children) out.push(...children.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

function treeCpu(pids: number[]): number {
  let total = 0;
  for (const p of pids) {
    try {
      total += cpuSeconds(p);
    } catch {
      // exited
    }
  }
  return total;
}

/** `concurrency` loops of GET `path`, each on a new connection (no keep-alive). */
async function newConnectionLoad(port: number, path: string, concurrency: number, durationMs: number): Promise<{ perSecond: number; errors: number }> {
  let done = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const once = () =>
    new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
        if (res.statusCode !== 200) errors++;
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await once();
        done++;
      }
    }),
  );
  return { perSecond: (done / (performance.now() - start)) * 1000, errors };
}

interface CaseResult {
  name: string;
  keepAlive: number;
  keepAliveErrors: number;
  proxyCpu: number;
  /** Keep-alive CPU per process: primary, then each worker. */
  split: string;
  loadCpu: number;
  seconds: number;
  fresh: number;
  freshErrors: number;
  freshProxyCpu: number;
  freshLoadCpu: number;
}

export async function workersBench(ctx: BenchContext): Promise<BenchReport> {
  const media = tempDir('bench-workers');
  const nginx = await startNginxRtmp();
  let pub: Peer | undefined;
  const durationMs = ctx.quick ? 1500 : 6000;
  const concurrency = 16;
  try {
    pub = publish(await makeTestFlv(media.dir, 10), `rtmp://127.0.0.1:${nginx.rtmpPort}/live/hls`);
    await eventually(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${nginx.httpPort}/live/hls.m3u8`)).text();
        if ((text.match(/\.ts/g) ?? []).length < 3) throw new Error('playlist not ready');
      },
      40_000,
      500,
    );
    const cases: { name: string; env: Record<string, string> }[] = [
      { name: '1 worker (PROXY_WORKERS=1)', env: {} },
      { name: '2 workers, round-robin (default)', env: { PROXY_WORKERS: '2' } },
      { name: '2 workers, NODE_CLUSTER_SCHED_POLICY=none', env: { PROXY_WORKERS: '2', NODE_CLUSTER_SCHED_POLICY: 'none' } },
    ];
    const results: CaseResult[] = [];
    for (const c of cases) {
      const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', ...c.env } });
      try {
        await registerOrigin(proxy.systemApi, nginxOriginBody(nginx));
        const path = '/live/hls.m3u8';
        await eventually(async () => {
          if ((await fetch(`${proxy.httpServer}${path}`)).status !== 200) throw new Error('not ready');
        });
        // Warm-up (JIT, keep-alive pools to the origin in every worker).
        await httpLoad({ origin: proxy.httpServer, concurrency, durationMs: 1000, request: () => ({ path, method: 'GET' }) });
        const pids = tree(proxy.peer.pid);
        const each0 = pids.map((p) => treeCpu([p]));
        const p0 = treeCpu(pids);
        const l0 = process.cpuUsage();
        const t0 = performance.now();
        const ka = await httpLoad({ origin: proxy.httpServer, concurrency, durationMs, request: () => ({ path, method: 'GET' }) });
        const seconds = (performance.now() - t0) / 1000;
        const l1 = process.cpuUsage(l0);
        const p1 = treeCpu(pids);
        const split = pids.map((p, i) => `${fmt(((treeCpu([p]) - each0[i]!) / seconds) * 100)} %`).join(' / ');
        const f0 = treeCpu(pids);
        const fl0 = process.cpuUsage();
        const fresh = await newConnectionLoad(proxy.ports.httpServer, path, concurrency, durationMs);
        const fl1 = process.cpuUsage(fl0);
        const f1 = treeCpu(pids);
        results.push({
          name: c.name,
          keepAlive: ka.perSecond,
          keepAliveErrors: ka.errors,
          proxyCpu: (p1 - p0) / seconds,
          split,
          loadCpu: (l1.user + l1.system) / 1e6 / seconds,
          seconds,
          fresh: fresh.perSecond,
          freshErrors: fresh.errors,
          freshProxyCpu: (f1 - f0) / seconds,
          freshLoadCpu: (fl1.user + fl1.system) / 1e6 / seconds,
        });
      } finally {
        await proxy.stop();
      }
    }
    const [one, rr, none] = results as [CaseResult, CaseResult, CaseResult];
    const pct = (x: number) => `${fmt(x * 100)} %`;
    const rows = results.flatMap((r) => [
      [
        `HLS playlist, ${concurrency} keep-alive loops: ${r.name}`,
        `${fmt(r.keepAlive)} req/s`,
        `${fmt(one.keepAlive)} req/s (1 worker)`,
        `${(r.keepAlive / one.keepAlive).toFixed(2)}×`,
        `proxy CPU ${pct(r.proxyCpu)} (per process, primary first: ${r.split}), load generator CPU ${pct(r.loadCpu)}, ${r.keepAliveErrors} errors`,
      ],
      [
        `HLS playlist, new connection per request (${concurrency} loops): ${r.name}`,
        `${fmt(r.fresh)} req/s`,
        `${fmt(one.fresh)} req/s (1 worker)`,
        `${(r.fresh / one.fresh).toFixed(2)}×`,
        `proxy CPU ${pct(r.freshProxyCpu)}, load generator CPU ${pct(r.freshLoadCpu)}, ${r.freshErrors} errors`,
      ],
    ]);
    const best = Math.max(rr.keepAlive, none.keepAlive) / one.keepAlive;
    const targets: Target[] = [
      {
        target: 'HLS playlist req/s with 2 workers ≥ 1.5× 1 worker',
        measured: `${best.toFixed(2)}× (best of the two policies)`,
        ok: ctx.quick ? undefined : best >= 1.5,
      },
    ];
    return {
      headers: ['load', 'origin-proxy', 'baseline (same run)', 'ratio', 'notes'],
      rows,
      notes: [
        targetsLine(targets),
        `Accept rate (new connection per request): round-robin ${fmt(rr.fresh)} req/s, SCHED_NONE ${fmt(none.fresh)} req/s; keep-alive: round-robin ${fmt(rr.keepAlive)}, SCHED_NONE ${fmt(none.keepAlive)} req/s.`,
        'Origin: one nginx-rtmp (HLS from an FFmpeg publish straight to it), registered with the proxy; each case starts a fresh proxy. CPU shares are of one core (200 % = both cores); proxy CPU is the primary plus its workers.',
        'The load generator (undici pool, keep-alive; node:http without keep-alive for the new-connection rows) is the benchmark process itself and shares the 2 cores with the proxy, nginx and FFmpeg; other helpers were loading the same machine during this run.',
      ],
    };
  } finally {
    await pub?.stop();
    await nginx.stop();
    media.remove();
  }
}
