// Benchmark: the HLS/DASH edge cache (PROXY_HLS_CACHE_MAX). (1) Many HLS players of one live stream
// (nginx-rtmp origin, ffmpeg publishing): origin requests per segment and per target duration, counted
// from the origin's access log, with the cache and without it. (2) Segment throughput: concurrent
// keep-alive clients fetching the newest segments, direct from nginx vs through the caching proxy.
// (3) Memory: 100 streams × 10 players of static HLS, cache bytes and proxy RSS against its bound.
import { execFileSync } from 'node:child_process';
import { linkSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { eventually, makeTestFlv, publish } from '../test/fixtures/media.js';
import { nginxOriginBody, startNginxRtmp, type NginxOrigin } from '../test/fixtures/nginx-rtmp.js';
import { tempDir } from '../test/fixtures/paths.js';
import { registerOrigin, startProxy, type RunningProxy } from '../test/fixtures/proxy.js';
import { parsePromText, samplesOf } from '../test/fixtures/prom-text.js';
import { cpuSeconds, rssBytes } from './lib/proc.js';
import { fmt, ratio, targetsLine, type Target } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

/** The body of a GET, read to its end (every byte counted: a load generator that stops early measures nothing). */
async function get(agent: Agent, url: string): Promise<{ status: number; body: Buffer }> {
  const res = await request(url, { dispatcher: agent });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return { status: res.statusCode, body: Buffer.concat(chunks) };
}

/** Segment URIs of a media playlist, in order. */
function segmentUris(playlist: string): string[] {
  return playlist
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** `players` HLS players (reload every half target duration, fetch each new segment) for `ms`; segments read per player. */
async function players(agent: Agent, playlistUrl: string, count: number, ms: number): Promise<number[]> {
  const base = playlistUrl.slice(0, playlistUrl.lastIndexOf('/') + 1);
  const until = Date.now() + ms;
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      // Players arrive spread over the first second, as real ones do.
      await new Promise((r) => setTimeout(r, (i * 1000) / count));
      const seen = new Set<string>();
      while (Date.now() < until) {
        const { status, body } = await get(agent, playlistUrl).catch(() => ({ status: 0, body: Buffer.alloc(0) }));
        const text = body.toString();
        const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1] ?? 2);
        if (status === 200) {
          for (const uri of segmentUris(text)) {
            const name = uri.replace(/\?.*$/, '');
            if (seen.has(name)) continue;
            const seg = await get(agent, base + uri).catch(() => undefined);
            if (seg?.status === 200) seen.add(name);
          }
        }
        await new Promise((r) => setTimeout(r, (target * 1000) / 2));
      }
      return seen.size;
    }),
  );
}

