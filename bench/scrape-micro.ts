// Micro-benchmark (not part of `npm run bench`): the CPU and the garbage of one `GET /metrics` on an idle proxy,
// to compare builds in one sitting on a loaded machine. Each build runs as a real proxy (`node <main.js>`, all
// listeners on loopback, no clients, no origins). CPU: the proxy's scheduler run time over every thread
// (/proc/<pid>/task/*/schedstat, ns) in windows of N scrapes against unscraped windows of the same length beside
// them, the builds' windows interleaved ABBA so the machine's load hits each alike; the median over rounds is given,
// with the main thread and the other threads apart. Garbage: a second proxy per build with a 64 MB young
// generation (no scavenge for hundreds of scrapes), read from the page's own nodejs_heap_size_used_bytes between
// back-to-back scrapes (median of the positive differences: a difference spanning a GC is dropped).
//
// Usage: node dist/bench/scrape-micro.js [--rounds 8] [--scrapes 60] [--rate 20] [--path /metrics] [main.js ...]
//   (default: this build's dist/src/main.js; give two or more to compare builds, e.g. an old checkout's).
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { request, Agent } from 'node:http';
import { MAIN_JS } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer, stopAllPeers, type Peer } from '../test/fixtures/process.js';
import { median } from './lib/stats.js';

interface Options {
  rounds: number;
  scrapes: number;
  rate: number;
  path: string;
  builds: string[];
}

function options(argv: string[]): Options {
  const o: Options = { rounds: 8, scrapes: 60, rate: 20, path: '/metrics', builds: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--scrapes') o.scrapes = Number(value());
    else if (a === '--rate') o.rate = Number(value());
    else if (a === '--path') o.path = value();
    else o.builds.push(resolve(a));
  }
  if (o.builds.length === 0) o.builds.push(MAIN_JS);
  for (const n of [o.rounds, o.scrapes, o.rate]) if (!(n > 0)) throw new Error('--rounds, --scrapes and --rate take positive numbers');
  return o;
}

interface Proxy {
  peer: Peer;
  port: number;
}

