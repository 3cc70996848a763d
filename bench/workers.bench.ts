// PROXY_WORKERS: does a second worker process buy throughput where the proxy's own CPU is the limit?
// Three proxies per load, in one run: 1 worker, 2 workers with node:cluster's default round-robin (the
// primary accepts and hands each connection over) and 2 workers with NODE_CLUSTER_SCHED_POLICY=none
// (workers accept on the shared socket themselves). Loads:
//   - HLS playlists with the edge cache off (PROXY_HLS_CACHE_MAX=0), so every request is a full origin
//     fetch and rewrite, from a static nginx serving a fixed playlist (constant, cheap origin): keep-alive,
//     and a new connection per request (the accept path);
//   - the same playlists with the edge cache on (the default): cheap requests, where hand-off dominates;
//   - many RTMP streams at saturation: publishers pushing as fast as the path takes through the proxy to
//     nginx-rtmp (no players), bytes/s summed.
// The HTTP load generator is wrk (Debian package `wrk`), one thread, in its own process: it costs far less
// CPU per request than the proxy. Without wrk the HTTP rows are skipped with a note. Every row reports the
// proxy's CPU per process (primary, then worker 0, worker 1), the load generator's and the origin's; the
// machine's load average is printed at the start and the end.
// Knobs: BENCH_WORKERS_SECONDS (per measurement, default 5; --quick: 2), BENCH_WORKERS_CONNECTIONS (wrk
// connections, default 32), BENCH_WORKERS_PUBLISHERS (RTMP publishers, default 4), BENCH_WORKERS_ONLY
// (`http` or `rtmp`: one half). The whole run takes about 2–3 minutes.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { FIXTURES_DIST, tempDir } from '../test/fixtures/paths.js';
import { startPeer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../test/fixtures/proxy.js';
import { startHeartbeat } from '../test/fixtures/heartbeat.js';
import { fixedPlaylist, startStaticHls } from './http.bench.js';
import { makeNoisyFlv } from './lib/media.js';
import { cpuOfEach, processTree } from './lib/proc.js';
import { fmt, targetsLine, type Target } from './lib/stats.js';
import { registered, result as lastJson, startBenchNginx } from './rtmp.bench.js';
import type { BenchContext, BenchReport } from './run.js';

const LOAD = join(FIXTURES_DIST, 'rtmp-load.js');
const TICKS_PER_SECOND = 100;

function knob(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? '');
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The worker slot of a proxy's child (from its environment), for labels. */
function slotOf(pid: number): string {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const slot = env.find((e) => e.startsWith('ORIGIN_PROXY_WORKER_SLOT='));
    return slot ? `w${slot.split('=')[1]}` : 'child';
  } catch {
    return '?';
  }
}

/** CPU of the proxy's processes (primary first, then workers by slot) and of the origin across `fn`. */
async function measured<T>(
  proxyPid: number,
  originPid: number,
  fn: () => Promise<T>,
): Promise<{ result: T; seconds: number; proxy: { label: string; cpu: number }[]; origin: number }> {
  const primary = processTree(proxyPid);
  const pids = [primary[0]!, ...primary.slice(1).sort((a, b) => slotOf(a).localeCompare(slotOf(b)))];
  const labels = pids.map((p, i) => (i === 0 ? (pids.length > 1 ? 'primary' : 'proxy') : slotOf(p)));
  const origin = processTree(originPid);
  const p0 = cpuOfEach(pids);
  const o0 = cpuOfEach(origin);
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const p1 = cpuOfEach(pids);
  const o1 = cpuOfEach(origin);
  const sum = (a: number[], b: number[]) => a.reduce((s, x, i) => s + (x - b[i]! || 0), 0);
  return {
    result,
    seconds,
    proxy: pids.map((_, i) => ({ label: labels[i]!, cpu: (p1[i]! - p0[i]!) / seconds })),
    origin: sum(o1, o0) / seconds,
  };
}

interface WrkResult {
  perSecond: number;
  errors: number;
  /** wrk's own CPU seconds. */
  cpu: number;
}

/** Runs `"$@"` in a shell that then prints its own /proc stat: cutime/cstime are the CPU of the child it waited for. */
const CHILD_CPU = '"$@"; read -r s < /proc/$$/stat; echo "STAT $s"';

/** CPU seconds of the child of a CHILD_CPU shell, from its output. */
function childCpu(output: string): number {
  const stat = /^STAT .*\) (.*)$/m.exec(output);
  if (!stat) return NaN;
  const f = stat[1]!.split(' ');
  // After the command name: state is field 0, cutime 13, cstime 14.
  return (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
}