/** Origin access-log lines written since `from` (a line count). */
function logSince(o: NginxOrigin, from: number): string[] {
  return readFileSync(join(o.dir, 'logs', 'access.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(from);
}

function logLength(o: NginxOrigin): number {
  return readFileSync(join(o.dir, 'logs', 'access.log'), 'utf8')
    .split('\n')
    .filter(Boolean).length;
}

async function metric(proxy: RunningProxy, name: string, labels: Record<string, string> = {}): Promise<number> {
  return samplesOf(parsePromText(await (await fetch(`${proxy.systemApi}/metrics`)).text()), name, labels)[0]?.value ?? Number.NaN;
}

/** (1) Live players of one stream, with and without the cache: what the origin serves. */
async function coalescing(ctx: BenchContext, dir: string): Promise<{ rows: string[][]; targets: Target[]; notes: string[] }> {
  const count = ctx.quick ? 50 : 500;
  const seconds = ctx.quick ? 8 : 20;
  const origin = await startNginxRtmp();
  const cached = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_ORIGIN_EXPIRE: '600s' } });
  const uncached = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_ORIGIN_EXPIRE: '600s', PROXY_HLS_CACHE_MAX: '0' } });
  const pub = publish(await makeTestFlv(dir, 120), `rtmp://127.0.0.1:${origin.rtmpPort}/live/one`);
  const agent = new Agent({ connections: 1024 });
  try {
    for (const p of [cached, uncached]) await registerOrigin(p.systemApi, nginxOriginBody(origin));
    // The playlist's whole window out (5 × 2 s, and not an error page): both runs start from a full playlist.
    const first = await eventually(async () => {
      const { status, body } = await get(agent, `http://127.0.0.1:${origin.httpPort}/live/one.m3u8`);
      const text = body.toString();
      if (status !== 200 || (text.match(/#EXTINF/g) ?? []).length < 5) throw new Error('waiting for segments');
      return text;
    }, 60_000);
    const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(first)?.[1]);
    const rows: string[][] = [];
    const measured: Record<string, { perSegment: number; playlistsPerTarget: number; segments: number; cpu: number }> = {};
    for (const [label, proxy] of [
      ['cache on', cached],
      ['cache off', uncached],
    ] as const) {
      const from = logLength(origin);
      const cpu0 = cpuSeconds(proxy.peer.pid);
      const t0 = Date.now();
      const got = await players(agent, `${proxy.httpServer}/live/one.m3u8`, count, seconds * 1000);
      const elapsed = (Date.now() - t0) / 1000;
      const cpu = cpuSeconds(proxy.peer.pid) - cpu0;
      const lines = logSince(origin, from);
      const segLines = lines.filter((l) => /GET \/live\/one-\d+\.ts/.test(l));
      const distinct = new Set(segLines.map((l) => /GET (\/live\/one-\d+\.ts)/.exec(l)![1]));
      const playlists = lines.filter((l) => /GET \/live\/one\.m3u8/.test(l)).length;
      const m = {
        perSegment: segLines.length / distinct.size,
        playlistsPerTarget: playlists / (elapsed / target),
        segments: got.reduce((a, b) => a + b, 0) / got.length,
        cpu,
      };
      measured[label] = m;
      rows.push([
        `${count} HLS players × ${seconds} s, one live stream (${label})`,
        `${fmt(m.perSegment, 2)} origin requests per segment (${segLines.length} for ${distinct.size} segments)`,
        `${fmt(m.playlistsPerTarget, 2)} playlist requests per target duration (${target} s)`,
        `${fmt(m.segments, 1)} segments per player; proxy CPU ${fmt(cpu, 2)} s`,
      ]);
    }
    const on = measured['cache on']!;
    const off = measured['cache off']!;
    return {
      rows,
      targets: [
        { target: 'origin requests per segment per proxy (goal ≤ 1)', measured: fmt(on.perSegment, 2), ok: on.perSegment <= 1 },
        { target: 'playlist requests per target duration (goal ≤ 2)', measured: fmt(on.playlistsPerTarget, 2), ok: on.playlistsPerTarget <= 2 },
      ],
      notes: [
        `Segments read per player: ${fmt(on.segments, 1)} with the cache, ${fmt(off.segments, 1)} without (each player's first playlist lists the whole window, then one new segment per target duration); proxy CPU for the run ${fmt(on.cpu, 2)} s with the cache vs ${fmt(off.cpu, 2)} s without.`,
      ],
    };
  } finally {
    await agent.close();
    await pub.stop();
    await cached.stop();
    await uncached.stop();
    await origin.stop();
  }
}

/** Static HLS on an nginx origin that publishes nothing: `streams` copies (hard links) of one 5-segment live playlist. */
function staticHls(origin: NginxOrigin, dir: string, streams: number): { segmentBytes: number } {
  const src = join(dir, 'hls-src');
  execFileSync('mkdir', ['-p', src]);
  execFileSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440'],
      ...['-t', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '2M', '-g', '50', '-c:a', 'aac', '-f', 'hls', '-hls_time', '2'],
      ...['-hls_list_size', '0', '-hls_segment_filename', join(src, 's-%d.ts'), join(src, 's.m3u8')],
    ],
    { stdio: 'ignore' },
  );
  // A live playlist (no ENDLIST): players keep reloading it, as they would a live stream.
  const playlist = readFileSync(join(src, 's.m3u8'), 'utf8').replace('#EXT-X-ENDLIST\n', '');
  const segments = readdirSync(src).filter((f) => f.endsWith('.ts'));
  const hls = join(origin.dir, 'hls');
  for (let i = 0; i < streams; i++) {
    writeFileSync(join(hls, `st${i}.m3u8`), playlist.replaceAll('s-', `st${i}-`));
    for (const f of segments) linkSync(join(src, f), join(hls, f.replace('s-', `st${i}-`)));
  }
  const sizes = segments.map((f) => readFileSync(join(src, f)).length);
  return { segmentBytes: sizes.reduce((a, b) => a + b, 0) / sizes.length };
}

