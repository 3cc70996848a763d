// Benchmark: the proxy's footprint, each figure against baselines in the same run.
// 1. RSS of an idle proxy (default configuration, every listener open, no client) against a plain Node process
//    that does nothing, with and without --max-semi-space-size=1 (what `npm start` and the image use), and the
//    number of CommonJS files it loaded (test/fixtures/module-probe.ts).
// 2. 2,000 idle RTMP players (connect, play, hold; 50 at a time) against nginx-rtmp: the time to open them all
//    and the RSS of the process in the middle, three ways — direct, through a plain Node TCP relay
//    (bench/baseline/tcp-relay.ts) and through a fresh proxy — alternated over rounds, medians reported.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { byPackage, type ModuleSnapshot } from '../test/fixtures/module-probe.js';
import { freePort } from '../test/fixtures/ports.js';
import { FIXTURES_DIST, REPO_ROOT, tempDir } from '../test/fixtures/paths.js';
import { startPeer, waitForTcp, type Peer } from '../test/fixtures/process.js';
import { startHeartbeat } from '../test/fixtures/heartbeat.js';
import { startProxy } from '../test/fixtures/proxy.js';
import { makeNoisyFlv } from './lib/media.js';
import { rssBytes } from './lib/proc.js';
import { targetsLine } from './lib/stats.js';
import { registered, startBenchNginx } from './rtmp.bench.js';
import type { BenchContext, BenchReport } from './run.js';

const LOAD = join(FIXTURES_DIST, 'rtmp-load.js');
const RELAY = join(REPO_ROOT, 'dist', 'bench', 'baseline', 'tcp-relay.js');
const PROBE = pathToFileURL(join(FIXTURES_DIST, 'module-probe.js')).href;
const SEMI = '--max-semi-space-size=1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (b: number) => (b / 1048576).toFixed(1);
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** RSS of an idle proxy 3 s after it started, and the CommonJS files it loaded. */
async function idleProxy(dir: string, nodeOptions: string, i: number): Promise<{ rss: number; files: number; packages: Map<string, number> }> {
  const file = join(dir, `modules-${i}.json`);
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', NODE_OPTIONS: `${nodeOptions} --import ${PROBE}`.trim(), MODULE_PROBE_FILE: file } });
  try {
    await sleep(3000);
    const rss = rssBytes(proxy.peer.pid!);
    const snap = JSON.parse(readFileSync(file, 'utf8')) as ModuleSnapshot;
    return { rss, files: snap.files.length, packages: byPackage(snap.files) };
  } finally {
    await proxy.stop();
  }
}

/** RSS of a plain Node process that does nothing, 3 s after it started. */
async function idleNode(nodeOptions: string[]): Promise<number> {
  const peer = startPeer('plain node', process.execPath, [...nodeOptions, '-e', "process.stdout.write('ready\\n'); setInterval(() => {}, 1e9)"]);
  try {
    await peer.waitForOutput(/ready/, 10_000);
    await sleep(3000);
    return rssBytes(peer.pid!);
  } finally {
    await peer.stop();
  }
}

/** Opens `n` idle players at `base`; the load generator's time to open them all, and `pid`'s RSS then. */
async function openPlayers(base: string, pid: number | undefined, n: number): Promise<{ ms: number; rss: number; before: number }> {
  const before = pid ? rssBytes(pid) : NaN;
  const peer = startPeer('idle players', process.execPath, [LOAD, 'idle', `${base}/idle`, String(n)]);
  const m = await peer.waitForOutput(/"role":"idle".*"ms":(\d+)/, 300_000);
  await sleep(1000);
  const rss = pid ? rssBytes(pid) : NaN;
  await peer.stop();
  return { ms: Number(m[1]), rss, before };
}

