// Benchmark: the RTSP proxy against one GStreamer RTSP origin (test/fixtures/rtsp-origin.py), measured in one
// run three ways where it applies — through origin-proxy, direct to the origin, and through a plain Node TCP
// byte relay (bench/baseline/tcp-relay.ts). Loads: N raw players (DESCRIBE, SETUP over TCP interleaved, PLAY)
// of an uncompressed-video mount for a fixed time (CPU per GB delivered, relay vs proxy); K sequential
// OPTIONS→DESCRIBE→SETUP→PLAY setups (direct vs proxy); connections that stop after DESCRIBE, held open in two
// steps of M on a fresh process (RSS per connection of each step, live heap per connection).
// CPU and RSS are read from /proc for the relaying process only.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../test/fixtures/ports.js';
import { FIXTURES_DIST, REPO_ROOT } from '../test/fixtures/paths.js';
import { startPeer, waitForTcp, type Peer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../test/fixtures/proxy.js';
import { RawRtspClient } from '../test/fixtures/rtsp-client.js';
import { RtspOrigin } from '../test/fixtures/rtsp-origin.js';
import { cpuSeconds, rssBytes } from './lib/proc.js';
import { percentile, targetsLine } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

const RELAY = join(REPO_ROOT, 'dist', 'bench', 'baseline', 'tcp-relay.js');
const RAW_PATH = '/live/raw';
const SETUP_PATH = '/live/setup';
const SIZE = '320x240';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const sign = (n: number) => (n >= 0 ? `+${f2(n)}` : f2(n));

/** Registers the origin with the proxy now and every 5 s (an origin not heard from expires). */
async function keepRegistered(proxy: RunningProxy, rtspPort: number): Promise<() => void> {
  const body = { ip: '127.0.0.1', server: 'bench-rtsp', service: 'svc-bench-rtsp', pid: '1', rtmp: ['1'], rtsp: [String(rtspPort)] };
  await registerOrigin(proxy.systemApi, body);
  const t = setInterval(() => void registerOrigin(proxy.systemApi, body).catch(() => undefined), 5000);
  return () => clearInterval(t);
}

function expectStatus(step: string, status: number): void {
  if (status !== 200) throw new Error(`${step} answered ${status}`);
}

/** DESCRIBE; returns the client and the URL of the first track (from the SDP's a=control). */
async function describe(port: number, path: string, cseq: number, c?: RawRtspClient): Promise<{ c: RawRtspClient; track: string }> {
  const client = c ?? (await RawRtspClient.open(port));
  const url = `rtsp://127.0.0.1:${port}${path}`;
  client.request('DESCRIBE', url, cseq, { Accept: 'application/sdp' });
  const d = await client.response(20_000);
  expectStatus('DESCRIBE', d.status);
  const control = /a=control:(\S*stream=0)/.exec(d.body)?.[1] ?? 'stream=0';
  const base = (d.headers.get('content-base') ?? `${url}/`).replace(/\/?$/, '/');
  return { c: client, track: control.startsWith('rtsp://') ? control : `${base}${control}` };
}

/** OPTIONS → DESCRIBE → SETUP (TCP interleaved) → PLAY; resolves once PLAY is answered. */
async function play(port: number, path: string): Promise<RawRtspClient> {
  const c = await RawRtspClient.open(port);
  try {
    const url = `rtsp://127.0.0.1:${port}${path}`;
    c.request('OPTIONS', url, 1);
    expectStatus('OPTIONS', (await c.response(20_000)).status);
    const { track } = await describe(port, path, 2, c);
    c.request('SETUP', track, 3, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    const s = await c.response(20_000);
    expectStatus('SETUP', s.status);
    const session = (s.headers.get('session') ?? '').split(';')[0]!;
    c.request('PLAY', url, 4, { Session: session, Range: 'npt=0-' });
    expectStatus('PLAY', (await c.response(20_000)).status);
    return c;
  } catch (err) {
    c.destroy();
    throw err;
  }
}

/** A player whose bytes are only counted from now on (the test client would buffer them all). */
function counting(c: RawRtspClient): { bytes: () => number } {
  let bytes = 0;
  c.socket.removeAllListeners('data');
  c.socket.on('data', (d: Buffer) => (bytes += d.length));
  return { bytes: () => bytes };
}

interface Flow {
  bytes: number;
  seconds: number;
  cpu: number;
}

/** N players of the raw mount through `port` for `seconds`; CPU of `pid` over the window. */
async function flow(port: number, pid: number, players: number, seconds: number): Promise<Flow> {
  const clients = await Promise.all(Array.from({ length: players }, () => play(port, RAW_PATH)));
  try {
    const counters = clients.map(counting);
    await sleep(1000); // every pipeline to the players running
    const b0 = counters.reduce((a, x) => a + x.bytes(), 0);
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const c1 = cpuSeconds(pid);
    const b1 = counters.reduce((a, x) => a + x.bytes(), 0);
    return { bytes: b1 - b0, seconds: (performance.now() - t0) / 1000, cpu: c1 - c0 };
  } finally {
    for (const c of clients) c.destroy();
    await sleep(500);
  }
}

const cpuPerGb = (r: Flow) => r.cpu / (r.bytes / 1e9);
const mbs = (r: Flow) => r.bytes / r.seconds / 1e6;

/** K sequential setups through `port`: milliseconds from connect to the PLAY answer. */
async function setups(port: number, k: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < k; i++) {
    const t0 = performance.now();
    const c = await play(port, SETUP_PATH);
    ms.push(performance.now() - t0);
    c.destroy();
  }
  return ms;
}

/** A process started with the memory probe (test/fixtures/memory-probe.ts) and --expose-gc: its live heap. */
interface HeapProbe {
  env: Record<string, string>;
  /** Bytes of V8 heap in use right after a full collection. */
  liveHeap(pid: number): Promise<number>;
}

function heapProbe(name: string): HeapProbe {
  const file = join(mkdtempSync(join(tmpdir(), `rtsp-bench-${name}-`)), 'memory.json');
  return {
    env: {
      NODE_OPTIONS: `--expose-gc --import ${pathToFileURL(join(FIXTURES_DIST, 'memory-probe.js')).href}`,
      MEMORY_PROBE_FILE: file,
    },
    async liveHeap(pid: number) {
      const asked = Date.now();
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; i < 500; i++) {
        await sleep(20);
        try {
          const sample = JSON.parse(readFileSync(`${file}.gc`, 'utf8')) as { at: number; heapUsed: number };
          if (sample.at >= asked) return sample.heapUsed;
        } catch {
          // not written yet (or being written)
        }
      }
      throw new Error(`no heap sample from ${name}`);
    },
  };
}

