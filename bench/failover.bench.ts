// Benchmark: failover. Three nginx-rtmp origins behind the proxy (as users run it); the origin that
// carries a live stream is killed with SIGKILL and we time detection, the end of its players (RTMP,
// HTTP-FLV) and an encoder re-publishing every second until it lands on another origin: with active
// probes (defaults) and with probes off (heartbeat expiry only). Then the cost of a refused dial to a
// registered-but-dead origin, the share of new streams per origin (equal origins, one at 90 % CPU),
// and the pick rate for pinned streams in memory and the latency health adds in Redis mode.
import { performance } from 'node:perf_hooks';
import type { Balancer } from '../src/balancer/balancer.js';
import { MemoryBalancer } from '../src/balancer/memory.js';
import { parseRegistration, type Origin, type Service } from '../src/balancer/origin.js';
import { RedisBalancer } from '../src/balancer/redis.js';
import { loadConfig } from '../src/config.js';
import { HealthMonitor } from '../src/health/monitor.js';
import { netProbeDialer } from '../src/health/probe-dialer.js';
import { RedisHealthShare } from '../src/health/redis-share.js';
import { LocalHealthShare } from '../src/health/shared.js';
import { createLogger } from '../src/log.js';
import { EVERY_ORIGIN_UP, type OriginHealth } from '../src/routing/health.js';
import { killTree } from '../test/fixtures/kill-tree.js';
import { makeTestFlv, publish } from '../test/fixtures/media.js';
import { startNginxRtmp } from '../test/fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../test/fixtures/nms.js';
import { tempDir } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { stopAllPeers, type Peer } from '../test/fixtures/process.js';
import { startProxy, type RunningProxy } from '../test/fixtures/proxy.js';
import { startRedis } from '../test/fixtures/redis.js';
import { RtmpTestClient } from '../test/fixtures/rtmp-client.js';
import { startSilentPorts } from '../test/fixtures/silent-listener.js';
import { fmt, summarize } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

const SILENT = createLogger({ level: 'silent', format: 'json' });

/** The routing seam's pick (Balancer.claim), typed here so this file builds on either side of the routing merge. */
type Claiming = { claim(streamKey: string, request: { health?: OriginHealth; needs?: readonly Service[] }): Promise<{ origin: Origin }> };
const claim = (balancer: Balancer, streamKey: string, health: OriginHealth, needs: readonly Service[] = []) =>
  (balancer as unknown as Claiming).claim(streamKey, { health, needs }).then((r) => r.origin);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heartbeats as SRS sends them (every 9 s), from this process; `stop(server)` is the origin dying. */
function heartbeats(proxy: RunningProxy, origins: { server: string; rtmp: number; http: number }[]) {
  const timers = new Map<string, NodeJS.Timeout>();
  const send = (o: { server: string; rtmp: number; http: number }) =>
    fetch(`${proxy.systemApi}/api/v1/srs/register`, {
      method: 'POST',
      body: JSON.stringify({ ip: '127.0.0.1', server: o.server, service: 'svc', pid: '1', rtmp: [String(o.rtmp)], http: [String(o.http)] }),
    }).then((r) => r.text());
  for (const o of origins)
    timers.set(
      o.server,
      setInterval(() => void send(o).catch(() => undefined), 9000),
    );
  return {
    first: Promise.all(origins.map(send)),
    stop: (server: string) => clearInterval(timers.get(server)),
    stopAll: () => timers.forEach((t) => clearInterval(t)),
  };
}

async function originList(proxy: RunningProxy): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${proxy.systemApi}/api/v1/origins?limit=1000`);
  return ((await r.json()) as { origins: Record<string, unknown>[] }).origins;
}

async function pinOf(proxy: RunningProxy, stream: string): Promise<string | undefined> {
  const r = await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`);
  const pins = ((await r.json()) as { streams: { stream: string; server: string }[] }).streams;
  return pins.find((p) => p.stream === stream)?.server;
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  return undefined;
}

