// Benchmark: what Prometheus scraping costs the proxy, in three measures of one run, each as windows alternated
// with unscraped ones in ABBA order (off on, on off, …) so that a drift of the machine's load hits both sides alike,
// and read as paired differences with a distribution-free interval:
// (0) CPU per scrape of a proxy with no clients (the scrape's own work: HTTP request and answer, the page);
// (1) CPU of a scrape a second with many idle RTMP players relayed to nginx-rtmp (each is two sockets in the proxy:
//     the RLIMIT_NOFILE of 20,000 here caps them at about 9,000);
// (2) RTMP relay CPU per GB with a scrape a second against none, on one steady relay load (publishers paced at 10×
//     real time, players reading) that runs through every window: nothing is set up or torn down between windows.
// CPU is the scheduler's run time of every thread of the proxy process (ns, /proc/<pid>/task/*/schedstat), bytes
// are the proxy's socket reads and writes (/proc/<pid>/io); the scraper and load generators run in other processes.
// The proxy runs with --max-semi-space-size=1, as `npm start` and the image do.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { FIXTURES_DIST, tempDir } from '../test/fixtures/paths.js';
import { startPeer, type Peer } from '../test/fixtures/process.js';
import { startHeartbeat } from '../test/fixtures/heartbeat.js';
import { startProxy } from '../test/fixtures/proxy.js';
import { cpuSecondsPrecise, ioCounts, mainThreadCpuSeconds, rssBytes } from './lib/proc.js';
import { bootstrapMeanInterval, fmt, leastSquares, median, medianInterval, summarize, t975, targetsLine, type Target } from './lib/stats.js';
import { makeNoisyFlv } from './lib/media.js';
import { registered, startBenchNginx } from './rtmp.bench.js';
import type { BenchContext, BenchReport } from './run.js';

const LOAD = join(FIXTURES_DIST, 'rtmp-load.js');

/** The steady relay load of measure (2): publishers (each its own stream, paced at 10× real time) × players each. */
const RELAY_PUBLISHERS = 2;
const RELAY_PLAYERS = 4;
/** Relay CPU per GB with a scrape a second may exceed the unscraped figure by this much (issue 13). */
const RELAY_TARGET = 0.03;

function positiveInt(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_METRICS_RELAY_PAIRS must be a positive integer, not ${JSON.stringify(text)}`);
  return n;
}
/** A scrape a second may cost this share of a core with ~10,000 live connections (issue 13). */
const SCRAPE_TARGET = 0.01;

interface Window {
  scraped: boolean;
  seconds: number;
  /** CPU seconds of every thread, and of the main thread alone. */
  cpu: number;
  mainCpu: number;
  /** The proxy's socket bytes read + written, and its read and write calls. */
  io: number;
  calls: number;
  /** Answer time of each scrape (ms) and the page's size. */
  scrapeMs: number[];
  pageBytes: number;
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

async function scrapeOnce(url: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  // /healthz may rightly answer 503 on a starved machine; it stands for HTTP handling alone either way.
  if (res.status !== 200 && !(url.endsWith('/healthz') && res.status === 503)) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 200)}`);
  return { ms: performance.now() - t0, bytes: text.length };
}

/** One window of `seconds`; when scraped, `perSecond` scrapes spread evenly inside it (none at its edges). */
async function window(pid: number, url: string, seconds: number, scraped: boolean, perSecond: number): Promise<Window> {
  const scrapeMs: number[] = [];
  let pageBytes = 0;
  const t0 = performance.now();
  const c0 = cpuSecondsPrecise(pid);
  const m0 = mainThreadCpuSeconds(pid);
  const b0 = ioCounts(pid);
  if (scraped) {
    const n = Math.round(seconds * perSecond);
    for (let k = 0; k < n; k++) {
      await sleepUntil(t0 + ((k + 0.5) * 1000) / perSecond);
      const s = await scrapeOnce(url);
      scrapeMs.push(s.ms);
      pageBytes = s.bytes;
    }
  }
  await sleepUntil(t0 + seconds * 1000);
  const cpu = cpuSecondsPrecise(pid) - c0;
  const mainCpu = mainThreadCpuSeconds(pid) - m0;
  const b1 = ioCounts(pid);
  return { scraped, seconds: (performance.now() - t0) / 1000, cpu, mainCpu, io: b1.bytes - b0.bytes, calls: b1.calls - b0.calls, scrapeMs, pageBytes };
}

