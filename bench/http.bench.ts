// Benchmark: HTTP streaming through the proxy. (1) HTTP-FLV fan-out, 1 stream × 16 players at ~8 Mbps
// from node-media-server: direct, through a plain Node TCP relay, and through the proxy — CPU-seconds
// per GB relayed (in+out). (2) HLS playlist and segment requests/s over keep-alive at concurrency 16
// and 50 from nginx-rtmp: direct vs through the proxy.
import { get } from 'node:http';
import { join } from 'node:path';
import { eventually, makeTestFlv, publish } from '../test/fixtures/media.js';
import { startNginxRtmp } from '../test/fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../test/fixtures/nms.js';
import { FIXTURES_DIST, tempDir } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer, waitForTcp, type Peer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy } from '../test/fixtures/proxy.js';
import { httpLoad } from './lib/http-load.js';
import { makeNoisyFlv } from './lib/media.js';
import { measureCpu } from './lib/proc.js';
import { fmt, ratio, targetsLine, type Target } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

const PLAYERS = 16;
/** The SRS Go proxy's FLV fan-out cost (CPU-s/GB) against SRS origins: a figure from another run, not measured here. */
const GO_PROXY_FLV_CPU_PER_GB = 1.46;

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

async function flvFanOut(ctx: BenchContext, dir: string): Promise<{ rows: string[][]; targets: Target[] }> {
  const nms = await startNodeMediaServer();
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info' } });
  const relayPort = await freePort();
  const relay = startPeer('tcp relay', process.execPath, [
    join(FIXTURES_DIST, '..', '..', 'bench', 'baseline', 'tcp-relay.js'),
    String(relayPort),
    '127.0.0.1',
    String(nms.httpPort),
  ]);
  let pub: Peer | undefined;
  try {
    await waitForTcp(relayPort);
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
    const direct = await fanOut(`http://127.0.0.1:${nms.httpPort}/live/bench.flv`, PLAYERS, ms);
    const viaRelay = await measureCpu(relay.pid, () => fanOut(`http://127.0.0.1:${relayPort}/live/bench.flv`, PLAYERS, ms));
    const viaProxy = await measureCpu(proxy.peer.pid, () => fanOut(`${proxy.httpServer}/live/bench.flv`, PLAYERS, ms));
    // Every byte a player receives crossed the intermediary twice (origin → it → player).
    const perGb = (cpu: number, bytes: number) => cpu / ((2 * bytes) / 1e9);
    const relayPerGb = perGb(viaRelay.cpu, viaRelay.result);
    const proxyPerGb = perGb(viaProxy.cpu, viaProxy.result);
    const mbps = (b: number) => `${fmt((b * 8) / (ms / 1000) / 1e6 / PLAYERS, 1)} Mbps/player`;
    const rows = [
      ['FLV fan-out 1×16, direct', mbps(direct), '—', '—', 'origin alone'],
      ['FLV fan-out 1×16, plain TCP relay', mbps(viaRelay.result), `${relayPerGb.toFixed(2)} CPU-s/GB`, '1.00×', 'net pipe baseline'],
      [
        'FLV fan-out 1×16, origin-proxy',
        mbps(viaProxy.result),
        `${proxyPerGb.toFixed(2)} CPU-s/GB`,
        ratio(proxyPerGb, relayPerGb),
        `${ratio(proxyPerGb, GO_PROXY_FLV_CPU_PER_GB)} the Go proxy's ${GO_PROXY_FLV_CPU_PER_GB} CPU-s/GB (from another run, not measured here)`,
      ],
    ];
    const vsGo = proxyPerGb / GO_PROXY_FLV_CPU_PER_GB;
    const targets: Target[] = [
      {
        target: `FLV fan-out CPU per GB ≤ 0.80× the Go proxy's ${GO_PROXY_FLV_CPU_PER_GB} (a figure from another run)`,
        measured: `${vsGo.toFixed(2)}×`,
        ok: vsGo <= 0.8,
      },
    ];
    return { rows, targets };
  } finally {
    await pub?.stop();
    await relay.stop();
    await proxy.stop();
    await nms.stop();
  }
}

