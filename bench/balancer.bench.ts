// Benchmark: registrations/s of the system API (over keep-alive HTTP, the proxy as users run it)
// and picks/s of the in-memory balancer (in-process), each against a baseline measured in this run.
import { join } from 'node:path';
import { MemoryBalancer } from '../src/balancer/memory.js';
import { parseRegistration } from '../src/balancer/origin.js';
import { FIXTURES_DIST } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer, waitForTcp } from '../test/fixtures/process.js';
import { startProxy } from '../test/fixtures/proxy.js';
import { httpLoad, type HttpLoadResult } from './lib/http-load.js';
import { fmt, ratio, targetsLine } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

const ORIGINS = 50;
const STREAMS = 10_000;

function registerBody(i: number): string {
  const n = i % ORIGINS;
  return JSON.stringify({
    device_id: '',
    ip: `127.0.0.${1 + (n % 250)}`,
    server: `vid-bench${n}`,
    service: 'svcbench',
    pid: String(1000 + n),
    rtmp: ['19350'],
    http: ['8080'],
    api: ['1985'],
    srt: ['udp://0.0.0.0:10080'],
    rtc: ['udp://0.0.0.0:8000'],
  });
}

async function registerLoad(origin: string, ctx: BenchContext): Promise<HttpLoadResult> {
  return httpLoad({
    origin,
    concurrency: 16,
    durationMs: ctx.quick ? 1500 : 5000,
    request: (i) => ({ path: '/api/v1/srs/register', method: 'POST', body: registerBody(i), headers: { 'content-type': 'application/json' } }),
  });
}

function picksPerSecond(ctx: BenchContext): { sync: number; async: Promise<number>; map: number } {
  const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 100_000 });
  const baseline = new Map<string, unknown>();
  for (let i = 0; i < ORIGINS; i++) void balancer.register(parseRegistration(JSON.parse(registerBody(i)), Date.now()));
  const keys = Array.from({ length: STREAMS }, (_, i) => `__defaultVhost__/live/stream${i}`);
  for (const k of keys) baseline.set(k, balancer.pickSync(k));
  const n = ctx.quick ? 500_000 : 3_000_000;
  const time = (fn: (k: string) => unknown) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(keys[i % STREAMS]!);
    return (n / (performance.now() - t0)) * 1000;
  };
  const map = time((k) => baseline.get(k));
  const sync = time((k) => balancer.pickSync(k));
  const async = (async () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await balancer.pick(keys[i % STREAMS]!);
    return (n / (performance.now() - t0)) * 1000;
  })();
  return { sync, async, map };
}

export async function balancerBench(ctx: BenchContext): Promise<BenchReport> {
  // Baseline server: bare Node HTTP in a child process, as the proxy is.
  const port = await freePort();
  const bare = startPeer('baseline http', process.execPath, [join(FIXTURES_DIST, '..', '..', 'bench', 'baseline', 'http-ok.js'), String(port)]);
  await waitForTcp(port);
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info' } });
  let base: HttpLoadResult;
  let ours: HttpLoadResult;
  try {
    await registerLoad(proxy.systemApi, { ...ctx, quick: true }); // warm-up
    base = await registerLoad(`http://127.0.0.1:${port}`, ctx);
    ours = await registerLoad(proxy.systemApi, ctx);
  } finally {
    await proxy.stop();
    await bare.stop();
  }
  const picks = picksPerSecond(ctx);
  const asyncPicks = await picks.async;
  const rows = [
    [
      'register over keep-alive HTTP (16 conns)',
      `${fmt(ours.perSecond)} req/s`,
      `${fmt(base.perSecond)} req/s (bare Node HTTP server)`,
      ratio(ours.perSecond, base.perSecond),
      `p50 ${ours.latency.p50.toFixed(2)} ms, p99 ${ours.latency.p99.toFixed(2)} ms, ${ours.errors} errors`,
    ],
    [
      'pick, pinned stream (pickSync)',
      `${fmt(picks.sync)} /s`,
      `${fmt(picks.map)} /s (Map.get)`,
      ratio(picks.sync, picks.map),
      `${STREAMS} streams, ${ORIGINS} origins`,
    ],
    [
      'pick, pinned stream (await pick)',
      `${fmt(asyncPicks)} /s`,
      `${fmt(picks.map)} /s (Map.get)`,
      ratio(asyncPicks, picks.map),
      'through the async Balancer interface',
    ],
  ];
  const ok = ours.errors === 0 && base.errors === 0;
  return {
    rows,
    headers: ['load', 'origin-proxy', 'baseline (same run)', 'ratio', 'notes'],
    notes: [
      targetsLine([
        { target: '≥ 5,000 register req/s', measured: `${fmt(ours.perSecond)} req/s`, ok: ours.perSecond >= 5000 },
        { target: '≥ 1,000,000 picks/s in-process', measured: `${fmt(asyncPicks)} /s`, ok: asyncPicks >= 1_000_000 },
      ]),
      `Origins: none contacted. Registrations are heartbeat bodies POSTed to the proxy's system API; picks run in-process over ${ORIGINS} registered origin records.`,
      ok ? 'No request errors.' : `Request errors: proxy ${ours.errors}, baseline ${base.errors}.`,
    ],
  };
}
