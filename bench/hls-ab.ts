// Interleaved A/B of the HLS request path on a loaded machine (not part of `npm run bench`): this build's proxy
// (A), another build's proxy (B, HLS_AB_OTHER=<path to its dist/src/main.js>) and the plain node:http relay run
// side by side against one static nginx; short windows (1 s) rotate between them for many rounds, so load
// swings from other processes fall on all three alike. Prints CPU per playlist request and CPU per GB of
// segments, summed over the rounds, and each as a ratio to the relay.
// Usage (after `npm run build`): HLS_AB_OTHER=/path/dist/src/main.js [HLS_AB_ONLY=playlist|segment] node dist/bench/hls-ab.js [rounds]
import { join } from 'node:path';
import { FIXTURES_DIST, tempDir } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer, stopAllPeers, waitForTcp, type Peer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy } from '../test/fixtures/proxy.js';
import { startStaticHls } from './http.bench.js';
import { httpLoad } from './lib/http-load.js';
import { measureCpu } from './lib/proc.js';

const BASELINE_DIST = join(FIXTURES_DIST, '..', '..', 'bench', 'baseline');

/** Another build's proxy, every listener on a free loopback port. */
async function startOther(main: string): Promise<{ peer: Peer; http: string; api: string }> {
  const names = ['RTMP_SERVER', 'HTTP_SERVER', 'HTTP_API', 'WEBRTC_SERVER', 'SRT_SERVER', 'SYSTEM_API', 'RTSP_SERVER'];
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
  const ports: Record<string, number> = {};
  for (const n of names) env[`PROXY_${n}`] = `127.0.0.1:${(ports[n] = await freePort())}`;
  Object.assign(env, { PROXY_LOG_LEVEL: 'info', PROXY_LOG_FORMAT: 'json', PROXY_HLS_CACHE_MAX: '0' });
  const peer = startPeer('other proxy', process.execPath, [main], { env });
  await peer.waitForOutput(/origin-proxy started/, 30_000);
  return { peer, http: `http://127.0.0.1:${ports.HTTP_SERVER}`, api: `http://127.0.0.1:${ports.SYSTEM_API}` };
}

async function main(): Promise<void> {
  const other = process.env.HLS_AB_OTHER;
  if (!other) throw new Error('set HLS_AB_OTHER to the other build’s dist/src/main.js');
  const rounds = Number(process.argv[2] ?? '10');
  const dir = tempDir('hls-ab');
  try {
    const nginx = await startStaticHls(dir.dir);
    const a = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_HLS_CACHE_MAX: '0' } });
    const b = await startOther(other);
    const relayPort = await freePort();
    const relay = startPeer('http relay', process.execPath, [join(BASELINE_DIST, 'http-relay.js'), String(relayPort), '127.0.0.1', String(nginx.port)]);
    await waitForTcp(relayPort);
    const origin = { ip: '127.0.0.1', server: 'ng', service: 's', pid: '1', rtmp: [String(nginx.port)], http: [String(nginx.port)] };
    const who: { name: string; pid: number; url: string; segment: string }[] = [];
    for (const [name, pid, url, api] of [
      ['A (this build)', a.peer.pid, a.httpServer, a.systemApi],
      ['B (HLS_AB_OTHER)', b.peer.pid, b.http, b.api],
    ] as const) {
      await registerOrigin(api, origin);
      const text = await (await fetch(`${url}/live/bench.m3u8`)).text();
      const seg = text.split('\n').find((l) => l.startsWith('bench-104.ts'));
      if (!seg) throw new Error(`${name} did not answer the playlist: ${text.slice(0, 200)}`);
      who.push({ name, pid, url, segment: `/live/${seg.trim()}` });
    }
    who.push({ name: 'relay', pid: relay.pid, url: `http://127.0.0.1:${relayPort}`, segment: '/live/bench-104.ts' });
    const sums = new Map<string, { cpu: number; requests: number; bytes: number; errors: number }>();
    const load = async (kind: 'playlist' | 'segment', w: (typeof who)[number], ms: number) => {
      const path = kind === 'playlist' ? '/live/bench.m3u8' : w.segment;
      return measureCpu(w.pid, () => httpLoad({ origin: w.url, concurrency: 16, durationMs: ms, request: () => ({ path, method: 'GET' }) }));
    };
    // HLS_AB_ONLY=playlist|segment measures one kind.
    const kinds = (['playlist', 'segment'] as const).filter((k) => !process.env.HLS_AB_ONLY || process.env.HLS_AB_ONLY === k);
    for (const kind of kinds) {
      for (const w of who) await load(kind, w, 500); // warm-up
      for (let r = 0; r < rounds; r++) {
        // Rotating order: no one always runs first or last in a round.
        for (let i = 0; i < who.length; i++) {
          const w = who[(i + r) % who.length]!;
          const m = await load(kind, w, 1000);
          const k = `${kind} ${w.name}`;
          const s = sums.get(k) ?? { cpu: 0, requests: 0, bytes: 0, errors: 0 };
          s.cpu += m.cpu;
          s.requests += m.result.requests;
          s.bytes += m.result.bytes;
          s.errors += m.result.errors;
          sums.set(k, s);
        }
      }
    }
    process.stdout.write(
      `rounds ${rounds} × 1 s each; load average now ${(await import('node:os'))
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}\n`,
    );
    for (const kind of kinds) {
      const relayS = sums.get(`${kind} relay`)!;
      const unit = (s: { cpu: number; requests: number; bytes: number }) => (kind === 'playlist' ? (s.cpu * 1e6) / s.requests : s.cpu / ((2 * s.bytes) / 1e9));
      for (const w of who) {
        const s = sums.get(`${kind} ${w.name}`)!;
        process.stdout.write(
          `${kind} ${w.name}: ${s.requests} requests, ${s.errors} errors, ${unit(s).toFixed(kind === 'playlist' ? 1 : 3)} ${kind === 'playlist' ? 'µs CPU/request' : 'CPU-s/GB'} (${(unit(s) / unit(relayS)).toFixed(2)}× relay)\n`,
        );
      }
    }
  } finally {
    await stopAllPeers();
    dir.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
