// Benchmark: HTTP streaming through the proxy, every figure a ratio to baselines measured in the same run.
// (1) HTTP-FLV fan-out, 1 stream × 16 players at ~8 Mbps from node-media-server: through a plain Node TCP
// relay and through the proxy — CPU-seconds per GB relayed (in+out).
// (2) HLS playlist and segment requests over 16 keep-alive loops from a static nginx origin (a fixed
// playlist and a fixed ~650 kB segment, so the origin's cost is constant): direct, through a plain
// node:http keep-alive relay, and through the proxy — req/s, CPU per playlist request, CPU per GB of segments.
// Every HLS row also gives the load generator's (this process) and the origin's CPU per request in the same
// window: all three share the machine's cores, which bounds req/s ÷ direct for any relay.
// BENCH_ROUNDS=n repeats each measurement n times (figures are medians); BENCH_HTTP_ONLY=flv|hls runs one
// half; BENCH_HTTP_WORKERS=2 adds HLS rows for a proxy with PROXY_WORKERS=2 (the "all cores" deployment:
// req/s ÷ direct, CPU summed over the supervisor and its workers); BENCH_REFERENCE_PROXY is an
// optional reference proxy's command line ({port}: where it listens, {origin_host}/{origin_port}: the
// origin it forwards to), measured like the relays; without it that row is skipped with a note.
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, publish } from '../test/fixtures/media.js';
import { startNodeMediaServer } from '../test/fixtures/nms.js';
import { FIXTURES_DIST, tempDir } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer, waitForPorts, waitForTcp, type Peer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../test/fixtures/proxy.js';
import { httpLoad, type HttpLoadResult } from './lib/http-load.js';
import { makeNoisyFlv } from './lib/media.js';
import { measureCpu, measureTreeCpu } from './lib/proc.js';
import { fmt, ratio, targetsLine, type Target } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

const PLAYERS = 16;
const HLS_CONCURRENCY = 16;
export const SEGMENT_BYTES = 650 * 1024;
const BASELINE_DIST = join(FIXTURES_DIST, '..', '..', 'bench', 'baseline');