interface IdleSteps {
  /** RSS growth per connection over the first step (a fresh process: includes its heap's growth). */
  first: number;
  /** RSS growth per connection over the second step. */
  further: number;
  /** Live heap (after a full collection) per connection over both steps. */
  heap?: number;
}

/**
 * Connections through `port` that stop after DESCRIBE, in steps of `m` each, all held open; RSS growth of `pid`
 * per connection of each step, measured 2 s after its last connection, and with `probe` the live heap.
 */
async function idle(port: number, pid: number, m: number, steps: 1 | 2, probe?: HeapProbe): Promise<IdleSteps> {
  await sleep(1000);
  const heap0 = await probe?.liveHeap(pid);
  const rss = [rssBytes(pid)];
  const clients: RawRtspClient[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      // In batches, so the origin is not flooded with hundreds of DESCRIBEs at once.
      for (let i = 0; i < m; i += 25) {
        const batch = await Promise.all(Array.from({ length: Math.min(25, m - i) }, () => describe(port, SETUP_PATH, 1)));
        clients.push(...batch.map((b) => b.c));
      }
      await sleep(2000);
      rss.push(rssBytes(pid));
    }
    const heap1 = await probe?.liveHeap(pid);
    if (clients.some((c) => c.closed)) throw new Error(`${clients.filter((c) => c.closed).length} idle connections were closed`);
    return {
      first: (rss[1]! - rss[0]!) / m,
      further: steps === 2 ? (rss[2]! - rss[1]!) / m : NaN,
      ...(heap0 !== undefined && heap1 !== undefined ? { heap: (heap1 - heap0) / clients.length } : {}),
    };
  } finally {
    for (const c of clients) c.destroy();
    await sleep(500);
  }
}

function summary(ms: number[]): { p50: number; p95: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95) };
}

