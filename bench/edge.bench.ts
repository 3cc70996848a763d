// Benchmark: edge mode (PROXY_EDGE). One publisher of a ~2 Mb/s stream on nginx-rtmp; N RTMP + N HTTP-FLV
// players of it through one proxy, in a load process that only counts bytes (bench/lib/edge-load.ts).
// Measured in one run: the origin's play connections from the proxy (edge on vs off, counted with `ss`),
// the share of the media each player received, the proxy's CPU per GB delivered against a plain Node TCP
// fan-out of the same stream to 2N clients (bench/baseline/tcp-fanout.ts, fed by ffmpeg), and a late
// player's first keyframe (edge on: from the GOP cache; off: the origin's next keyframe).
// EDGE_BENCH_PLAYERS=N sets N (default 200; --quick: 20).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../test/fixtures/ports.js';
import { REPO_ROOT, tempDir } from '../test/fixtures/paths.js';
import { startPeer, waitForTcp, type Peer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../test/fixtures/proxy.js';
import { RtmpTestClient } from '../test/fixtures/rtmp-client.js';
import type { EdgeStats } from '../src/edge/types.js';
import { MessageType } from '../src/rtmp/messages.js';
import { makeNoisyFlv } from './lib/media.js';
import { fmt, targetsLine } from './lib/stats.js';
import { startBenchNginx } from './rtmp.bench.js';
import type { BenchContext, BenchReport } from './run.js';
import { readFileSync } from 'node:fs';

const LOAD = join(REPO_ROOT, 'dist', 'bench', 'lib', 'edge-load.js');
const FANOUT = join(REPO_ROOT, 'dist', 'bench', 'baseline', 'tcp-fanout.js');

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Established TCP connections to 127.0.0.1:port (as the server side sees them). */
function connectionsTo(port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`]).toString();
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

interface LoadResult {
  receiving: number;
  failed: number;
  window: number[];
}

/** Runs the load process; `atStart`/`atEnd` are called at the measured window's edges. */
async function runLoad(opts: Record<string, unknown>, atStart: () => unknown, atEnd: () => unknown): Promise<LoadResult> {
  const peer: Peer = startPeer('edge load', process.execPath, [LOAD, JSON.stringify(opts)]);
  await peer.waitForOutput(/"phase":"window-start"/, 120_000);
  await atStart();
  await peer.waitForOutput(/"phase":"done"/, 120_000);
  await atEnd();
  await peer.exited;
  const line = peer.output
    .trim()
    .split('\n')
    .filter((l) => l.includes('"phase":"done"'))
    .pop()!;
  return JSON.parse(line) as LoadResult;
}

async function edgeStats(proxy: RunningProxy): Promise<EdgeStats | undefined> {
  const s = (await proxy.stats()) as unknown as { detail: { edge?: EdgeStats } };
  return s.detail.edge;
}

/** Milliseconds from sending play to the first video keyframe. */
async function firstKeyframeMs(url: string, name: string): Promise<number> {
  const { client } = await RtmpTestClient.open(url);
  const id = await client.createStream();
  const t0 = performance.now();
  client.invoke('play', null, [name], id, 0);
  await client.waitFor((m) => m.type === MessageType.Video && m.payload[0]! >> 4 === 1 && m.payload[1] === 1, 0, 10_000);
  const ms = performance.now() - t0;
  client.close();
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** ffmpeg's arguments to send `flv` in real time, looped forever, to `url` as FLV. */
function loopedFlv(flv: string, url: string): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', flv, '-c', 'copy', '-f', 'flv', url];
}

export async function edgeBench(ctx: BenchContext): Promise<BenchReport> {
  const n = ctx.quick ? 20 : Number(process.env.EDGE_BENCH_PLAYERS ?? 200);
  const windowMs = ctx.quick ? 5000 : 20_000;
  const warmupMs = 3000;
  const tmp = tempDir('edge-bench');
  const flv = await makeNoisyFlv(tmp.dir, { noise: 20, rate: '2M', cbr: true });
  const nginx = await startBenchNginx(tmp.dir, 60000);
  const publisher = startPeer('edge publisher', 'ffmpeg', loopedFlv(flv, `rtmp://127.0.0.1:${nginx.port}/live/s`));
  const rows: string[][] = [];
  const notes: string[] = [];
  const figures: Record<string, number> = {};
  try {
    for (const edge of ['on', 'off'] as const) {
      const proxy = await startProxy({
        env: { PROXY_EDGE: edge, PROXY_LOG_LEVEL: 'info', PROXY_ORIGIN_EXPIRE: '1h', PROXY_MAX_CONNECTIONS_PER_IP: '100000' },
      });
      await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'nginx', service: 's', pid: '1', rtmp: [String(nginx.port)] });
      // The stream is up once a player gets a keyframe.
      for (let i = 0; ; i++) {
        try {
          await firstKeyframeMs(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/s`, 's');
          break;
        } catch (err) {
          if (i > 40) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const pid = proxy.peer.pid!;
      let cpu0 = 0;
      let cpu1 = 0;
      let up0 = 0;
      let up1 = 0;
      let origin = 0;
      const load = await runLoad(
        { host: '127.0.0.1', rtmpPort: proxy.ports.rtmp, httpPort: proxy.ports.httpServer, app: 'live', stream: 's', n, warmupMs, windowMs },
        async () => {
          cpu0 = cpuSeconds(pid);
          origin = connectionsTo(nginx.port) - 1; // the publisher
          up0 = (await edgeStats(proxy))?.upstreamBytes ?? 0;
        },
        async () => {
          cpu1 = cpuSeconds(pid);
          up1 = (await edgeStats(proxy))?.upstreamBytes ?? 0;
        },
      );
      await new Promise((r) => setTimeout(r, 200));
      const late = [];
      for (let i = 0; i < 5; i++) late.push(await firstKeyframeMs(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/s`, 's'));
      const delivered = load.window.reduce((a, b) => a + b, 0);
      const cpuPerGb = (cpu1 - cpu0) / (delivered / 1e9);
      const expected = edge === 'on' ? up1 - up0 : median(load.window);
      const shares = load.window.map((b) => b / expected);
      const minShare = Math.min(...shares);
      figures[`cpu-${edge}`] = cpuPerGb;
      figures[`late-${edge}`] = median(late);
      figures[`origin-${edge}`] = origin;
      figures[`share-${edge}`] = minShare;
      rows.push([
        `proxy, edge ${edge}`,
        `${n} + ${n}`,
        String(origin),
        `${load.receiving}/${2 * n}`,
        edge === 'on' ? `${fmt(minShare * 100, 1)} % (median ${fmt(median(shares) * 100, 1)} %)` : '—',
        fmt((delivered / 1e6 / windowMs) * 1000, 1),
        fmt(cpuPerGb, 2),
        `${fmt(median(late), 1)} (max ${fmt(Math.max(...late), 1)})`,
      ]);
      await proxy.stop();
    }
    // Baseline: ffmpeg sends the same FLV in real time to a plain Node fan-out, 2N raw clients read it.
    const [sourcePort, clientPort] = [await freePort(), await freePort()];
    const fanout = startPeer('tcp fan-out', process.execPath, [FANOUT, String(sourcePort), String(clientPort)]);
    await waitForTcp(clientPort);
    const feeder = startPeer('fan-out feeder', 'ffmpeg', loopedFlv(flv, `tcp://127.0.0.1:${sourcePort}`));
    let cpu0 = 0;
    let cpu1 = 0;
    const load = await runLoad(
      { host: '127.0.0.1', rawPort: clientPort, app: 'live', stream: 's', n, warmupMs, windowMs },
      () => (cpu0 = cpuSeconds(fanout.pid!)),
      () => (cpu1 = cpuSeconds(fanout.pid!)),
    );
    const delivered = load.window.reduce((a, b) => a + b, 0);
    const cpuPerGb = (cpu1 - cpu0) / (delivered / 1e9);
    figures['cpu-fanout'] = cpuPerGb;
    rows.push([
      'plain Node TCP fan-out',
      `${2 * n} raw`,
      '—',
      `${load.receiving}/${2 * n}`,
      '—',
      fmt((delivered / 1e6 / windowMs) * 1000, 1),
      fmt(cpuPerGb, 2),
      '—',
    ]);
    await feeder.stop();
    await fanout.stop();
  } finally {
    await publisher.stop();
    await nginx.peer.stop();
    tmp.remove();
  }
  const cpuRatio = figures['cpu-on']! / figures['cpu-fanout']!;
  notes.push(
    `Edge on: proxy CPU per GB delivered = ${fmt(cpuRatio, 2)}× the plain Node TCP fan-out of the same stream (target ≤ 1.3×).`,
    `Media share: bytes each player received in the ${windowMs / 1000} s window ÷ bytes the proxy's upstream read in it (each message carries a full 12-byte RTMP chunk header or a 15-byte FLV tag header where the origin's compressed headers took 1–8, and the window edges are up to one 40 ms batch apart: up to ~1.5 % over 100 %); lowest player shown.`,
    `Late player: play sent → first keyframe, median of 5 (edge on: from the GOP cache; edge off: the origin's next keyframe, GOP 2 s).`,
    'Origin connections: established connections to nginx-rtmp minus the publisher, counted with ss in the window. With edge off the HTTP-FLV players are refused (the bench origin registers RTMP only; edge mode reaches it over RTMP for FLV players too), so edge off shows the RTMP half: one origin connection per player.',
    'The proxy hands out media in batches at most every 40 ms (≤ 25 writes per player per second); the fan-out writes every chunk ffmpeg sends (its 32 KiB output buffer: ~8 per second at 2 Mb/s) but reads no protocol. Before batching, the same run gave 1.41× (one write per origin message).',
    'The machine is shared with other helpers and their builds/tests: CPU figures are noisy; the ratio is what counts.',
    targetsLine([
      { target: 'origin play connections with edge on = 1', measured: String(figures['origin-on']), ok: figures['origin-on'] === 1 },
      { target: 'media received ≥ 99 %', measured: `${fmt(figures['share-on']! * 100, 1)} %`, ok: figures['share-on']! >= 0.99 },
      { target: 'CPU per GB ≤ 1.3× TCP fan-out', measured: `${fmt(cpuRatio, 2)}×`, ok: cpuRatio <= 1.3 },
      { target: 'late player first keyframe ≤ 100 ms', measured: `${fmt(figures['late-on']!, 1)} ms`, ok: figures['late-on']! <= 100 },
    ]),
  );
  return {
    headers: [
      'setup',
      'players (RTMP + FLV)',
      'origin play connections',
      'receiving',
      'media received (lowest)',
      'delivered MB/s',
      'CPU s per GB',
      'late player first keyframe ms',
    ],
    rows,
    notes,
  };
}