async function hlsRequests(ctx: BenchContext, dir: string): Promise<{ rows: string[][]; targets: Target[] }> {
  const nginx = await startNginxRtmp();
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info' } });
  let pub: Peer | undefined;
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'ng',
      service: 's',
      pid: '1',
      rtmp: [String(nginx.rtmpPort)],
      http: [String(nginx.httpPort)],
    });
    pub = publish(await makeTestFlv(dir, 10), `rtmp://127.0.0.1:${nginx.rtmpPort}/live/hls`);
    await eventually(
      async () => {
        const text = await (await fetch(`${proxy.httpServer}/live/hls.m3u8`)).text();
        if ((text.match(/\.ts/g) ?? []).length < 3) throw new Error('playlist not ready');
      },
      40_000,
      500,
    );
    const direct = `http://127.0.0.1:${nginx.httpPort}`;
    const durationMs = ctx.quick ? 1500 : 5000;
    /** The newest segment's path (with its session parameter when asked through the proxy). */
    const newestSegment = async (base: string) => {
      const lines = (await (await fetch(`${base}/live/hls.m3u8`)).text()).split('\n').filter((l) => l.includes('.ts'));
      return `/live/${lines[lines.length - 1]!.trim()}`;
    };
    const rows: string[][] = [];
    const playlistRatios: number[] = [];
    const segmentRatios: number[] = [];
    for (const concurrency of [16, 50]) {
      const load = (origin: string, path: string) => httpLoad({ origin, concurrency, durationMs, request: () => ({ path, method: 'GET' }) });
      const pd = await load(direct, '/live/hls.m3u8');
      const pp = await load(proxy.httpServer, '/live/hls.m3u8');
      rows.push([
        `HLS playlist, ${concurrency} conns`,
        `${fmt(pp.perSecond)} req/s`,
        `${fmt(pd.perSecond)} req/s direct`,
        ratio(pp.perSecond, pd.perSecond),
        `p50 ${pp.latency.p50.toFixed(2)} ms vs ${pd.latency.p50.toFixed(2)} ms; errors ${pp.errors}/${pd.errors}`,
      ]);
      playlistRatios.push(pp.perSecond / pd.perSecond);
      const sd = await load(direct, await newestSegment(direct));
      const sp = await load(proxy.httpServer, await newestSegment(proxy.httpServer));
      rows.push([
        `HLS segment (~130 KB), ${concurrency} conns`,
        `${fmt(sp.perSecond)} req/s`,
        `${fmt(sd.perSecond)} req/s direct`,
        ratio(sp.perSecond, sd.perSecond),
        `p50 ${sp.latency.p50.toFixed(2)} ms vs ${sd.latency.p50.toFixed(2)} ms; errors ${sp.errors}/${sd.errors}`,
      ]);
      segmentRatios.push(sp.perSecond / sd.perSecond);
    }
    const list = (xs: number[]) => xs.map((x) => `${x.toFixed(2)}×`).join(', ');
    const targets: Target[] = [
      { target: 'HLS playlist req/s ≥ 0.80× direct (16 and 50 conns)', measured: list(playlistRatios), ok: playlistRatios.every((x) => x >= 0.8) },
      { target: 'HLS segment req/s ≥ 0.90× direct (16 and 50 conns)', measured: list(segmentRatios), ok: segmentRatios.every((x) => x >= 0.9) },
    ];
    return { rows, targets };
  } finally {
    await pub?.stop();
    await proxy.stop();
    await nginx.stop();
  }
}

export async function httpBench(ctx: BenchContext): Promise<BenchReport> {
  const dir = tempDir('bench-http');
  try {
    const flv = await flvFanOut(ctx, dir.dir);
    const hls = await hlsRequests(ctx, dir.dir);
    return {
      headers: ['load', 'delivered / rate', 'cost or baseline', 'ratio', 'notes'],
      rows: [...flv.rows, ...hls.rows],
      notes: [
        targetsLine([...flv.targets, ...hls.targets]),
        'Origins: FLV from node-media-server (one ~8 Mbps stream published into it); HLS from nginx-rtmp (hls on, the stream published into it).',
        'FLV: CPU of the relaying process only (origin and players excluded), per GB in+out; the ratio column is proxy ÷ plain TCP relay.',
        'HLS: keep-alive undici clients in the bench process; the same machine runs origin, proxy and load (2 cores).',
      ],
    };
  } finally {
    dir.remove();
  }
}