export async function rtspBench(ctx: BenchContext): Promise<BenchReport> {
  const stops: (() => Promise<void> | void)[] = [];
  try {
    const origin = await RtspOrigin.start({ play: [SETUP_PATH], playRaw: [RAW_PATH], size: SIZE });
    stops.push(() => origin.stop());
    // One direct player holds each mount for the whole run: GStreamer unprepares a shared media when its last
    // client leaves, and a client arriving meanwhile is dropped (and would pay the pipeline start).
    for (const path of [SETUP_PATH, RAW_PATH]) {
      const holder = await play(origin.port, path);
      counting(holder);
      stops.push(() => holder.destroy());
    }
    // No active health probes: the registration names a dummy RTMP port, whose refused probes would mark the
    // origin down in the middle of a run (its relays closed, setups refused until the next registration).
    const env = { PROXY_LOG_LEVEL: 'info', PROXY_IDLE_TIMEOUT: '10m', PROXY_HEALTH_INTERVAL: '0' };
    const proxy = await startProxy({ env });
    stops.push(() => proxy.stop());
    stops.push(await keepRegistered(proxy, origin.port));
    const relayPort = await freePort();
    const relay: Peer = startPeer('tcp relay', process.execPath, [RELAY, String(relayPort), '127.0.0.1', String(origin.port)]);
    stops.push(() => relay.stop());
    await waitForTcp(relayPort);
    const proxyPid = proxy.peer.pid;
    const relayPid = relay.pid;

    const players = ctx.quick ? 4 : 12;
    const seconds = ctx.quick ? 4 : 15;
    const rounds = ctx.quick ? 1 : 2;
    // Warm-up: JIT, the origin's pipelines.
    await flow(proxy.ports.rtsp, proxyPid, 2, 1);
    await flow(relayPort, relayPid, 2, 1);
    // The machine is shared: each CPU figure is the lower of `rounds` runs, the ways alternating.
    const best: Partial<Record<'proxy' | 'relay', Flow>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const [way, port, pid] of [
        ['relay', relayPort, relayPid],
        ['proxy', proxy.ports.rtsp, proxyPid],
      ] as const) {
        const f = await flow(port, pid, players, seconds);
        if (!best[way] || cpuPerGb(f) < cpuPerGb(best[way])) best[way] = f;
      }
    }
    const fp = best.proxy!;
    const fr = best.relay!;
    // What each process burns with no player at all over the same window (timers, the registration API).
    const quiet = { proxy: await flow(proxy.ports.rtsp, proxyPid, 0, seconds), relay: await flow(relayPort, relayPid, 0, seconds) };
    const netPerGb = (f: Flow, q: Flow) => (f.cpu - (q.cpu * f.seconds) / q.seconds) / (f.bytes / 1e9);

    // Setup latency against the mount kept prepared by its holder.
    const k = ctx.quick ? 20 : 200;
    await setups(proxy.ports.rtsp, 10);
    await setups(origin.port, 10);
    const setupDirect: number[] = [];
    const setupProxy: number[] = [];
    for (let r = 0; r < 2; r++) {
      setupDirect.push(...(await setups(origin.port, k / 2)));
      setupProxy.push(...(await setups(proxy.ports.rtsp, k / 2)));
    }
    const sd = summary(setupDirect);
    const sp = summary(setupProxy);

    // Idle connections on fresh processes, in two steps of m: the first includes the process's young-generation
    // growth (V8 enlarges its semi-spaces as allocation goes on; a process that carried load has done so already),
    // the second is what each further connection costs. Live heap per connection from a full collection before
    // and after. A third fresh proxy with 1 MB semi-spaces shows how much of the first step that growth is.
    const m = ctx.quick ? 100 : 500;
    const idleProxy = async (name: string, nodeOptions: string, steps: 1 | 2): Promise<IdleSteps> => {
      const probe = heapProbe(name);
      const p = await startProxy({ env: { ...env, ...probe.env, NODE_OPTIONS: `${nodeOptions} ${probe.env.NODE_OPTIONS}`.trim() } });
      try {
        const stopRegistering = await keepRegistered(p, origin.port);
        try {
          return await idle(p.ports.rtsp, p.peer.pid, m, steps, probe);
        } finally {
          stopRegistering();
        }
      } finally {
        await p.stop();
      }
    };
    const rssProxy = await idleProxy('proxy', '', 2);
    const rssSmallYoung = await idleProxy('proxy-semi1', '--max-semi-space-size=1', 1);
    const freshRelayPort = await freePort();
    const freshRelay = startPeer('tcp relay (idle)', process.execPath, [RELAY, String(freshRelayPort), '127.0.0.1', String(origin.port)]);
    stops.push(() => freshRelay.stop());
    await waitForTcp(freshRelayPort);
    const rssRelay = await idle(freshRelayPort, freshRelay.pid, m, 2);

    const cpuRatio = cpuPerGb(fp) / cpuPerGb(fr);
    const setupOverhead = sp.p50 - sd.p50;
    const rows = [
      [
        `${players} players × ${seconds} s of uncompressed ${SIZE} video (TCP interleaved): CPU per GB delivered`,
        `${f2(cpuPerGb(fp))} CPU-s/GB`,
        `${f2(cpuPerGb(fr))} CPU-s/GB (plain Node TCP relay)`,
        `${f2(cpuRatio)}×`,
        `${f1(mbs(fp))} MB/s delivered through the proxy (${f2(fp.bytes / 1e9)} GB), ${f1(mbs(fr))} MB/s through the relay (${f2(fr.bytes / 1e9)} GB); lower of ${rounds} runs each; less each process's CPU with no player over as long: proxy ${f2(netPerGb(fp, quiet.proxy))}, relay ${f2(netPerGb(fr, quiet.relay))} CPU-s/GB (${f2(netPerGb(fp, quiet.proxy) / netPerGb(fr, quiet.relay))}×)`,
      ],
      [
        `${k} sequential connect → PLAY answered (OPTIONS, DESCRIBE, SETUP, PLAY)`,
        `p50 ${f2(sp.p50)} ms, p95 ${f2(sp.p95)} ms`,
        `p50 ${f2(sd.p50)} ms, p95 ${f2(sd.p95)} ms (direct)`,
        `${sign(setupOverhead)} ms p50, ${sign(sp.p95 - sd.p95)} ms p95`,
        'alternating halves, direct first',
      ],
      [
        `${m} idle connections after DESCRIBE, then ${m} more (all held): RSS per further proxied connection (client + origin leg)`,
        `${f1(rssProxy.further / 1024)} KB`,
        `${f1(rssRelay.further / 1024)} KB (plain Node TCP relay)`,
        `${f2(rssProxy.further / rssRelay.further)}×`,
        `fresh process each; RSS delta of the second step ÷ ${m}. The first ${m} on the fresh process: ${f1(rssProxy.first / 1024)} KB each through the proxy (${f1(rssSmallYoung.first / 1024)} KB with --max-semi-space-size=1), ${f1(rssRelay.first / 1024)} KB through the relay. Live heap after a full GC: ${f1((rssProxy.heap ?? NaN) / 1024)} KB per proxied connection`,
      ],
    ];
    return {
      headers: ['load', 'origin-proxy', 'baseline (same run)', 'ratio / overhead', 'notes'],
      rows,
      notes: [
        targetsLine([
          { target: 'interleaved relay CPU per GB ≤ 1.5× the plain relay', measured: `${f2(cpuRatio)}×`, ok: ctx.quick ? undefined : cpuRatio <= 1.5 },
          { target: 'setup overhead ≤ 3 ms p50', measured: `${sign(setupOverhead)} ms`, ok: ctx.quick ? undefined : setupOverhead <= 3 },
          {
            target: '≤ 40 KB RSS per idle proxied RTSP connection',
            measured: `${f1(rssProxy.further / 1024)} KB per further connection (${f1(rssProxy.first / 1024)} KB for the first ${m} on a fresh process)`,
            ok: ctx.quick ? undefined : rssProxy.further / 1024 <= 40,
          },
        ]),
        `Origin: one GStreamer RTSP server (test/fixtures/rtsp-origin.py, shared media) serving ${RAW_PATH} as uncompressed I420 ${SIZE} at 25 fps (RFC 4175, ~2.9 MB/s per player, no encoder cost) and ${SETUP_PATH} as a 300 kbps H.264 test pattern, each mount held by one direct player for the whole run. Players are raw RTSP clients in the benchmark process, on the same 2 cores as the origin and the relay.`,
      ],
    };
  } finally {
    for (const s of stops.reverse()) await s();
  }
}