/** Runs wrk (one thread) under CHILD_CPU. */
function wrk(url: string, connections: number, seconds: number, closeEach: boolean): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, ...(closeEach ? ['-H', 'Connection: close'] : []), url];
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', CHILD_CPU, 'sh', 'wrk', ...args], { timeout: (seconds + 30) * 1000 }, (err, out) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${out}`));
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (!rps) return reject(new Error(`wrk printed no result:\n${out}`));
      const cpu = childCpu(out);
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const sock = socketErrors ? socketErrors.slice(1).reduce((s, x) => s + Number(x), 0) : 0;
      resolve({ perSecond: Number(rps[1]), errors: non2xx + sock, cpu });
    });
  });
}

function hasWrk(): Promise<boolean> {
  return new Promise((resolve) => execFile('wrk', ['--version'], (err, out, errOut) => resolve(!err || /wrk/.test(`${out}${errOut}`))));
}

interface Policy {
  name: string;
  short: string;
  env: Record<string, string>;
}

const POLICIES: Policy[] = [
  { name: '1 worker (PROXY_WORKERS=1)', short: '1 worker', env: {} },
  { name: '2 workers, round-robin (node:cluster default)', short: '2 workers rr', env: { PROXY_WORKERS: '2', NODE_CLUSTER_SCHED_POLICY: 'rr' } },
  { name: '2 workers, NODE_CLUSTER_SCHED_POLICY=none', short: '2 workers none', env: { PROXY_WORKERS: '2', NODE_CLUSTER_SCHED_POLICY: 'none' } },
];

interface Row {
  load: string;
  policy: Policy;
  rate: number;
  unit: string;
  errors: number;
  proxy: { label: string; cpu: number }[];
  loadCpu: number;
  originCpu: number;
}

const pct = (x: number) => `${fmt(x * 100)} %`;

/**
 * The proxy's CPU per unit of work (all its processes): unlike the rates, this holds on a loaded machine, where
 * the proxy only gets part of a core. 2 workers can reach 1.5× one only if this stays below 2 / 1.5 of one's.
 */
function cost(r: Row, total: number): string {
  return r.unit === 'req/s' ? `${fmt((total / r.rate) * 1e6)} µs CPU/request` : `${fmt((total / r.rate) * 1000, 2)} CPU-s/GB`;
}

function rowsOf(rows: Row[]): string[][] {
  return rows.map((r) => {
    const base = rows.find((b) => b.load === r.load && b.policy === POLICIES[0])!;
    const total = r.proxy.reduce((s, p) => s + p.cpu, 0);
    const split = r.proxy.length > 1 ? ` (${r.proxy.map((p) => `${p.label} ${pct(p.cpu)}`).join(', ')})` : '';
    return [
      `${r.load}: ${r.policy.name}`,
      `${fmt(r.rate)} ${r.unit}`,
      `${fmt(base.rate)} ${r.unit} (1 worker)`,
      `${(r.rate / base.rate).toFixed(2)}×`,
      `proxy CPU ${pct(total)}${split}, ${cost(r, total)}; load generator ${pct(r.loadCpu)}; origin ${pct(r.originCpu)}; ${r.errors} errors`,
    ];
  });
}

async function httpRows(ctx: BenchContext, dir: string, seconds: number, connections: number): Promise<Row[]> {
  const nginx = await startStaticHls(dir);
  const rows: Row[] = [];
  try {
    const loads: { load: string; cache: boolean; closeEach: boolean }[] = [
      { load: `HLS playlist, cache off, ${connections} keep-alive connections`, cache: false, closeEach: false },
      { load: `HLS playlist, cache off, new connection per request (${connections} at once)`, cache: false, closeEach: true },
      { load: `HLS playlist, edge cache on, ${connections} keep-alive connections`, cache: true, closeEach: false },
    ];
    for (const cache of [false, true]) {
      for (const policy of POLICIES) {
        const proxy: RunningProxy = await startProxy({
          env: { PROXY_LOG_LEVEL: 'info', ...(cache ? {} : { PROXY_HLS_CACHE_MAX: '0' }), ...policy.env },
        });
        try {
          // Active probes connect to the origin's RTMP port: nginx's own port stands in for it (the origin stays up).
          await registerOrigin(proxy.systemApi, {
            ip: '127.0.0.1',
            server: 'ng',
            service: 's',
            pid: '1',
            rtmp: [String(nginx.port)],
            http: [String(nginx.port)],
          });
          const url = `${proxy.httpServer}/live/bench.m3u8`;
          const first = await fetch(url);
          if (first.status !== 200) throw new Error(`the proxy did not answer the playlist: ${first.status} ${await first.text()}`);
          await first.arrayBuffer().catch(() => undefined);
          for (const l of loads.filter((x) => x.cache === cache)) {
            // Warm-up (JIT, keep-alive pools to the origin in every worker).
            await wrk(url, connections, 1, l.closeEach);
            const m = await measured(proxy.peer.pid, nginx.peer.pid, () => wrk(url, connections, seconds, l.closeEach));
            rows.push({
              load: l.load,
              policy,
              rate: m.result.perSecond,
              unit: 'req/s',
              errors: m.result.errors,
              proxy: m.proxy,
              loadCpu: m.result.cpu / m.seconds,
              originCpu: m.origin,
            });
            process.stdout.write(`  ${l.load}, ${policy.short}: ${fmt(m.result.perSecond)} req/s\n`);
          }
        } finally {
          await proxy.stop();
        }
      }
    }
  } finally {
    await nginx.peer.stop();
  }
  void ctx;
  return rows;
}