export async function footprintBench(ctx: BenchContext): Promise<BenchReport> {
  const tmp = tempDir('footprint-bench');
  const peers: Peer[] = [];
  try {
    const rounds = ctx.quick ? 1 : 3;
    const plain: number[] = [];
    const plainSemi: number[] = [];
    const proxyIdle: number[] = [];
    const proxySemi: number[] = [];
    let modules = { files: 0, packages: new Map<string, number>() };
    for (let r = 0; r < rounds; r++) {
      plain.push(await idleNode([]));
      plainSemi.push(await idleNode([SEMI]));
      const d = await idleProxy(tmp.dir, '', 2 * r);
      proxyIdle.push(d.rss);
      modules = d;
      proxySemi.push((await idleProxy(tmp.dir, SEMI, 2 * r + 1)).rss);
    }

    const players = ctx.quick ? 300 : 2000;
    const flv = await makeNoisyFlv(tmp.dir, { noise: 12, rate: '4M', cbr: false });
    const nginx = await startBenchNginx(tmp.dir, 60000);
    peers.push(nginx.peer);
    const hold = startPeer('idle publisher', process.execPath, [LOAD, 'publish', `rtmp://127.0.0.1:${nginx.port}/live/idle`, flv, 'hold', '3600']);
    peers.push(hold);
    await hold.waitForOutput(/ready/, 20_000);

    type Way = 'direct' | 'relay' | 'proxy' | 'proxy (semi 1)';
    const ways: Way[] = ['direct', 'relay', 'proxy', 'proxy (semi 1)'];
    const times = new Map<Way, number[]>(ways.map((w) => [w, []]));
    const rss = new Map<Way, number[]>(ways.map((w) => [w, []]));
    const warmRounds = ctx.quick ? 1 : 2;
    for (let r = 0; r < warmRounds; r++) {
      for (const way of ways) {
        let base = `rtmp://127.0.0.1:${nginx.port}/live`;
        let pid: number | undefined;
        let stop = async () => {};
        if (way === 'relay') {
          const port = await freePort();
          const relay = startPeer('tcp relay', process.execPath, [RELAY, String(port), '127.0.0.1', String(nginx.port)]);
          peers.push(relay);
          await waitForTcp(port);
          base = `rtmp://127.0.0.1:${port}/live`;
          pid = relay.pid;
          stop = () => relay.stop();
        } else if (way !== 'direct') {
          const proxy = await startProxy({
            env: { PROXY_LOG_LEVEL: 'info', PROXY_IDLE_TIMEOUT: '10m', ...(way === 'proxy (semi 1)' ? { NODE_OPTIONS: SEMI } : {}) },
          });
          peers.push(proxy.peer);
          const beat = startHeartbeat({ systemApi: proxy.systemApi, rtmp: nginx.port, server: 'bench-nginx' });
          peers.push(beat);
          await registered(proxy.systemApi);
          await beat.stop();
          base = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
          pid = proxy.peer.pid;
          stop = () => proxy.stop();
        }
        await sleep(500);
        const o = await openPlayers(base, pid, players);
        times.get(way)!.push(o.ms);
        rss.get(way)!.push(o.rss);
        await stop();
        await sleep(1000);
      }
    }
    await hold.stop();

    const t = (w: Way) => median(times.get(w)!);
    const rs = (w: Way) => median(rss.get(w)!);
    const pIdle = median(proxyIdle);
    const pSemi = median(proxySemi);
    const rows: string[][] = [
      [
        'idle process RSS, default configuration (every listener, no client)',
        `${mb(pIdle)} MB`,
        `${mb(median(plain))} MB (plain node)`,
        `+${mb(pIdle - median(plain))} MB`,
      ],
      ['idle process RSS with --max-semi-space-size=1', `${mb(pSemi)} MB`, `${mb(median(plainSemi))} MB (plain node)`, `+${mb(pSemi - median(plainSemi))} MB`],
      [
        'CommonJS files loaded by the idle proxy',
        `${modules.files}`,
        '',
        [...modules.packages.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      ],
      [
        `${players} idle RTMP players: time to open them all`,
        `${Math.round(t('proxy'))} ms`,
        `${Math.round(t('direct'))} ms direct; ${Math.round(t('relay'))} ms plain relay`,
        `${(t('proxy') / t('direct')).toFixed(2)}× direct (relay ${(t('relay') / t('direct')).toFixed(2)}×)`,
      ],
      [`… with --max-semi-space-size=1`, `${Math.round(t('proxy (semi 1)'))} ms`, '', `${(t('proxy (semi 1)') / t('direct')).toFixed(2)}× direct`],
      [
        `RSS with ${players} idle players`,
        `${mb(rs('proxy'))} MB (semi 1: ${mb(rs('proxy (semi 1)'))} MB)`,
        `${mb(rs('relay'))} MB plain relay`,
        `${(rs('proxy') / rs('relay')).toFixed(2)}× relay`,
      ],
    ];
    const idleTarget = Math.min(pIdle, pSemi);
    return {
      headers: ['measure', 'origin-proxy', 'baseline (same run)', 'ratio / detail'],
      rows,
      notes: [
        `Medians of ${rounds} idle starts and of ${warmRounds} rounds of the player load (direct, relay, proxy, proxy with semi space 1 in turn, each relay/proxy a fresh process). nginx-rtmp origin, one publisher holding the stream; players opened 50 at a time by test/fixtures/rtmp-load.ts idle. The machine is shared with other work (other helpers' builds and benchmarks): times are noisy.`,
        targetsLine([
          {
            target: 'idle RSS ≤ 60 MB (as shipped: npm start / image use --max-semi-space-size=1)',
            measured: `${mb(idleTarget)} MB`,
            ok: ctx.quick ? undefined : idleTarget <= 60 * 1048576,
          },
          {
            target: `${players} RTMP accepts ≤ 1.3× direct`,
            measured: `${(t('proxy (semi 1)') / t('direct')).toFixed(2)}× (default heap: ${(t('proxy') / t('direct')).toFixed(2)}×)`,
            ok: ctx.quick ? undefined : t('proxy (semi 1)') / t('direct') <= 1.3,
          },
        ]),
      ],
    };
  } finally {
    for (const p of peers.reverse()) await p.stop();
    tmp.remove();
  }
}