function rounds(): number {
  const n = Number(process.env.BENCH_ROUNDS ?? '1');
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The reference proxy (BENCH_REFERENCE_PROXY), listening on a free port and forwarding to the origin; undefined when not configured. */
async function startReference(originHost: string, originPort: number): Promise<{ peer: Peer; port: number } | undefined> {
  const command = process.env.BENCH_REFERENCE_PROXY;
  if (!command) return undefined;
  const port = await freePort();
  const line = command.replaceAll('{port}', String(port)).replaceAll('{origin_host}', originHost).replaceAll('{origin_port}', String(originPort));
  const peer = startPeer('reference proxy', 'sh', ['-c', `exec ${line}`]);
  await waitForTcp(port, 30_000);
  return { peer, port };
}

const REFERENCE_NOTE =
  'Reference proxy: BENCH_REFERENCE_PROXY not set, so no reference row (set it to a command line with {port}, {origin_host}, {origin_port}).';

/** `players` concurrent HTTP readers of `url` for `ms`; total bytes received. */
async function fanOut(url: string, players: number, ms: number): Promise<number> {
  let bytes = 0;
  await Promise.all(
    Array.from(
      { length: players },
      () =>
        new Promise<void>((resolve) => {
          const req = get(url, (res) => {
            res.on('data', (d: Buffer) => (bytes += d.length));
            res.on('error', () => resolve());
          });
          req.on('error', () => resolve());
          setTimeout(() => {
            req.destroy();
            resolve();
          }, ms);
        }),
    ),
  );
  return bytes;
}

/** CPU-seconds per GB crossing an intermediary (every byte a player receives crossed it twice: in and out). */
const perGb = (cpu: number, bytes: number) => cpu / ((2 * bytes) / 1e9);

async function flvFanOut(ctx: BenchContext, dir: string): Promise<{ rows: string[][]; targets: Target[]; notes: string[] }> {
  const nms = await startNodeMediaServer();
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info' } });
  const relayPort = await freePort();
  const relay = startPeer('tcp relay', process.execPath, [join(BASELINE_DIST, 'tcp-relay.js'), String(relayPort), '127.0.0.1', String(nms.httpPort)]);
  let reference: { peer: Peer; port: number } | undefined;
  let pub: Peer | undefined;
  try {
    await waitForTcp(relayPort);
    reference = await startReference('127.0.0.1', nms.httpPort);
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'nms',
      service: 's',
      pid: '1',
      rtmp: [String(nms.rtmpPort)],
      http: [String(nms.httpPort)],
    });
    pub = publish(await makeNoisyFlv(dir, { noise: 40, rate: '8M', cbr: true }), `rtmp://127.0.0.1:${nms.rtmpPort}/live/bench`);
    await eventually(async () => {
      if ((await fanOut(`http://127.0.0.1:${nms.httpPort}/live/bench.flv`, 1, 1500)) < 500_000) throw new Error('stream not flowing yet');
    }, 20_000);
    const ms = ctx.quick ? 3000 : 10_000;
    const relayRuns: { gb: number; bytes: number }[] = [];
    const proxyRuns: { gb: number; bytes: number }[] = [];
    const refRuns: { gb: number; bytes: number }[] = [];
    const directBytes: number[] = [];
    const one = async (pid: number, url: string) => {
      const r = await measureCpu(pid, () => fanOut(url, PLAYERS, ms));
      return { gb: perGb(r.cpu, r.result), bytes: r.result };
    };
    for (let i = 0; i < rounds(); i++) {
      directBytes.push(await fanOut(`http://127.0.0.1:${nms.httpPort}/live/bench.flv`, PLAYERS, ms));
      relayRuns.push(await one(relay.pid, `http://127.0.0.1:${relayPort}/live/bench.flv`));
      proxyRuns.push(await one(proxy.peer.pid, `${proxy.httpServer}/live/bench.flv`));
      if (reference) refRuns.push(await one(reference.peer.pid, `http://127.0.0.1:${reference.port}/live/bench.flv`));
    }
    const mbps = (b: number) => `${fmt((b * 8) / (ms / 1000) / 1e6 / PLAYERS, 1)} Mbps/player`;
    const relayPerGb = median(relayRuns.map((r) => r.gb));
    const proxyPerGb = median(proxyRuns.map((r) => r.gb));
    const rows = [
      ['FLV fan-out 1×16, direct', mbps(median(directBytes)), '—', '—', 'origin alone'],
      [
        'FLV fan-out 1×16, plain Node TCP relay',
        mbps(median(relayRuns.map((r) => r.bytes))),
        `${relayPerGb.toFixed(2)} CPU-s/GB`,
        '1.00×',
        'net pipe baseline',
      ],
      [
        'FLV fan-out 1×16, origin-proxy',
        mbps(median(proxyRuns.map((r) => r.bytes))),
        `${proxyPerGb.toFixed(2)} CPU-s/GB`,
        ratio(proxyPerGb, relayPerGb),
        'ratio: ÷ plain relay',
      ],
    ];
    if (reference) {
      const refPerGb = median(refRuns.map((r) => r.gb));
      rows.push([
        'FLV fan-out 1×16, reference proxy',
        mbps(median(refRuns.map((r) => r.bytes))),
        `${refPerGb.toFixed(2)} CPU-s/GB`,
        ratio(refPerGb, relayPerGb),
        'BENCH_REFERENCE_PROXY',
      ]);
    }
    const vsRelay = proxyPerGb / relayPerGb;
    return {
      rows,
      targets: [{ target: 'FLV fan-out CPU per GB ≤ 1.0× the plain Node relay', measured: `${vsRelay.toFixed(2)}×`, ok: vsRelay <= 1.0 }],
      notes: [
        'FLV: origin node-media-server (one ~8 Mbps stream published into it); CPU of the relaying process only (origin and players excluded), per GB in+out.',
      ],
    };
  } finally {
    await pub?.stop();
    await reference?.peer.stop();
    await relay.stop();
    await proxy.stop();
    await nms.stop();
  }
}

/** nginx serving fixed files from `root` (no RTMP, no logging): an origin whose cost per request is constant. */
export async function startStaticNginx(root: string): Promise<{ peer: Peer; port: number }> {
  const port = await freePort();
  for (const sub of ['logs', 'tmp']) mkdirSync(join(root, sub), { recursive: true });
  const conf = `
worker_processes 1; pid ${root}/logs/nginx.pid; error_log ${root}/logs/error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60s; sendfile on; tcp_nopush on;
  client_body_temp_path ${root}/tmp/body; proxy_temp_path ${root}/tmp/proxy; fastcgi_temp_path ${root}/tmp/fastcgi;
  uwsgi_temp_path ${root}/tmp/uwsgi; scgi_temp_path ${root}/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server { listen 127.0.0.1:${port}; location /live/ { alias ${root}/www/; add_header Cache-Control no-cache; } } }
`;
  writeFileSync(join(root, 'nginx.conf'), conf);
  const peer = startPeer('nginx static', 'nginx', ['-p', root, '-c', join(root, 'nginx.conf'), '-e', join(root, 'logs', 'error.log'), '-g', 'daemon off;']);
  await waitForPorts(peer, [port]);
  return { peer, port };
}