/** Long-lived connections opened at once in the spread check. */
const SPREAD_CONNECTIONS = 200;

function socketCount(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return n;
}

/**
 * How a burst of long-lived connections spreads over the workers: `count` RTMP connections opened at once
 * (each answered by the proxy's handshake, then held), counted as new sockets in each worker.
 */
async function spread(proxyPid: number, port: number, count: number): Promise<string> {
  const workers = processTree(proxyPid)
    .slice(1)
    .sort((a, b) => slotOf(a).localeCompare(slotOf(b)));
  const before = workers.map(socketCount);
  const sockets: Socket[] = [];
  try {
    await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<void>((resolve) => {
            const s = connect({ port, host: '127.0.0.1' });
            sockets.push(s);
            s.on('connect', () => s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)])));
            s.once('data', () => resolve());
            s.on('error', () => resolve());
            s.on('close', () => resolve());
          }),
      ),
    );
    return workers.map((w, i) => `${slotOf(w)} ${socketCount(w) - before[i]!}`).join(' / ');
  } finally {
    for (const s of sockets) s.destroy();
  }
}

async function rtmpRows(dir: string, seconds: number, publishers: number, spreads: string[]): Promise<Row[]> {
  const flv = await makeNoisyFlv(dir, { noise: 12, rate: '4M', cbr: false });
  const nginx = await startBenchNginx(dir, 60000);
  const load = `RTMP, ${publishers} publishers at unlimited rate (no players)`;
  const rows: Row[] = [];
  try {
    for (const policy of POLICIES) {
      const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', ...policy.env } });
      const beat = startHeartbeat({ systemApi: proxy.systemApi, rtmp: nginx.port, server: 'bench-nginx' });
      try {
        await registered(proxy.systemApi);
        const run = async (tag: string, secs: number) => {
          // Each publisher under a shell that prints the CPU its child used once it exited.
          const pubs = Array.from({ length: publishers }, (_, i) =>
            startPeer('publisher', 'sh', [
              '-c',
              CHILD_CPU,
              'sh',
              process.execPath,
              LOAD,
              'publish',
              `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${tag}${i}`,
              flv,
              'unlimited',
              String(secs),
            ]),
          );
          await Promise.all(pubs.map((p) => p.waitForOutput(/^ready$/m, 30_000)));
          const m = await measured(proxy.peer.pid, nginx.peer.pid, async () => {
            await Promise.all(pubs.map((p) => p.exited));
          });
          const results = pubs.map((p) => lastJson<{ bytes: number; seconds: number }>(p));
          const bytes = results.reduce((s, r) => s + r.bytes, 0);
          const pubSeconds = Math.max(...results.map((r) => r.seconds));
          const loadCpu = pubs.reduce((s, p) => s + childCpu(p.output), 0);
          return { m, bytesPerSecond: bytes / pubSeconds, loadCpu: loadCpu / pubSeconds };
        };
        await run('warm', 1);
        const r = await run('sat', seconds);
        if (policy !== POLICIES[0]) spreads.push(`${policy.short}: ${await spread(proxy.peer.pid, proxy.ports.rtmp, SPREAD_CONNECTIONS)}`);
        rows.push({ load, policy, rate: r.bytesPerSecond / 1e6, unit: 'MB/s', errors: 0, proxy: r.m.proxy, loadCpu: r.loadCpu, originCpu: r.m.origin });
        process.stdout.write(`  ${load}, ${policy.short}: ${fmt(r.bytesPerSecond / 1e6)} MB/s\n`);
      } finally {
        await beat.stop();
        await proxy.stop();
      }
    }
  } finally {
    await nginx.peer.stop();
  }
  return rows;
}