/** `pairs` pairs of windows in ABBA order; each pair as [unscraped, scraped]. */
async function alternated(pid: number, url: string, pairs: number, seconds: number, perSecond: number): Promise<[Window, Window][]> {
  const out: [Window, Window][] = [];
  for (let i = 0; i < pairs; i++) {
    const first = await window(pid, url, seconds, i % 2 === 1, perSecond);
    const second = await window(pid, url, seconds, i % 2 === 0, perSecond);
    out.push(first.scraped ? [second, first] : [first, second]);
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / mean(xs);
const pct = (x: number, digits = 2) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(digits)} %`;
const share = (x: number) => `${(x * 100).toFixed(2)} %`;
const interval = (i: { lo: number; hi: number }, f: (x: number) => string) => `[${f(i.lo)}, ${f(i.hi)}]`;

/** met when the whole interval is within the bound, NOT met otherwise (also when the interval straddles it). */
function verdict(i: { lo: number; hi: number }, bound: number): { ok: boolean; word: string } {
  if (i.hi <= bound) return { ok: true, word: 'the whole interval is within the bound' };
  if (i.lo > bound) return { ok: false, word: 'the whole interval is beyond the bound' };
  return { ok: false, word: 'not resolved: the interval straddles the bound' };
}

export async function metricsBench(ctx: BenchContext): Promise<BenchReport> {
  const tmp = tempDir('metrics-bench');
  const peers: Peer[] = [];
  const began = performance.now();
  const loadAtStart = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  try {
    const flv = await makeNoisyFlv(tmp.dir, { noise: 12, rate: '4M', cbr: false }); // the rtmp bench's media
    const nginx = await startBenchNginx(tmp.dir, 60000);
    peers.push(nginx.peer);
    const proxy = await startProxy({
      nodeArgs: ['--max-semi-space-size=1'],
      env: { PROXY_LOG_LEVEL: 'info', PROXY_IDLE_TIMEOUT: '10m', PROXY_MAX_CONNECTIONS_PER_IP: '100000', PROXY_MAX_CONNECTIONS: '100000' },
    });
    peers.push(proxy.peer);
    peers.push(startHeartbeat({ systemApi: proxy.systemApi, rtmp: nginx.port, server: 'bench-nginx' }));
    await registered(proxy.systemApi);
    const url = `${proxy.systemApi}/metrics`;
    const pid = proxy.peer.pid;
    const q = ctx.quick;

    // (0) The scrape's own cost: a proxy with no clients, 10 scrapes a second in the scraped windows.
    for (let i = 0; i < 30; i++) await scrapeOnce(url); // warm-up (JIT of the scrape path)
    const idleRate = 10;
    const idleSeconds = q ? 2 : 3;
    const idlePairs = await alternated(pid, url, q ? 2 : 5, idleSeconds, idleRate);
    // The same with GET /healthz, an answer of a few bytes: what any HTTP request to the system API costs.
    const healthz = `${proxy.systemApi}/healthz`;
    for (let i = 0; i < 30; i++) await scrapeOnce(healthz);
    const httpPairs = await alternated(pid, healthz, q ? 2 : 5, idleSeconds, idleRate);
    const perRequest = httpPairs.map(([off, on]) => ((on.cpu - off.cpu) / on.scrapeMs.length) * 1000); // ms
    const perRequestI = medianInterval(perRequest);
    const perScrape = idlePairs.map(([off, on]) => ((on.cpu - off.cpu) / on.scrapeMs.length) * 1000); // ms
    const perScrapeMain = idlePairs.map(([off, on]) => ((on.mainCpu - off.mainCpu) / on.scrapeMs.length) * 1000);
    const perScrapeI = medianInterval(perScrape);
    const idleScrape = summarize(idlePairs.flatMap(([, on]) => on.scrapeMs));
    const idlePage = idlePairs[0]![1].pageBytes;
    const idleBase = mean(idlePairs.map(([off]) => off.cpu / off.seconds));

    // (2) Relay CPU per GB on one steady load through every window, a scrape a second against none.
    // BENCH_METRICS_RELAY_PAIRS: more pairs narrow the interval (20 pairs ≈ 3 min of windows).
    const relayPairsN = q ? 3 : positiveInt(process.env.BENCH_METRICS_RELAY_PAIRS, 20);
    const relaySeconds = q ? 2 : 4;
    // The load runs well past the windows (a slow scrape stretches one) and is stopped after them.
    const relayTotal = relayPairsN * 2 * relaySeconds + 120;
    const base = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
    const pubs = Array.from({ length: RELAY_PUBLISHERS }, (_, i) =>
      startPeer(`publish steady${i}`, process.execPath, [LOAD, 'publish', `${base}/steady${i}`, flv, 'x10', String(relayTotal + 15)]),
    );
    peers.push(...pubs);
    await Promise.all(pubs.map((p) => p.waitForOutput(/ready/, 20_000)));
    const plays = Array.from({ length: RELAY_PUBLISHERS }, (_, i) =>
      startPeer(`play steady${i}`, process.execPath, [LOAD, 'play', `${base}/steady${i}`, String(RELAY_PLAYERS), String(relayTotal)]),
    );
    peers.push(...plays);
    await Promise.all(plays.map((p) => p.waitForOutput(/ready/, 90_000)));
    await window(pid, url, 4, true, 1); // settle: the players' first GOP burst, the scrape path with relays
    const allPairs = await alternated(pid, url, relayPairsN, relaySeconds, 1);
    for (const p of [...plays, ...pubs]) if (p.hasExited) throw new Error(`${p.name} ended before the windows did:\n${p.output.slice(-2000)}`);
    await Promise.all([...plays, ...pubs].map((p) => p.stop()));
    // A pair whose windows did not both relay (a load process starved by the machine: under half the median
    // window's rate) measures no relay; it is left out and counted.
    const rate = (w: Window) => w.io / w.seconds;
    const medianRate = median(allPairs.flat().map(rate));
    const relayPairs = allPairs.filter((p) => p.every((w) => rate(w) >= medianRate / 2));
    const stalled = allPairs.length - relayPairs.length;
    if (relayPairs.length < allPairs.length / 2) throw new Error(`the relay load stalled in ${stalled} of ${allPairs.length} pairs of windows`);
    // CPU seconds per GB relayed; a GB relayed is read once and written once by the proxy.
    const perGb = (w: Window) => w.cpu / (w.io / 2 / 1e9);
    const gbOff = relayPairs.map(([off]) => perGb(off));
    const gbOn = relayPairs.map(([, on]) => perGb(on));
    const ratios = relayPairs.map(([off, on]) => perGb(on) / perGb(off) - 1);
    const mainRatios = relayPairs.map(([off, on]) => on.mainCpu / (on.io / 2 / 1e9) / (off.mainCpu / (off.io / 2 / 1e9)) - 1);
    const ratioI = medianInterval(ratios);
    const ratioBoot = bootstrapMeanInterval(ratios);
    const relayMBs = mean(relayPairs.flatMap((p) => p.map((w) => w.io / 2 / w.seconds / 1e6)));
    const relayCpuShare = mean(relayPairs.map(([off]) => off.cpu / off.seconds));
    // What the scrape's own cost alone predicts: CPU per scrape (0) over the relay's CPU per second.
    const predicted = median(perScrape) / 1000 / relayCpuShare;
    // The relay rate below which one scrape a second is more than the target's share of the relay's CPU.
    const breakEvenMBs = (median(perScrape) / 1000 / (RELAY_TARGET * median(gbOff))) * 1e3;
    // The same windows as a linear model of each window's CPU: a base, per byte, per read/write call (how finely
    // the relay's traffic was batched, which the machine's load changes from window to window) and per scraped
    // window. The scrape's coefficient is its cost with batching held equal (it does not get credit for a
    // coarser batching it may cause), over the mean unscraped window's CPU.
    const windows = relayPairs.flat();
    const fit = leastSquares(
      windows.map((w) => [1, w.io, w.calls, w.scraped ? 1 : 0]),
      windows.map((w) => w.cpu),
    );
    const offCpu = mean(relayPairs.map(([off]) => off.cpu));
    const modelI = { lo: (fit.beta[3]! - t975(fit.df) * fit.se[3]!) / offCpu, hi: (fit.beta[3]! + t975(fit.df) * fit.se[3]!) / offCpu };
    const modelEffect = fit.beta[3]! / offCpu;
    const plainFit = leastSquares(
      windows.map((w) => [1, w.io, w.scraped ? 1 : 0]),
      windows.map((w) => w.cpu),
    );
    const plainI = {
      lo: (plainFit.beta[2]! - t975(plainFit.df) * plainFit.se[2]!) / offCpu,
      hi: (plainFit.beta[2]! + t975(plainFit.df) * plainFit.se[2]!) / offCpu,
    };
    const relayVerdict = verdict(ratioI, RELAY_TARGET);
    const relayScrape = summarize(relayPairs.flatMap(([, on]) => on.scrapeMs));

    // (1) A scrape a second with many idle players relayed.
    const hold = startPeer('idle publisher', process.execPath, [LOAD, 'publish', `rtmp://127.0.0.1:${nginx.port}/live/idle`, flv, 'hold', '900']);
    peers.push(hold);
    await hold.waitForOutput(/ready/, 20_000);
    const players = q ? 300 : 9000;
    const rss0 = rssBytes(pid);
    const idle = startPeer('idle players', process.execPath, [LOAD, 'idle', `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/idle`, String(players)]);
    peers.push(idle);
    await idle.waitForOutput(/"role":"idle"/, 600_000);
    const rssPlayers = rssBytes(pid) - rss0;
    const seconds = q ? 3 : 6;
    await window(pid, url, 3, true, 1); // warm-up (JIT of the scrape path with thousands of clients)
    const playerPairs = await alternated(pid, url, q ? 2 : 6, seconds, 1);
    const costs = playerPairs.map(([off, on]) => (on.cpu - off.cpu) / seconds); // core-seconds per second
    const costI = medianInterval(costs);
    const onShare = mean(playerPairs.map(([, on]) => on.cpu / on.seconds));
    const offShare = mean(playerPairs.map(([off]) => off.cpu / off.seconds));
    const playersScrape = summarize(playerPairs.flatMap(([, on]) => on.scrapeMs));
    const playersPage = playerPairs[0]![1].pageBytes;
    const scrapeVerdict = verdict(costI, SCRAPE_TARGET);
    await idle.stop();

    const targets: Target[] = [
      {
        target: `scraping every second costs ≤ 1 % of a core with 10,000 live connections`,
        measured: `median ${share(median(costs))}, ${fmt(costI.coverage * 100, 0)} % interval ${interval(costI, share)} with ${fmt(players)} players (${fmt(2 * players)} proxy sockets); ${scrapeVerdict.word}`,
        ok: q ? undefined : scrapeVerdict.ok,
      },
      {
        target: `relay CPU per GB with metrics scraped every second within 3 % of not scraped`,
        measured: `median of ${relayPairs.length} paired ratios ${pct(median(ratios), 1)}, ${fmt(ratioI.coverage * 100, 0)} % interval ${interval(ratioI, (x) => pct(x, 1))}; ${relayVerdict.word}`,
        ok: q ? undefined : relayVerdict.ok,
      },
    ];
    const list = (xs: number[], d = 2) => xs.map((x) => x.toFixed(d)).join(', ');
    return {
      headers: ['Measure', 'Scraped', 'Not scraped', 'Difference (median of pairs, interval)'],
      rows: [
        [
          `(0) proxy CPU per scrape, no clients (${idleRate} scrapes/s; ${idlePairs.length} pairs × ${idleSeconds} s)`,
          `${fmt(mean(idlePairs.map(([, on]) => on.cpu / on.seconds)) * 100, 2)} % of a core`,
          `${fmt(idleBase * 100, 2)} % of a core`,
          `${fmt(median(perScrape), 2)} ms per scrape ${interval(perScrapeI, (x) => fmt(x, 2))} (main thread ${fmt(median(perScrapeMain), 2)} ms)`,
        ],
        [
          `(0′) the same for GET /healthz (HTTP handling alone, a few bytes answered)`,
          `${fmt(mean(httpPairs.map(([, on]) => on.cpu / on.seconds)) * 100, 2)} % of a core`,
          `${fmt(mean(httpPairs.map(([off]) => off.cpu / off.seconds)) * 100, 2)} % of a core`,
          `${fmt(median(perRequest), 2)} ms per request ${interval(perRequestI, (x) => fmt(x, 2))}: the page itself ~${fmt(median(perScrape) - median(perRequest), 2)} ms per scrape`,
        ],
        [
          `(1) proxy CPU with ${fmt(players)} idle RTMP players relayed, a scrape a second (${playerPairs.length} pairs × ${seconds} s)`,
          share(onShare),
          share(offShare),
          `${share(median(costs))} of a core ${interval(costI, share)} (${fmt(median(costs) * 1000, 1)} ms per scrape)`,
        ],
        [
          `(2) RTMP relay CPU per GB, ${RELAY_PUBLISHERS} publishers at 10× real time × ${RELAY_PLAYERS} players, ~${fmt(relayMBs, 0)} MB/s relayed, a scrape a second (${relayPairs.length} pairs × ${relaySeconds} s)`,
          `${fmt(median(gbOn), 3)} s/GB`,
          `${fmt(median(gbOff), 3)} s/GB`,
          `${pct(median(ratios), 2)} ${interval(ratioI, (x) => pct(x, 2))}`,
        ],
      ],
      notes: [
        targetsLine(targets),
        `Intervals: the sign test's distribution-free interval of the median of the paired figures (scraped window against the unscraped one beside it; ${fmt(ratioI.coverage * 100, 1)} % coverage for ${relayPairs.length} pairs${stalled ? ` (${stalled} pairs left out: the relay load stalled in a window)` : ''}, ${fmt(costI.coverage * 100, 1)} % for ${playerPairs.length}). Relay: bootstrap 95 % interval of the mean paired ratio ${interval(ratioBoot, (x) => pct(x, 2))} (mean ${pct(mean(ratios), 2)}); main thread alone, median ${pct(median(mainRatios), 2)}.`,
        `Relay windows as a linear model (CPU = base + per byte + per read/write call + per scraped window, ${windows.length} windows): the scrape ${pct(modelEffect, 2)} of an unscraped window's CPU, 95 % interval ${interval(modelI, (x) => pct(x, 2))} (${fmt((fit.beta[3]! / relaySeconds) * 1000, 2)} ms of CPU per scrape); without the call count ${pct(plainFit.beta[2]! / offCpu, 2)} ${interval(plainI, (x) => pct(x, 2))}. Per-call cost ${fmt(fit.beta[2]! * 1e6, 2)} µs, per MB ${fmt(fit.beta[1]! * 1e9, 3)} ms.`,
        `What the scrape's own cost predicts for (2): ${fmt(median(perScrape), 2)} ms per scrape (0) ÷ the relay's ${fmt(relayCpuShare * 1000, 0)} ms of CPU per second unscraped = ${pct(predicted, 2)}; one scrape a second stays under 3 % of the relay's CPU above ~${fmt(breakEvenMBs, 1)} MB/s relayed (at ${fmt(median(gbOff), 2)} s/GB). Prometheus's default interval is 15–60 s, not 1 s.`,
        `Noise: the unscraped relay windows spread by ${fmt(spread(gbOff) * 100, 1)} % (max − min over mean), the scraped ones by ${fmt(spread(gbOn) * 100, 1)} %; the paired ratios run from ${pct(Math.min(...ratios), 1)} to ${pct(Math.max(...ratios), 1)}.`,
        `Metrics off: the proxy has no switch that turns metrics off (the registry, prom-client's GC observer and event-loop delay monitor are always there); "not scraped" is the comparison. Nothing on the relay's per-message path reads or writes a metric: client bytes are the sockets' own counters, read at scrape time.`,
        `Scrape answer time p50/p99/max: no clients ${fmt(idleScrape.p50, 1)}/${fmt(idleScrape.p99, 1)}/${fmt(idleScrape.max, 1)} ms (page ${fmt(idlePage / 1024, 1)} KiB); during the relay ${fmt(relayScrape.p50, 1)}/${fmt(relayScrape.p99, 1)}/${fmt(relayScrape.max, 1)} ms; with ${fmt(players)} players ${fmt(playersScrape.p50, 1)}/${fmt(playersScrape.p99, 1)}/${fmt(playersScrape.max, 1)} ms (page ${fmt(playersPage / 1024, 1)} KiB). Proxy RSS grew ${fmt(rssPlayers / 2 ** 20, 0)} MiB for the players.`,
        `${fmt(players)} players, not 10,000: each relayed player holds two sockets in the proxy and the machine's RLIMIT_NOFILE is 20,000 per process. CPU: the scheduler's run time of every proxy thread (ns); bytes: the proxy's socket reads + writes ÷ 2.`,
        `Per window — (0) CPU ms per scrape: ${list(perScrape)}; per /healthz: ${list(perRequest)}. (1) CPU s scraped: ${list(
          playerPairs.map(([, on]) => on.cpu),
          3,
        )}; not: ${list(
          playerPairs.map(([off]) => off.cpu),
          3,
        )}. (2) s/GB scraped: ${list(gbOn, 3)}; not: ${list(gbOff, 3)}; paired %: ${ratios.map((r) => (r * 100).toFixed(1)).join(', ')}; read/write calls per MB scraped: ${list(
          relayPairs.map(([, on]) => on.calls / (on.io / 1e6)),
          1,
        )}; not: ${list(
          relayPairs.map(([off]) => off.calls / (off.io / 1e6)),
          1,
        )}.`,
        `Run time ${fmt((performance.now() - began) / 1000, 0)} s; load average (1, 5, 15 min) ${loadAtStart} at the start, ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')} at the end.`,
      ],
    };
  } finally {
    for (const p of peers.reverse()) await p.stop();
    tmp.remove();
  }
}