/** One RTMP publish through the proxy: resolves with the status code (or the error). */
async function publishOnce(proxy: RunningProxy, name: string): Promise<{ ok: boolean; ms: number; client?: RtmpTestClient }> {
  const t0 = performance.now();
  try {
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`, { timeoutMs: 5000, ackEverySegment: true });
    const sid = await client.createStream();
    const info = await client.start('publish', name, sid);
    const ok = String(info.get('code')) === 'NetStream.Publish.Start';
    if (!ok) client.close();
    return { ok, ms: performance.now() - t0, ...(ok ? { client } : {}) };
  } catch {
    return { ok: false, ms: performance.now() - t0 };
  }
}

interface KillableOrigin {
  peer: Peer;
  rtmpPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

interface KillResult {
  detectMs: number | undefined;
  rtmpPlayerMs: number | undefined;
  flvPlayerMs: number | undefined;
  republishMs: number | undefined;
  failedAfterDetection: number;
  failedTotal: number;
  landedOn: string | undefined;
}

/** Kill the origin carrying a live stream; time what follows. */
async function killScenario(flv: string, probes: boolean, kind: 'nginx-rtmp' | 'node-media-server'): Promise<KillResult> {
  const start = kind === 'nginx-rtmp' ? startNginxRtmp : startNodeMediaServer;
  // One at a time: three origins starting at once on a loaded 2-core machine miss their start deadline.
  const nginx: KillableOrigin[] = [];
  for (let i = 0; i < 3; i++) nginx.push(await start());
  const withFlv = kind === 'node-media-server'; // nginx-rtmp serves no HTTP-FLV
  const proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: probes ? '2s' : '0', PROXY_LOG_LEVEL: 'info' } });
  const servers = nginx.map((n, i) => ({ server: `origin-${i}`, rtmp: n.rtmpPort, http: n.httpPort, nginx: n }));
  const hb = heartbeats(proxy, servers);
  const peers: Peer[] = [];
  try {
    await hb.first;
    const stream = `fo${Date.now() % 100000}`;
    const key = `__defaultVhost__/live/${stream}`;
    const encoder = publish(flv, `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${stream}`);
    peers.push(encoder);
    const victimId = await until(() => pinOf(proxy, key), 15_000);
    const victim = servers.find((s) => s.server === victimId);
    if (!victim) throw new Error('the stream was never pinned');
    await sleep(1500);
    // Players through the proxy.
    const { client: rtmpPlayer } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`, { timeoutMs: 5000, ackEverySegment: true });
    await rtmpPlayer.start('play', stream, await rtmpPlayer.createStream());
    const flvAbort = new AbortController();
    let flvEnded: number | undefined;
    const flvDone = withFlv
      ? (async () => {
          const flvRes = await fetch(`${proxy.httpServer}/live/${stream}.flv`, { signal: flvAbort.signal });
          if (flvRes.status !== 200) throw new Error(`HTTP-FLV through the proxy answered ${flvRes.status}`);
          try {
            for await (const _ of flvRes.body!) void _;
          } catch {
            // an abrupt end is an end
          }
          flvEnded = performance.now();
        })()
      : Promise.resolve();
    let rtmpEnded: number | undefined;
    const rtmpDone = rtmpPlayer.closedWithin(120_000).then(
      () => (rtmpEnded = performance.now()),
      () => undefined,
    );
    await sleep(2000);
    // The kill.
    hb.stop(victim.server);
    const killedAt = performance.now();
    killTree(victim.nginx.peer.pid);
    let detectedAt: number | undefined;
    const detection = until(
      async () => {
        const o = (await originList(proxy)).find((x) => x.server_id === victim.server);
        if (o && (o.state === 'down' || o.alive === false)) return (detectedAt = performance.now());
        return undefined;
      },
      60_000,
      20,
    );
    // The encoder re-publishes every second until one attempt lands on another origin.
    let failed = 0;
    let failedAfterDetection = 0;
    let republishedAt: number | undefined;
    let landedOn: string | undefined;
    for (let attempt = 0; attempt < 70 && republishedAt === undefined; attempt++) {
      const startedAt = performance.now();
      const r = await publishOnce(proxy, stream);
      const on = r.ok ? await pinOf(proxy, key) : undefined;
      if (r.ok && on !== undefined && on !== victim.server) {
        republishedAt = performance.now();
        landedOn = on;
        r.client?.close();
        break;
      }
      r.client?.close();
      failed++;
      if (detectedAt !== undefined && startedAt >= detectedAt) failedAfterDetection++;
      await sleep(Math.max(0, 1000 - (performance.now() - startedAt)));
    }
    await detection;
    await Promise.race([Promise.all([flvDone, rtmpDone]), sleep(5000)]);
    flvAbort.abort();
    rtmpPlayer.close();
    const since = (t: number | undefined) => (t === undefined ? undefined : t - killedAt);
    return {
      detectMs: since(detectedAt),
      rtmpPlayerMs: since(rtmpEnded),
      flvPlayerMs: since(flvEnded),
      republishMs: since(republishedAt),
      failedAfterDetection,
      failedTotal: failed,
      landedOn,
    };
  } finally {
    hb.stopAll();
    for (const p of peers) await p.stop();
    await proxy.stop();
    await Promise.all(nginx.map((n) => n.stop().catch(() => undefined)));
  }
}

