// CPU profiles of one HLS request kind under the http benchmark's load: the proxy and the plain node:http
// relay (bench/baseline/http-relay.ts), each run with --cpu-prof against the same static nginx origin,
// then summarised by scripts/profile-summary.mjs (self time by module and by function, µs per request).
// Usage (after `npm run build`): node dist/bench/profile-hls.js playlist|segment [seconds] [outDir]
// The proxy runs as the http benchmark runs it (info logs, no edge cache); extra PROXY_* settings via TEST_PROXY_ENV.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES_DIST, REPO_ROOT, tempDir } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer, stopAllPeers, waitForTcp } from '../test/fixtures/process.js';
import { registerOrigin, startProxy } from '../test/fixtures/proxy.js';
import { startStaticHls } from './http.bench.js';
import { httpLoad } from './lib/http-load.js';
import { measureCpu } from './lib/proc.js';

const BASELINE_DIST = join(FIXTURES_DIST, '..', '..', 'bench', 'baseline');

async function main(): Promise<void> {
  const kind = process.argv[2];
  if (kind !== 'playlist' && kind !== 'segment') throw new Error('usage: profile-hls.js playlist|segment [seconds] [outDir]');
  const seconds = Number(process.argv[3] ?? '8');
  const out = process.argv[4] ?? join(tmpdir(), `origin-proxy-profile-${kind}-${Date.now()}`);
  process.stdout.write(`profiles and summaries in ${out}\n`);
  const dir = tempDir('profile-hls');
  try {
    const nginx = await startStaticHls(dir.dir);
    const proxyDir = join(out, 'proxy');
    const relayDir = join(out, 'relay');
    mkdirSync(proxyDir, { recursive: true });
    mkdirSync(relayDir, { recursive: true });
    const proxy = await startProxy({
      env: { PROXY_LOG_LEVEL: 'info', PROXY_HLS_CACHE_MAX: '0' },
      nodeArgs: ['--cpu-prof', '--cpu-prof-dir', proxyDir, ...(process.env.PROFILE_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    });
    const relayPort = await freePort();
    const relay = startPeer('http relay', process.execPath, [
      '--cpu-prof',
      '--cpu-prof-dir',
      relayDir,
      join(BASELINE_DIST, 'http-relay.js'),
      String(relayPort),
      '127.0.0.1',
      String(nginx.port),
    ]);
    await waitForTcp(relayPort);
    // Active probes connect to the origin's RTMP port: nginx's own port stands in for it, so the origin stays
    // up (with a closed port it went down after two probes and every request took the down-origin path).
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'ng', service: 's', pid: '1', rtmp: [String(nginx.port)], http: [String(nginx.port)] });
    const proxied = await (await fetch(`${proxy.httpServer}/live/bench.m3u8`)).text();
    const segmentLine = proxied.split('\n').find((l) => l.startsWith('bench-104.ts'));
    if (!segmentLine) throw new Error(`the proxy did not answer the playlist: ${proxied.slice(0, 200)}`);
    const paths =
      kind === 'playlist' ? { proxy: '/live/bench.m3u8', relay: '/live/bench.m3u8' } : { proxy: `/live/${segmentLine.trim()}`, relay: '/live/bench-104.ts' };
    const now = () => String(process.hrtime.bigint() / 1000n);
    const run = async (name: string, pid: number, origin: string, path: string) => {
      // A short warm-up (JIT, pools), then the measured window that the summary is cut to.
      await httpLoad({ origin, concurrency: 16, durationMs: 1000, request: () => ({ path, method: 'GET' }) });
      const from = now();
      const r = await measureCpu(pid, () => httpLoad({ origin, concurrency: 16, durationMs: seconds * 1000, request: () => ({ path, method: 'GET' }) }));
      const unit =
        kind === 'playlist'
          ? `${((r.cpu * 1e6) / r.result.requests).toFixed(1)} µs CPU/request`
          : `${(r.cpu / ((2 * r.result.bytes) / 1e9)).toFixed(3)} CPU-s/GB`;
      process.stdout.write(
        `${name}: ${r.result.requests} requests, ${r.result.errors} errors, ${(r.result.bytes / 1e6).toFixed(0)} MB, cpu ${r.cpu.toFixed(2)} s, ${unit}\n`,
      );
      return { requests: r.result.requests, from, to: now() };
    };
    // PROFILE_PRELOAD=<seconds>: that much playlist load on both first (as the http benchmark runs playlists before segments).
    const preload = Number(process.env.PROFILE_PRELOAD ?? '0') * 1000;
    if (preload > 0) {
      for (const origin of [`http://127.0.0.1:${relayPort}`, proxy.httpServer])
        await httpLoad({ origin, concurrency: 16, durationMs: preload, request: () => ({ path: '/live/bench.m3u8', method: 'GET' }) });
    }
    const relayRun = await run('relay', relay.pid, `http://127.0.0.1:${relayPort}`, paths.relay);
    const proxyRun = await run('proxy', proxy.peer.pid, proxy.httpServer, paths.proxy);
    if (process.env.PROFILE_DUMP) writeFileSync(process.env.PROFILE_DUMP, proxy.peer.output);
    // Origin state changes and warnings during the run (a probe failing would change the path taken).
    for (const line of proxy.peer.output.split('\n'))
      if (/"level":"(warn|error)"|state changed|origin down/.test(line)) process.stdout.write(`proxy log: ${line.slice(0, 300)}\n`);
    await relay.stop(30_000);
    await proxy.peer.stop(30_000);
    await nginx.peer.stop();
    for (const [name, d, w] of [
      ['relay', relayDir, relayRun],
      ['proxy', proxyDir, proxyRun],
    ] as const) {
      const file = readdirSync(d).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no profile written by the ${name}`);
      const summary = execFileSync(
        process.execPath,
        [join(REPO_ROOT, 'scripts', 'profile-summary.mjs'), join(d, file), '--per', String(w.requests), '--top', '60', '--from', w.from, '--to', w.to],
        {
          encoding: 'utf8',
        },
      );
      writeFileSync(join(out, `${name}.txt`), summary);
      process.stdout.write(`\n== ${name} ==\n${summary}`);
    }
  } finally {
    await stopAllPeers();
    dir.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`profile failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
