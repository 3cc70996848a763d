// Benchmark: what Prometheus scraping costs the proxy. (1) Proxy CPU while /metrics is scraped once a
// second, with many idle RTMP players relayed to nginx-rtmp (each is two sockets in the proxy: the
// RLIMIT_NOFILE of 20,000 here caps them at about 9,000), against the same windows without scraping,
// alternated in one run. (2) RTMP relay CPU per GB (one publisher paced at 10× real time, four players)
// with a scrape every second against none, alternated in the same run. CPU is read from /proc for the
// proxy process only; the scraper and the load generators run elsewhere.
import { join } from 'node:path';
import { FIXTURES_DIST, tempDir } from '../test/fixtures/paths.js';
import { startPeer, type Peer } from '../test/fixtures/process.js';
import { startHeartbeat } from '../test/fixtures/heartbeat.js';
import { startProxy } from '../test/fixtures/proxy.js';
import { cpuSeconds, rssBytes } from './lib/proc.js';
import { fmt, summarize, targetsLine } from './lib/stats.js';
import { makeNoisyFlv } from './lib/media.js';
import { flow, registered, startBenchNginx, type FlowResult } from './rtmp.bench.js';
import type { BenchContext, BenchReport } from './run.js';

const LOAD = join(FIXTURES_DIST, 'rtmp-load.js');

/** Scrapes `url` once a second until stopped; the time and size of every scrape. */
function scraper(url: string): { stop: () => Promise<{ ms: number[]; bytes: number }> } {
  const ms: number[] = [];
  let bytes = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const res = await fetch(url);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`scrape: ${res.status} ${text.slice(0, 200)}`);
      ms.push(performance.now() - t0);
      bytes = text.length;
      const wait = 1000 - (performance.now() - t0);
      if (running && wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { ms, bytes };
    },
  };
}