/** Publish setup time with a registered-but-dead origin in the list, against only healthy origins. */
async function refusedDialCost(ctx: BenchContext): Promise<{ healthy: number[]; withDead: number[] }> {
  const nginx = await startNginxRtmp();
  const deadPort = await freePort();
  const n = ctx.quick ? 20 : 100;
  const measure = async (withDead: boolean) => {
    // Probes off: the dead origin stays a candidate, so the refused dial is what we measure.
    const proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0', PROXY_LOG_LEVEL: 'info' } });
    try {
      const reg = (server: string, rtmp: number, weight: number) =>
        fetch(`${proxy.systemApi}/api/v1/srs/register`, {
          method: 'POST',
          body: JSON.stringify({ ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: [String(rtmp)], weight }),
        });
      await reg('live', nginx.rtmpPort, 1);
      // The dead origin's weight makes it every new stream's first choice: each setup meets the refusal.
      if (withDead) await reg('dead', deadPort, 100);
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await publishOnce(proxy, `dial${withDead ? 'd' : 'h'}${i}`);
        r.client?.close();
        if (r.ok) times.push(r.ms);
      }
      return times;
    } finally {
      await proxy.stop();
    }
  };
  try {
    // Both set-ups twice, in alternating order (the first proxy started pays for a cold machine).
    const healthy = await measure(false);
    const withDead = await measure(true);
    withDead.push(...(await measure(true)));
    healthy.push(...(await measure(false)));
    return { healthy, withDead };
  } finally {
    await nginx.stop();
  }
}

function origin(server: string, extra: Record<string, unknown> = {}): Origin {
  return parseRegistration({ ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: ['1935'], ...extra }, Date.now());
}

function monitorFor(balancer: Balancer): HealthMonitor {
  return new HealthMonitor({
    balancer,
    intervalMs: 0,
    fails: 2,
    originExpireMs: 30_000,
    dialer: netProbeDialer,
    share: new LocalHealthShare(),
    log: SILENT,
  });
}

/** Shares of new streams per origin. */
async function shares(n: number, busy: boolean): Promise<number[]> {
  const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: n * 2 });
  const monitor = monitorFor(balancer);
  const cpu = (c: number) => ({ summaries: { data: { ok: true, self: {}, system: { cpu_percent: c } } } });
  const origins = [origin('a', cpu(0.2)), origin('b', cpu(0.2)), origin('c', cpu(busy ? 0.9 : 0.2))];
  for (const o of origins) await balancer.register(o);
  await monitor.sync();
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const o = await claim(balancer, `__defaultVhost__/live/new${i}`, monitor, ['rtmp']);
    counts.set(o.serverId, (counts.get(o.serverId) ?? 0) + 1);
  }
  return ['a', 'b', 'c'].map((s) => (100 * (counts.get(s) ?? 0)) / n);
}

/** Picks per second for pinned streams in memory: with the health hook, without, and a bare Map. */
async function pinnedPickRate(ctx: BenchContext): Promise<{ withHealth: number; without: number; map: number }> {
  const balancer = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 100_000 });
  const monitor = monitorFor(balancer);
  for (const s of ['a', 'b', 'c']) await balancer.register(origin(s));
  await monitor.sync();
  const keys = Array.from({ length: 10_000 }, (_, i) => `__defaultVhost__/live/pinned${i}`);
  const map = new Map<string, Origin>();
  for (const k of keys) map.set(k, await claim(balancer, k, monitor));
  const n = ctx.quick ? 300_000 : 2_000_000;
  const rate = async (fn: (k: string) => unknown) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn(keys[i % keys.length]!);
    return (n / (performance.now() - t0)) * 1000;
  };
  // claim() is what the router calls for every client; best of three rounds, alternated (shared machine).
  let without = 0;
  let withHealth = 0;
  let mapRate = 0;
  const seam = balancer as unknown as Claiming;
  const up = { health: EVERY_ORIGIN_UP };
  const checked = { health: monitor };
  for (let r = 0; r < 3; r++) {
    without = Math.max(without, await rate((k) => seam.claim(k, up)));
    withHealth = Math.max(withHealth, await rate((k) => seam.claim(k, checked)));
    mapRate = Math.max(mapRate, await rate((k) => map.get(k)));
  }
  return { withHealth, without, map: mapRate };
}