/** `clients` keep-alive loops fetching `urls` round-robin for `ms`: bytes per second received. */
async function segmentLoad(urls: string[], clients: number, ms: number): Promise<{ bytesPerSecond: number; errors: number; firstError: string }> {
  const agent = new Agent({ connections: clients });
  let bytes = 0;
  let errors = 0;
  let firstError = '';
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      for (let n = i; performance.now() < until; n++) {
        try {
          const { status, body } = await get(agent, urls[n % urls.length]!);
          if (status === 200) bytes += body.length;
          else {
            errors++;
            firstError ||= `status ${status}`;
          }
        } catch (err) {
          errors++;
          firstError ||= (err as Error).message;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  await agent.close();
  return { bytesPerSecond: bytes / elapsed, errors, firstError };
}

/** (2) Segment throughput direct vs through the caching proxy; (3) memory with 100 streams × 10 players. */
async function throughputAndMemory(ctx: BenchContext, dir: string): Promise<{ rows: string[][]; targets: Target[]; notes: string[] }> {
  // Cleanup off: nginx-rtmp would delete the hand-written fragments once they are older than a playlist.
  const origin = await startNginxRtmp({ hlsCleanup: false });
  const streams = 100;
  const { segmentBytes } = staticHls(origin, dir, streams);
  const capBytes = 64 * 1024 * 1024;
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_ORIGIN_EXPIRE: '600s', PROXY_HLS_CACHE_MAX: String(capBytes) } });
  const rows: string[][] = [];
  const targets: Target[] = [];
  try {
    await registerOrigin(proxy.systemApi, nginxOriginBody(origin));
    // The proxy's segment URLs carry a session id: one playlist request through it gives them.
    const agent = new Agent({ connections: 4 });
    const proxied = segmentUris((await get(agent, `${proxy.httpServer}/live/st0.m3u8`)).body.toString())
      .slice(-3)
      .map((u) => `${proxy.httpServer}/live/${u}`);
    const direct = proxied.map((u) => u.replace(proxy.httpServer, `http://127.0.0.1:${origin.httpPort}`).replace(/\?.*$/, ''));
    await agent.close();
    const clients = ctx.quick ? 50 : 500;
    const ms = ctx.quick ? 3_000 : 8_000;
    const rounds = ctx.quick ? 1 : 3;
    const d: number[] = [];
    const p: number[] = [];
    const failures: string[] = [];
    const note = (side: string, r: { bytesPerSecond: number; errors: number; firstError: string }) => {
      if (r.errors > 0) failures.push(`${side}: ${r.errors} failed requests (first: ${r.firstError})`);
      return r.bytesPerSecond;
    };
    let proxyCpu = 0;
    await segmentLoad(proxied, 16, 1_000); // warm: the segments are in the cache
    for (let r = 0; r < rounds; r++) {
      d.push(note('direct', await segmentLoad(direct, clients, ms)));
      const cpu0 = cpuSeconds(proxy.peer.pid);
      p.push(note('proxy', await segmentLoad(proxied, clients, ms)));
      proxyCpu += cpuSeconds(proxy.peer.pid) - cpu0;
    }
    // The lower middle value: with an even count the better of two rounds never stands in for the median.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    const dm = median(d);
    const pm = median(p);
    rows.push([
      `${clients} clients fetching the newest 3 segments (${fmt(segmentBytes / 1024)} kB each), keep-alive, ${ms / 1000} s × ${rounds}`,
      `${fmt(pm / 1e6, 1)} MB/s through the proxy (served from its cache)`,
      `${fmt(dm / 1e6, 1)} MB/s direct from nginx`,
      `${ratio(pm, dm)}; proxy CPU ${fmt(proxyCpu / ((pm * (ms / 1000) * rounds) / 1e9), 2)} s per GB`,
    ]);
    targets.push({ target: 'segment throughput through the proxy ÷ direct (goal ≥ 0.9)', measured: (pm / dm).toFixed(2), ok: pm / dm >= 0.9 });

    // (3) 100 streams × 10 players of static HLS: the cache at its bound.
    const rss0 = rssBytes(proxy.peer.pid);
    const playerAgent = new Agent({ connections: 1024 });
    const read = (
      await Promise.all(Array.from({ length: streams }, (_, s) => players(playerAgent, `${proxy.httpServer}/live/st${s}.m3u8`, 10, ctx.quick ? 4_000 : 10_000)))
    ).flat();
    await playerAgent.close();
    const stored = await metric(proxy, 'origin_proxy_hls_cache_bytes', { kind: 'stored' });
    const evictions = await metric(proxy, 'origin_proxy_hls_cache_evictions_total');
    const rss = rssBytes(proxy.peer.pid);
    rows.push([
      `${streams} streams × 10 players of static HLS (${streams * 5} segments, ${fmt((streams * 5 * segmentBytes) / 2 ** 20)} MiB in all), PROXY_HLS_CACHE_MAX=64 MiB`,
      `cache ${fmt(stored / 2 ** 20, 1)} MiB stored, ${evictions} evictions`,
      `proxy RSS ${fmt(rss0 / 2 ** 20)} → ${fmt(rss / 2 ** 20)} MiB`,
      `${fmt(read.reduce((a, b) => a + b, 0) / read.length, 1)} of 5 segments read per player; bounded by the budget, not by the streams`,
    ]);
    targets.push({ target: 'cache bytes within PROXY_HLS_CACHE_MAX (goal ≤ 64 MiB)', measured: `${fmt(stored / 2 ** 20, 1)} MiB`, ok: stored <= capBytes });
    return {
      rows,
      targets,
      notes: [...failures, `Segment MB/s per round: direct ${d.map((x) => fmt(x / 1e6)).join(', ')}; proxy ${p.map((x) => fmt(x / 1e6)).join(', ')}.`],
    };
  } finally {
    await proxy.stop();
    await origin.stop();
  }
}

export async function hlsCacheBench(ctx: BenchContext): Promise<BenchReport> {
  const tmp = tempDir('bench-hls-cache');
  try {
    const a = await coalescing(ctx, tmp.dir);
    const b = await throughputAndMemory(ctx, tmp.dir);
    return {
      headers: ['load', 'measure', 'baseline (same run)', 'ratio / notes'],
      rows: [...a.rows, ...b.rows],
      notes: [
        targetsLine([...a.targets, ...b.targets]),
        ...a.notes,
        ...b.notes,
        'The load generator (this process) shares the two cores with the proxy and nginx; other agents may load the machine too.',
      ],
    };
  } finally {
    tmp.remove();
  }
}