/**
 * The static HLS origin of the HTTP benchmarks: `fixedPlaylist()` and its five segments (one random
 * SEGMENT_BYTES body) under `<dir>/static/www`, served by `startStaticNginx` at /live/.
 */
export async function startStaticHls(dir: string): Promise<{ peer: Peer; port: number }> {
  const www = join(dir, 'static', 'www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'bench.m3u8'), fixedPlaylist());
  const segment = randomBytes(SEGMENT_BYTES);
  for (let i = 100; i < 105; i++) writeFileSync(join(www, `bench-${i}.ts`), segment);
  // As root nginx's worker runs as nobody and must reach the files.
  for (const d of [dir, join(dir, 'static'), www]) chmodSync(d, 0o755);
  return startStaticNginx(join(dir, 'static'));
}

/** A live playlist of five 2 s segments, as an origin serves it (about 300 bytes). */
export function fixedPlaylist(): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-MEDIA-SEQUENCE:100', '#EXT-X-TARGETDURATION:2'];
  for (let i = 100; i < 105; i++) lines.push('#EXTINF:2.000,', `bench-${i}.ts`);
  return `${lines.join('\n')}\n`;
}

interface Measured {
  load: HttpLoadResult;
  /** CPU seconds of the relaying processes (a proxy's supervisor and workers summed); NaN for direct. */
  cpu: number;
  /** CPU seconds of the load generator (this process) and of the origin (nginx master and worker). */
  loadGen: number;
  origin: number;
}

/** BENCH_HTTP_WORKERS=n (n ≥ 2): rows for a proxy with PROXY_WORKERS=n too; 0 = none. */
function workersRows(): number {
  const n = Number(process.env.BENCH_HTTP_WORKERS ?? '0');
  return Number.isInteger(n) && n >= 2 ? n : 0;
}