export async function workersBench(ctx: BenchContext): Promise<BenchReport> {
  const tmp = tempDir('bench-workers');
  const seconds = knob('BENCH_WORKERS_SECONDS', ctx.quick ? 2 : 5);
  const connections = knob('BENCH_WORKERS_CONNECTIONS', 32);
  const publishers = knob('BENCH_WORKERS_PUBLISHERS', 4);
  const only = process.env.BENCH_WORKERS_ONLY;
  const loadStart = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  const notes: string[] = [];
  const rows: Row[] = [];
  const spreads: string[] = [];
  try {
    if (only !== 'rtmp') {
      if (await hasWrk()) rows.push(...(await httpRows(ctx, tmp.dir, seconds, connections)));
      else
        notes.push(
          'HTTP rows SKIPPED: `wrk` not found (Debian package `wrk`); the in-process load generator cost as much CPU as the proxy, so it is not used.',
        );
    }
    if (only !== 'http') rows.push(...(await rtmpRows(tmp.dir, seconds, publishers, spreads)));
  } finally {
    tmp.remove();
  }
  const loadEnd = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  const best = (load: string) => {
    const of = rows.filter((r) => r.load === load);
    const one = of.find((r) => r.policy === POLICIES[0]);
    if (!one) return undefined;
    const two = of.filter((r) => r.policy !== POLICIES[0]).sort((a, b) => b.rate - a.rate)[0];
    return two ? { ratio: two.rate / one.rate, policy: two.policy.short } : undefined;
  };
  // What any proxy could reach here: every process of the 1-worker run (proxy, load generator, origin) scaled up
  // together until the cores are full, at the same CPU per request. Above 1.5× only if they used < 2/3 of the cores.
  const cores = availableParallelism();
  const usedByOne = (load: string) => {
    const one = rows.find((r) => r.load === load && r.policy === POLICIES[0]);
    return one ? one.proxy.reduce((s, p) => s + p.cpu, 0) + one.loadCpu + one.originCpu : undefined;
  };
  const ceilingNotes = [...new Set(rows.map((r) => r.load))].flatMap((load) => {
    const used = usedByOne(load);
    return used ? [`${load}: ${(cores / used).toFixed(2)}× (1 worker's run used ${pct(used)}; 1.5× needs ${pct(used * 1.5)})`] : [];
  });
  const targets: Target[] = [];
  for (const load of [...new Set(rows.map((r) => r.load))].filter((l) => !l.includes('edge cache on'))) {
    const b = best(load);
    if (b)
      targets.push({
        target: `${load}: 2 workers ≥ 1.5× 1 worker`,
        measured: `${b.ratio.toFixed(2)}× (best policy: ${b.policy}; this machine's ceiling ${(cores / (usedByOne(load) ?? cores)).toFixed(2)}×)`,
        ok: ctx.quick ? undefined : b.ratio >= 1.5,
      });
  }
  // Proxy CPU per unit of work, 2 workers against 1: the part of the ratio a loaded machine does not blur.
  const perUnit = (r: Row) => r.proxy.reduce((s, p) => s + p.cpu, 0) / r.rate;
  const costNotes = [...new Set(rows.map((r) => r.load))].map((load) => {
    const of = rows.filter((r) => r.load === load);
    const one = of.find((r) => r.policy === POLICIES[0]);
    const others = of.filter((r) => r.policy !== POLICIES[0]).map((r) => `${r.policy.short} ${one ? (perUnit(r) / perUnit(one)).toFixed(2) : '?'}×`);
    return `${load}: ${others.join(', ')}`;
  });
  return {
    headers: ['load', 'origin-proxy', 'baseline (same run)', 'ratio', 'CPU (200 % = both cores)'],
    rows: rowsOf(rows),
    notes: [
      targetsLine(targets),
      ...notes,
      `Proxy CPU per request (per byte for RTMP), 2 workers relative to 1 (all processes; 2 workers can reach 1.5× only below 1.33×): ${costNotes.join('; ')}.`,
      `Ceiling on this machine (${cores} cores ÷ the CPU of every process in the 1-worker run, at unchanged cost per request): ${ceilingNotes.join('; ')}.`,
      `Load average (1, 5, 15 min): ${loadStart} at the start, ${loadEnd} at the end; ${seconds} s per measurement after a 1 s warm-up, each case on a fresh proxy.`,
      `HTTP: origin a static nginx (1 worker, access log off) serving a fixed ${fixedPlaylist().length}-byte playlist; load generator wrk -t1 -c${connections} in its own process (\`-H "Connection: close"\` for new connections; its CPU read from its parent shell's cutime/cstime).`,
      `RTMP: ${publishers} publisher processes (test/fixtures/rtmp-load.ts, unlimited rate, a ~4 Mbps FLV sent as fast as the socket takes it) through the proxy to one nginx-rtmp worker (chunk size 60000), no players; the rate is the bytes every publisher got written, summed.`,
      ...(spreads.length
        ? [
            `Spread of long-lived connections: ${SPREAD_CONNECTIONS} RTMP connections opened at once and held (after the RTMP run, same proxy), new sockets per worker: ${spreads.join('; ')}.`,
          ]
        : []),
      'Proxy CPU per process: the primary (round-robin: it accepts every connection and passes it on) then each worker; "proxy" with one worker. Origin CPU: nginx master + worker.',
    ],
  };
}