/** Pick latency for pinned streams on Redis, with the health hook (shared through Redis) and without. */
async function redisPickLatency(ctx: BenchContext): Promise<{ withHealth: number[]; without: number[] }> {
  const redis = await startRedis();
  const { config } = loadConfig({
    env: { PROXY_LOAD_BALANCER_TYPE: 'redis', PROXY_REDIS_PORT: String(redis.port) },
    cwd: '/',
    readDotenv: () => undefined,
    isDirectory: () => true,
  });
  const balancer = new RedisBalancer({ redis: config.redis, originExpireMs: 30_000, sessionTtlMs: 120_000, maxStreamPins: 100_000, log: SILENT });
  await balancer.start();
  const monitor = new HealthMonitor({
    balancer,
    intervalMs: 0,
    fails: 2,
    originExpireMs: 30_000,
    dialer: netProbeDialer,
    share: new RedisHealthShare({ client: balancer.client, verdictTtlMs: 5000, loadTtlMs: 30_000 }),
    log: SILENT,
  });
  try {
    for (const s of ['a', 'b', 'c']) await balancer.register(origin(s));
    await monitor.start();
    const keys = Array.from({ length: 1000 }, (_, i) => `__defaultVhost__/live/rp${i}`);
    for (const k of keys) await claim(balancer, k, monitor);
    const n = ctx.quick ? 2000 : 40_000;
    const once = async (key: string, health: OriginHealth) => {
      const t0 = performance.now();
      await claim(balancer, key, health);
      return performance.now() - t0;
    };
    // Each iteration times one claim without and one with health, in alternating order, so both see
    // the same machine load and the same background traffic (the monitor's sync runs throughout).
    const without: number[] = [];
    const withHealth: number[] = [];
    for (let i = 0; i < n; i++) {
      const key = keys[i % keys.length]!;
      if (i % 2 === 0) {
        without.push(await once(key, EVERY_ORIGIN_UP));
        withHealth.push(await once(key, monitor));
      } else {
        withHealth.push(await once(key, monitor));
        without.push(await once(key, EVERY_ORIGIN_UP));
      }
    }
    return { withHealth, without };
  } finally {
    await monitor.stop();
    await balancer.close();
    await redis.stop();
  }
}

/**
 * Publish setup when the first-choice origin is silent (its endpoints accept nothing, answer nothing),
 * with 1 and with 3 such endpoints: one PROXY_DIAL_TIMEOUT (1 s here) for the origin in both cases.
 * Each setup runs on a fresh proxy: after one, the silent endpoints are in failure backoff.
 */
async function silentOriginCost(ctx: BenchContext): Promise<{ one: number[]; three: number[] }> {
  const nginx = await startNginxRtmp();
  const silent = await startSilentPorts(3);
  const runs = ctx.quick ? 1 : 3;
  const measure = async (endpoints: number) => {
    const proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0', PROXY_DIAL_TIMEOUT: '1s', PROXY_LOG_LEVEL: 'info' } });
    try {
      const reg = (server: string, rtmp: number[], weight: number) =>
        fetch(`${proxy.systemApi}/api/v1/srs/register`, {
          method: 'POST',
          body: JSON.stringify({ ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: rtmp.map(String), weight }),
        });
      await reg('live', [nginx.rtmpPort], 1);
      await reg('silent', silent.ports.slice(0, endpoints), 100);
      const r = await publishOnce(proxy, `silent${endpoints}`);
      r.client?.close();
      return r.ok ? r.ms : Number.NaN;
    } finally {
      await proxy.stop();
    }
  };
  try {
    const one: number[] = [];
    const three: number[] = [];
    for (let i = 0; i < runs; i++) {
      one.push(await measure(1));
      three.push(await measure(3));
    }
    return { one, three };
  } finally {
    await silent.stop();
    await nginx.stop();
  }
}

const ms = (v: number | undefined) => (v === undefined ? 'never' : `${fmt(v)} ms`);