async function hlsRequests(ctx: BenchContext, dir: string): Promise<{ rows: string[][]; targets: Target[]; notes: string[] }> {
  const nginx = await startStaticHls(dir);
  // The targets are for the request path itself: no edge cache (hls-cache.bench.ts measures the cache).
  const proxy: RunningProxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_HLS_CACHE_MAX: '0' } });
  const workers = workersRows();
  let multi: RunningProxy | undefined;
  const relayPort = await freePort();
  const relay = startPeer('http relay', process.execPath, [join(BASELINE_DIST, 'http-relay.js'), String(relayPort), '127.0.0.1', String(nginx.port)]);
  let reference: { peer: Peer; port: number } | undefined;
  try {
    await waitForTcp(relayPort);
    reference = await startReference('127.0.0.1', nginx.port);
    if (workers) multi = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_HLS_CACHE_MAX: '0', PROXY_WORKERS: String(workers) } });
    // Active probes connect to the origin's RTMP port: nginx's own port stands in for it, so the origin stays
    // up (with a closed port it went down after two probes and every request took the down-origin path).
    const origin = { ip: '127.0.0.1', server: 'ng', service: 's', pid: '1', rtmp: [String(nginx.port)], http: [String(nginx.port)] };
    const segmentPath = async (p: RunningProxy) => {
      await registerOrigin(p.systemApi, origin);
      const proxied = await (await fetch(`${p.httpServer}/live/bench.m3u8`)).text();
      const segmentLine = proxied.split('\n').find((l) => l.startsWith('bench-104.ts'));
      if (!segmentLine) throw new Error(`the proxy did not answer the playlist: ${proxied.slice(0, 200)}`);
      return `/live/${segmentLine.trim()}`;
    };
    const durationMs = ctx.quick ? 1500 : 5000;
    const load = (origin: string, path: string) => httpLoad({ origin, concurrency: HLS_CONCURRENCY, durationMs, request: () => ({ path, method: 'GET' }) });
    const measure = async (pid: number | undefined, origin: string, path: string): Promise<Measured> => {
      // The origin's CPU is read around the relaying processes' measurement (both trees at once).
      const o = await measureTreeCpu(nginx.peer.pid, async () =>
        pid === undefined ? { result: await load(origin, path), cpu: NaN, self: 0 } : measureTreeCpu(pid, () => load(origin, path)),
      );
      return { load: o.result.result, cpu: o.result.cpu, loadGen: o.self, origin: o.cpu };
    };
    const direct = `http://127.0.0.1:${nginx.port}`;
    const relayUrl = `http://127.0.0.1:${relayPort}`;
    type Who = 'direct' | 'relay' | 'proxy' | 'workers' | 'reference';
    const runs: Record<string, Measured[]> = {};
    const add = (k: string, m: Measured) => (runs[k] ??= []).push(m);
    const who: [Who, number | undefined, string, string][] = [
      ['direct', undefined, direct, '/live/bench-104.ts'],
      ['relay', relay.pid, relayUrl, '/live/bench-104.ts'],
      ['proxy', proxy.peer.pid, proxy.httpServer, await segmentPath(proxy)],
    ];
    if (multi) who.push(['workers', multi.peer.pid, multi.httpServer, await segmentPath(multi)]);
    if (reference) who.push(['reference', reference.peer.pid, `http://127.0.0.1:${reference.port}`, '/live/bench-104.ts']);
    for (let i = 0; i < rounds(); i++) {
      for (const [name, pid, origin] of who) add(`playlist ${name}`, await measure(pid, origin, '/live/bench.m3u8'));
      for (const [name, pid, origin, path] of who) add(`segment ${name}`, await measure(pid, origin, path));
    }
    const rate = (k: string) => median(runs[k]!.map((m) => m.load.perSecond));
    const msPerRequest = (k: string) => median(runs[k]!.map((m) => (m.cpu * 1000) / m.load.requests));
    const segPerGb = (k: string) => median(runs[k]!.map((m) => perGb(m.cpu, m.load.bytes)));
    const p50 = (k: string) => median(runs[k]!.map((m) => m.load.latency.p50)).toFixed(2);
    const errors = (k: string) => runs[k]!.reduce((n, m) => n + m.load.errors, 0);
    // The other two users of the 2 cores, per request, so the ceiling on req/s can be argued from this run.
    const others = (k: string) => {
      const gen = median(runs[k]!.map((m) => (m.loadGen * 1000) / m.load.requests));
      const orig = median(runs[k]!.map((m) => (m.origin * 1000) / m.load.requests));
      return `load gen ${gen.toFixed(3)}, origin ${orig.toFixed(3)} ms CPU/req`;
    };
    const rows: string[][] = [];
    const names = who.map((w) => w[0]).filter((n) => n !== 'direct');
    const label: Record<Who, string> = {
      direct: 'direct',
      relay: 'plain Node HTTP relay',
      proxy: 'origin-proxy',
      workers: `origin-proxy, PROXY_WORKERS=${workers}`,
      reference: 'reference proxy',
    };
    rows.push([
      'HLS playlist, 16 conns, direct',
      `${fmt(rate('playlist direct'))} req/s`,
      '—',
      '1.00×',
      `p50 ${p50('playlist direct')} ms; errors ${errors('playlist direct')}; ${others('playlist direct')}`,
    ]);
    for (const n of names) {
      const k = `playlist ${n}`;
      rows.push([
        `HLS playlist, 16 conns, ${label[n]}`,
        `${fmt(rate(k))} req/s`,
        `${msPerRequest(k).toFixed(3)} ms CPU/req (${ratio(msPerRequest(k), msPerRequest('playlist relay'))} relay)`,
        ratio(rate(k), rate('playlist direct')),
        `p50 ${p50(k)} ms; errors ${errors(k)}; ${others(k)}`,
      ]);
    }
    rows.push([
      'HLS segment (650 kB), 16 conns, direct',
      `${fmt(rate('segment direct'))} req/s`,
      '—',
      '1.00×',
      `p50 ${p50('segment direct')} ms; errors ${errors('segment direct')}; ${others('segment direct')}`,
    ]);
    for (const n of names) {
      const k = `segment ${n}`;
      rows.push([
        `HLS segment (650 kB), 16 conns, ${label[n]}`,
        `${fmt(rate(k))} req/s`,
        `${segPerGb(k).toFixed(2)} CPU-s/GB (${ratio(segPerGb(k), segPerGb('segment relay'))} relay); ${msPerRequest(k).toFixed(3)} ms CPU/req`,
        ratio(rate(k), rate('segment direct')),
        `p50 ${p50(k)} ms; errors ${errors(k)}; ${others(k)}`,
      ]);
    }
    const plCpu = msPerRequest('playlist proxy') / msPerRequest('playlist relay');
    const plRate = rate('playlist proxy') / rate('playlist direct');
    const segRate = rate('segment proxy') / rate('segment direct');
    const segCpu = segPerGb('segment proxy') / segPerGb('segment relay');
    const relayPl = rate('playlist relay') / rate('playlist direct');
    const relaySeg = rate('segment relay') / rate('segment direct');
    const targets: Target[] = [
      { target: 'HLS playlist CPU per request ≤ 1.2× the plain relay', measured: `${plCpu.toFixed(2)}×`, ok: plCpu <= 1.2 },
      { target: 'HLS playlist req/s ≥ 0.6× direct', measured: `${plRate.toFixed(2)}× (plain relay ${relayPl.toFixed(2)}×)`, ok: plRate >= 0.6 },
      { target: 'HLS segment req/s ≥ 0.75× direct', measured: `${segRate.toFixed(2)}× (plain relay ${relaySeg.toFixed(2)}×)`, ok: segRate >= 0.75 },
      { target: 'HLS segment CPU per GB ≤ 1.0× the plain relay', measured: `${segCpu.toFixed(2)}×`, ok: segCpu <= 1.0 },
    ];
    if (workers) {
      const wPl = rate('playlist workers') / rate('playlist direct');
      const wSeg = rate('segment workers') / rate('segment direct');
      targets.push(
        { target: `HLS playlist req/s ≥ 0.6× direct with PROXY_WORKERS=${workers}`, measured: `${wPl.toFixed(2)}×`, ok: wPl >= 0.6 },
        { target: `HLS segment req/s ≥ 0.75× direct with PROXY_WORKERS=${workers}`, measured: `${wSeg.toFixed(2)}×`, ok: wSeg >= 0.75 },
      );
    }
    return {
      rows,
      targets,
      notes: [
        `HLS: origin a static nginx (1 worker, access log off) serving a fixed ${fixedPlaylist().length}-byte playlist and a fixed ${SEGMENT_BYTES / 1024} kB segment; the proxy's playlist answer is rewritten with the session parameter, segment requests carry it. No edge cache.`,
        "HLS: 16 keep-alive loops (one undici Pool in the bench process), every body read to its end; CPU is the relaying process only (with PROXY_WORKERS: supervisor and workers summed); segment CPU per GB counts in+out. Origin, relay/proxy and load generator share the 2 cores, so req/s ÷ direct is bounded by the load generator and the relay process competing for them: each row's notes give the load generator's (this process) and the origin's (nginx master + worker) CPU per request in the same window.",
        workers
          ? `HLS: BENCH_HTTP_WORKERS=${workers}: the origin-proxy rows are repeated for a proxy running PROXY_WORKERS=${workers} (the "all cores" deployment), measured in the same rounds.`
          : 'HLS: BENCH_HTTP_WORKERS=2 adds rows for a proxy running PROXY_WORKERS=2 (not set: no such rows).',
        'HLS: the proxy reaches the origin through its own HTTP/1.1 client (src/net/origin-client.ts). On a loaded machine compare two builds with bench/hls-ab.ts (both proxies and the relay side by side, 1 s windows rotated), not with separate runs.',
      ],
    };
  } finally {
    await reference?.peer.stop();
    await relay.stop();
    await multi?.stop();
    await proxy.stop();
    await nginx.peer.stop();
  }
}

export async function httpBench(ctx: BenchContext): Promise<BenchReport> {
  const dir = tempDir('bench-http');
  try {
    // BENCH_HTTP_ONLY=flv or =hls runs one half (for quick comparisons); the default runs both.
    const only = process.env.BENCH_HTTP_ONLY ?? '';
    const none = { rows: [], targets: [], notes: [] };
    const flv = only === 'hls' ? none : await flvFanOut(ctx, dir.dir);
    const hls = only === 'flv' ? none : await hlsRequests(ctx, dir.dir);
    return {
      headers: ['load', 'delivered / rate', 'cost', 'ratio (FLV: ÷ relay CPU; HLS: ÷ direct req/s)', 'notes'],
      rows: [...flv.rows, ...hls.rows],
      notes: [
        targetsLine([...flv.targets, ...hls.targets]),
        ...flv.notes,
        ...hls.notes,
        `Medians of ${rounds()} round(s) (BENCH_ROUNDS).`,
        ...(process.env.BENCH_REFERENCE_PROXY ? [] : [REFERENCE_NOTE]),
      ],
    };
  } finally {
    dir.remove();
  }
}