async function startProxy(mainJs: string, nodeArgs: string[]): Promise<Proxy> {
  const port = await freePort();
  const listeners = ['RTMP_SERVER', 'HTTP_SERVER', 'HTTP_API', 'WEBRTC_SERVER', 'SRT_SERVER', 'RTSP_SERVER'];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    PROXY_SYSTEM_API: `127.0.0.1:${port}`,
    PROXY_LOG_LEVEL: 'info',
    PROXY_LOG_FORMAT: 'json',
  };
  for (const l of listeners) env[`PROXY_${l}`] = `127.0.0.1:${await freePort()}`;
  const peer = startPeer(`proxy ${mainJs}`, process.execPath, [...nodeArgs, mainJs], { env });
  await peer.waitForOutput(/origin-proxy started/, 60_000);
  return { peer, port };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, path: string): Promise<string> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? done(body) : fail(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200)}`))));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

/** Run time (ns) of each thread of `pid` so far, by thread id. */
function threadNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

interface Cpu {
  total: number;
  main: number;
}

/** CPU ms of every thread and of the main thread between two readings (a thread born in between counts whole). */
function cpuBetween(pid: number, a: Map<string, number>, b: Map<string, number>): Cpu {
  let total = 0;
  for (const [tid, ns] of b) total += ns - (a.get(tid) ?? 0);
  const main = (b.get(String(pid)) ?? 0) - (a.get(String(pid)) ?? 0);
  return { total: total / 1e6, main: main / 1e6 };
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

/** One window of `ms`; when `scrapes` > 0 they are spread evenly inside it. */
async function window(p: Proxy, path: string, ms: number, scrapes: number): Promise<Cpu> {
  const t0 = performance.now();
  const a = threadNs(p.peer.pid);
  for (let k = 0; k < scrapes; k++) {
    await sleepUntil(t0 + ((k + 0.5) * ms) / scrapes);
    await get(p.port, path);
  }
  await sleepUntil(t0 + ms);
  return cpuBetween(p.peer.pid, a, threadNs(p.peer.pid));
}

function heapUsed(page: string): number {
  const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(page);
  if (!m) throw new Error('no nodejs_heap_size_used_bytes on the page');
  return Number(m[1]);
}

/** KiB a scrape allocates, from the heap used between back-to-back scrapes of a proxy whose young generation is large. */
async function garbagePerScrape(mainJs: string, path: string): Promise<{ kib: number; kept: number; pageBytes: number }> {
  const p = await startProxy(mainJs, ['--min-semi-space-size=64', '--max-semi-space-size=64']);
  try {
    for (let i = 0; i < 40; i++) await get(p.port, path); // JIT and lazy initialisation
    const used: number[] = [];
    let pageBytes = 0;
    for (let i = 0; i < 61; i++) {
      // Other requests (e.g. /healthz) are measured as what lies between two scrapes of /metrics.
      if (path !== '/metrics') await get(p.port, path);
      const page = await get(p.port, '/metrics');
      pageBytes = Buffer.byteLength(page);
      used.push(heapUsed(page));
      await new Promise((r) => setTimeout(r, 5));
    }
    const diffs = used.slice(1).map((u, i) => u - used[i]!);
    const positive = diffs.filter((d) => d > 0);
    return { kib: median(positive) / 1024, kept: positive.length, pageBytes };
  } finally {
    await p.peer.stop();
  }
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const loadStart = loadavg().map((x) => x.toFixed(1));
  console.log(`scrape-micro: ${o.rounds} rounds × ${o.scrapes} scrapes of ${o.path} at ${o.rate}/s per build; load ${loadStart.join(' ')}`);
  const proxies: Proxy[] = [];
  try {
    for (const b of o.builds) proxies.push(await startProxy(b, ['--max-semi-space-size=1']));
    for (const p of proxies) for (let i = 0; i < 300; i++) await get(p.port, o.path); // warm-up (the JIT goes on compiling for hundreds of scrapes)
    const ms = (o.scrapes / o.rate) * 1000;
    const perScrape: number[][] = o.builds.map(() => []);
    const perScrapeMain: number[][] = o.builds.map(() => []);
    for (let r = 0; r < o.rounds; r++) {
      // ABBA over builds and over scraped/unscraped within a build.
      const order = r % 2 === 0 ? proxies.map((_, i) => i) : proxies.map((_, i) => proxies.length - 1 - i);
      for (const i of order) {
        const p = proxies[i]!;
        const scrapedFirst = (r + i) % 2 === 1;
        const first = await window(p, o.path, ms, scrapedFirst ? o.scrapes : 0);
        const second = await window(p, o.path, ms, scrapedFirst ? 0 : o.scrapes);
        const [on, off] = scrapedFirst ? [first, second] : [second, first];
        perScrape[i]!.push((on.total - off.total) / o.scrapes);
        perScrapeMain[i]!.push((on.main - off.main) / o.scrapes);
      }
    }
    for (const p of proxies) await p.peer.stop();
    for (let i = 0; i < o.builds.length; i++) {
      const g = await garbagePerScrape(o.builds[i]!, o.path);
      const all = perScrape[i]!;
      const mainMs = median(perScrapeMain[i]!);
      console.log(
        [
          `${o.builds[i]}:`,
          `  CPU per request: median ${median(all).toFixed(3)} ms (main thread ${mainMs.toFixed(3)} ms, other threads ${(median(all) - mainMs).toFixed(3)} ms)`,
          `  rounds: ${all.map((x) => x.toFixed(2)).join(', ')}`,
          `  garbage per request: ${g.kib.toFixed(1)} KiB (median of ${g.kept} clean differences); /metrics page ${(g.pageBytes / 1024).toFixed(1)} KiB`,
        ].join('\n'),
      );
    }
    console.log(
      `load ${loadStart.join(' ')} at the start, ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} at the end`,
    );
  } finally {
    agent.destroy();
    await stopAllPeers();
  }
}

await main();