export async function failoverBench(ctx: BenchContext): Promise<BenchReport> {
  const media = tempDir('failover-bench');
  const rows: string[][] = [];
  const notes: string[] = [];
  try {
    const flv = await makeTestFlv(media.dir, 10);
    const runs = ctx.quick ? 1 : 2;
    const scenarios: [boolean, 'nginx-rtmp' | 'node-media-server'][] = [
      [true, 'nginx-rtmp'],
      [true, 'node-media-server'],
      [false, 'nginx-rtmp'],
    ];
    for (const [probes, kind] of scenarios) {
      const results: KillResult[] = [];
      for (let i = 0; i < runs; i++) results.push(await killScenario(flv, probes, kind));
      const label = `3 × ${kind}, ${probes ? 'probes on (2 s × 2)' : 'probes off (heartbeat expiry, 30 s)'}`;
      const worst = (f: (r: KillResult) => number | undefined) => {
        const v = results.map(f);
        return v.includes(undefined) ? undefined : Math.max(...(v as number[]));
      };
      rows.push([`SIGKILL mid-stream, ${label}: detection`, ms(worst((r) => r.detectMs)), probes ? '≤ 4,000 ms' : '(comparison)']);
      rows.push([`  RTMP player through the proxy closed`, ms(worst((r) => r.rtmpPlayerMs)), '≤ detection + 1 s']);
      if (kind === 'node-media-server') rows.push([`  HTTP-FLV player through the proxy closed`, ms(worst((r) => r.flvPlayerMs)), '≤ detection + 1 s']);
      rows.push([`  encoder re-publishing every 1 s lands on another origin`, ms(worst((r) => r.republishMs)), probes ? '≤ 5,000 ms' : '(comparison)']);
      rows.push([
        `  failed attempts (after detection / in all)`,
        `${Math.max(...results.map((r) => r.failedAfterDetection))} / ${Math.max(...results.map((r) => r.failedTotal))}`,
        '0 after detection',
      ]);
      notes.push(`${label}: ${results.length} runs, worst shown; landed on ${results.map((r) => r.landedOn ?? 'none').join(', ')}.`);
    }
  } finally {
    await stopAllPeers();
    media.remove();
  }

  const dial = await refusedDialCost(ctx);
  const h = summarize(dial.healthy);
  const d = summarize(dial.withDead);
  rows.push(['RTMP publish setup through the proxy, one healthy origin (baseline): p50 / p99', `${fmt(h.p50, 1)} / ${fmt(h.p99, 1)} ms`, '']);
  rows.push(['  the same with a registered-but-dead origin picked first (refused dial, probes off): p50 / p99', `${fmt(d.p50, 1)} / ${fmt(d.p99, 1)} ms`, '']);
  rows.push(['  added at p50 (p99)', `${fmt(d.p50 - h.p50, 1)} (${fmt(d.p99 - h.p99, 1)}) ms`, '≤ 5 ms']);

  const quiet = await silentOriginCost(ctx);
  const worstOf = (v: number[]) => (v.some(Number.isNaN) ? 'failed' : `${fmt(Math.max(...v))} ms`);
  rows.push([`RTMP publish setup, first-choice origin silent, 1 endpoint (PROXY_DIAL_TIMEOUT 1 s), worst of ${quiet.one.length}`, worstOf(quiet.one), '']);
  rows.push([`  the same, 3 silent endpoints, worst of ${quiet.three.length}`, worstOf(quiet.three), '≈ 1 dial timeout, not 3']);

  const n = ctx.quick ? 2000 : 10_000;
  const equal = await shares(n, false);
  rows.push([`${fmt(n)} new streams, 3 equal origins: share a / b / c`, equal.map((s) => `${s.toFixed(1)} %`).join(' / '), '33 % ± 3 %']);
  const busy = await shares(n, true);
  rows.push([`${fmt(n)} new streams, origin c at 90 % CPU: share a / b / c`, busy.map((s) => `${s.toFixed(1)} %`).join(' / '), 'c ≤ 10 %']);

  const rate = await pinnedPickRate(ctx);
  rows.push(['pinned-stream claims/s in memory (await balancer.claim), with the health hook', fmt(rate.withHealth), '≥ 1,000,000/s']);
  rows.push(['  without health (every origin up) / await Map.get (baselines)', `${fmt(rate.without)} / ${fmt(rate.map)}`, '']);

  const red = await redisPickLatency(ctx);
  const rw = summarize(red.withHealth);
  const ro = summarize(red.without);
  rows.push(['pinned-stream claim on Redis, p50 / p99 with health', `${fmt(rw.p50, 3)} / ${fmt(rw.p99, 3)} ms`, '']);
  rows.push(['  without health (baseline)', `${fmt(ro.p50, 3)} / ${fmt(ro.p99, 3)} ms`, '']);
  rows.push(['  added at p99', `${fmt(rw.p99 - ro.p99, 3)} ms`, '≤ 1 ms']);
  notes.push('Detection is timed by polling `GET /api/v1/origins` every 20 ms; player ends by the socket/body closing.');
  return { headers: ['measure', 'result', 'target'], rows, notes };
}