/** Proxy CPU seconds over `seconds`, with or without a scrape every second. */
async function window(pid: number, url: string, seconds: number, scrape: boolean): Promise<{ cpu: number; scrapes: number[]; bytes: number }> {
  const s = scrape ? scraper(url) : undefined;
  const c0 = cpuSeconds(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = cpuSeconds(pid) - c0;
  const r = s ? await s.stop() : { ms: [], bytes: 0 };
  return { cpu, scrapes: r.ms, bytes: r.bytes };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const perGb = (r: FlowResult) => r.cpu / ((r.bytesIn + r.bytesOut) / 1e9);

export async function metricsBench(ctx: BenchContext): Promise<BenchReport> {
  const tmp = tempDir('metrics-bench');
  const peers: Peer[] = [];
  try {
    const flv = await makeNoisyFlv(tmp.dir, { noise: 12, rate: '4M', cbr: false }); // the rtmp bench's media
    const nginx = await startBenchNginx(tmp.dir, 60000);
    peers.push(nginx.peer);
    const proxy = await startProxy({
      env: { PROXY_LOG_LEVEL: 'info', PROXY_IDLE_TIMEOUT: '10m', PROXY_MAX_CONNECTIONS_PER_IP: '100000', PROXY_MAX_CONNECTIONS: '100000' },
    });
    peers.push(proxy.peer);
    peers.push(startHeartbeat({ systemApi: proxy.systemApi, rtmp: nginx.port, server: 'bench-nginx' }));
    await registered(proxy.systemApi);
    const url = `${proxy.systemApi}/metrics`;
    const pid = proxy.peer.pid;

    // The idle players' stream, published straight to nginx; players join it through the proxy.
    const hold = startPeer('idle publisher', process.execPath, [LOAD, 'publish', `rtmp://127.0.0.1:${nginx.port}/live/idle`, flv, 'hold', '900']);
    peers.push(hold);
    await hold.waitForOutput(/ready/, 20_000);
    const players = ctx.quick ? 300 : 9000;
    const rss0 = rssBytes(pid);
    const idle = startPeer('idle players', process.execPath, [LOAD, 'idle', `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/idle`, String(players)]);
    peers.push(idle);
    await idle.waitForOutput(/"role":"idle"/, 600_000);
    const rssPlayers = rssBytes(pid) - rss0;

    // (1) Scrape cost: windows alternated, off first.
    const seconds = ctx.quick ? 4 : 20;
    const rounds = ctx.quick ? 1 : 3;
    await window(pid, url, 2, true); // warm-up (JIT of the scrape path)
    const off: number[] = [];
    const on: number[] = [];
    const scrapeMs: number[] = [];
    let pageBytes = 0;
    for (let r = 0; r < rounds; r++) {
      off.push((await window(pid, url, seconds, false)).cpu);
      const w = await window(pid, url, seconds, true);
      on.push(w.cpu);
      scrapeMs.push(...w.scrapes);
      pageBytes = w.bytes;
    }
    const costShare = (mean(on) - mean(off)) / seconds; // core-seconds per second
    const perScrapeMs = ((mean(on) - mean(off)) / seconds) * 1000; // one scrape a second
    const sm = summarize(scrapeMs);

    // (2) Relay CPU per GB, scraped vs not, alternated.
    const flowSeconds = ctx.quick ? 3 : 10;
    const base = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
    await flow(base, undefined, flv, 1, 1, 'x10', 2, 'warm');
    const gbOff: number[] = [];
    const gbOn: number[] = [];
    let mbOut = 0;
    const flowRounds = ctx.quick ? 1 : 5;
    for (let r = 0; r < flowRounds; r++) {
      const a = await flow(base, pid, flv, 1, 4, 'x10', flowSeconds, `off${r}-`);
      gbOff.push(perGb(a));
      const s = scraper(url);
      const b = await flow(base, pid, flv, 1, 4, 'x10', flowSeconds, `on${r}-`);
      await s.stop();
      gbOn.push(perGb(b));
      mbOut = b.bytesOut / b.seconds / 1e6;
    }
    const relayRatio = mean(gbOn) / mean(gbOff);
    // Each scraped window beside the unscraped one just before it: neighbours' load drifts less within a pair.
    const paired = gbOn.map((x, i) => x / gbOff[i]!).sort((a, b) => a - b);
    const pairedMedian = paired[Math.floor(paired.length / 2)]!;
    const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / mean(xs);
    await idle.stop();

    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    return {
      headers: ['Measure', 'Scraped every second', 'Not scraped', 'Difference'],
      rows: [
        [
          `proxy CPU with ${fmt(players)} idle RTMP players relayed (core share, mean of ${rounds} × ${seconds} s)`,
          pct(mean(on) / seconds),
          pct(mean(off) / seconds),
          `${pct(costShare)} of a core (${fmt(perScrapeMs, 1)} ms CPU per scrape)`,
        ],
        [
          `RTMP relay CPU per GB (1 publisher at 10× real time, 4 players, ~${fmt(mbOut, 0)} MB/s out; mean of ${flowRounds} × ${flowSeconds} s)`,
          `${fmt(mean(gbOn), 2)} s/GB`,
          `${fmt(mean(gbOff), 2)} s/GB`,
          `${((relayRatio - 1) * 100).toFixed(1)} %`,
        ],
      ],
      notes: [
        targetsLine([
          {
            target: 'scraping every second costs ≤ 1 % of a core with 10,000 live connections',
            measured: `${pct(costShare)} with ${fmt(players)} players (${fmt(2 * players)} proxy sockets)`,
            ok: ctx.quick ? undefined : costShare <= 0.01,
          },
          {
            target: 'relay CPU per GB with metrics scraped within 3 % of not scraped',
            measured: `${((relayRatio - 1) * 100).toFixed(1)} %`,
            ok: ctx.quick ? undefined : relayRatio <= 1.03,
          },
        ]),
        `Relay CPU per GB, median of the paired ratios (scraped ÷ the unscraped window before it): ${((pairedMedian - 1) * 100).toFixed(1)} %; the unscraped windows alone spread by ${(spread(gbOff) * 100).toFixed(0)} % (max − min over mean), the scraped ones by ${(spread(gbOn) * 100).toFixed(0)} %.`,
        `Scrape answer time p50 ${fmt(sm.p50, 1)} ms, p99 ${fmt(sm.p99, 1)} ms, max ${fmt(sm.max, 1)} ms; page ${fmt(pageBytes / 1024, 1)} KiB. Proxy RSS grew ${fmt(rssPlayers / 2 ** 20, 0)} MiB for the players.`,
        `${fmt(players)} players, not 10,000: each relayed player holds two sockets in the proxy and the machine's RLIMIT_NOFILE is 20,000 per process.`,
        'The machine is shared (two cores, other agents building and testing): CPU windows are alternated so both sides see the same neighbours, but single windows still vary; the per-window figures are in the run output.',
        `Per-window proxy CPU s: scraped ${on.map((x) => x.toFixed(2)).join(', ')}; not scraped ${off.map((x) => x.toFixed(2)).join(', ')}. Relay s/GB: scraped ${gbOn.map((x) => x.toFixed(2)).join(', ')}; not ${gbOff.map((x) => x.toFixed(2)).join(', ')}.`,
      ],
    };
  } finally {
    for (const p of peers.reverse()) await p.stop();
    tmp.remove();
  }
}
