// The world a fuzz run (and the soak/flood benchmarks) needs: the proxy as a child process with a memory
// probe, real origins registered and kept alive by heartbeats (nginx-rtmp for RTMP/HLS, a fake WebRTC
// origin, a fake SRT origin), process figures, and the "does it still work" check: ffmpeg publishes over
// RTMP through the proxy and the HLS playlist and a segment are fetched through it.
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { FIXTURES_DIST, tempDir } from '../fixtures/paths.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { FakeOrigin as FakeSrtOrigin } from '../fixtures/srt-peers.js';
import { startFakeRtcOrigin, type FakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';

export const MAIN_ORIGIN = 'fuzz-main-origin';

export interface ProcessFigures {
  rssMb: number;
  heapUsedMb: number | undefined;
  fds: number;
}

export interface Heartbeats {
  sent: number;
  refused: number;
  /** Longest time one heartbeat took (ms). */
  slowestMs: number;
  /** The first few refusals or failures (status and body, or the error). */
  failures: string[];
  stop(): void;
}

export interface FuzzEnv {
  proxy: RunningProxy;
  nginx: NginxOrigin;
  rtc: FakeRtcOrigin;
  srtOrigin: FakeSrtOrigin;
  flv: string;
  heartbeats: Heartbeats;
  /** Register bodies heartbeated every second (the main origin first). */
  origins: Map<string, Record<string, unknown>>;
  figures(): ProcessFigures;
  close(): Promise<void>;
}

export interface EnvOptions {
  proxyEnv?: Record<string, string>;
}

export async function startFuzzEnv(options: EnvOptions = {}): Promise<FuzzEnv> {
  const work = tempDir('fuzz');
  const probeFile = join(work.dir, 'memory.json');
  const flv = await makeTestFlv(work.dir, 6);
  const proxy = await startProxy({
    env: {
      PROXY_LOG_LEVEL: 'info',
      // As shipped (npm start, the image): a 1 MB semi-space, so RSS growth reads the proxy's memory rather than
      // V8's young generation growing to its default 48 MB under the fuzzer's allocation rate.
      NODE_OPTIONS: `--max-semi-space-size=1 --import ${pathToFileURL(join(FIXTURES_DIST, 'memory-probe.js')).href}`,
      MEMORY_PROBE_FILE: probeFile,
      ...options.proxyEnv,
    },
  });
  const nginx = await startNginxRtmp();
  const rtc = await startFakeRtcOrigin();
  const srtOrigin = await FakeSrtOrigin.start('accept');
  const origins = new Map<string, Record<string, unknown>>();
  origins.set(MAIN_ORIGIN, {
    ip: '127.0.0.1',
    server: MAIN_ORIGIN,
    service: 'main',
    pid: '1',
    device_id: 'fuzz',
    rtmp: [String(nginx.rtmpPort)],
    http: [String(nginx.httpPort)],
    api: [String(rtc.apiPort)],
    rtc: [`udp://127.0.0.1:${rtc.udpPort}`],
    srt: [srtOrigin.endpoint()],
  });
  const heartbeats = startHeartbeats(proxy.systemApi, origins);
  await heartbeats.once();
  // The fixtures keep every request and datagram; a long run must not grow the runner without bound.
  const trim = setInterval(() => {
    rtc.requests.length = 0;
    rtc.datagrams.length = 0;
    srtOrigin.conclusions.length = 0;
    srtOrigin.inductions.length = 0;
    srtOrigin.inbox.received.length = 0;
  }, 2000);
  trim.unref();
  return {
    proxy,
    nginx,
    rtc,
    srtOrigin,
    flv,
    heartbeats,
    origins,
    figures: () => processFigures(proxy.peer.pid, probeFile),
    close: async () => {
      clearInterval(trim);
      heartbeats.stop();
      await proxy.stop();
      await nginx.stop();
      await rtc.close();
      srtOrigin.close();
      work.remove();
    },
  };
}

function startHeartbeats(systemApi: string, origins: Map<string, Record<string, unknown>>): Heartbeats & { once(): Promise<void> } {
  const hb = {
    sent: 0,
    refused: 0,
    slowestMs: 0,
    failures: [] as string[],
    stop: () => clearInterval(timer),
    once: async () => {
      await Promise.all(
        [...origins.values()].map(async (body) => {
          const t0 = performance.now();
          hb.sent++;
          try {
            const res = await postOnce(`${systemApi}/api/v1/srs/register`, JSON.stringify(body), 5000);
            if (res.status !== 200) {
              hb.refused++;
              if (hb.failures.length < 5) hb.failures.push(`${res.status} ${res.body.slice(0, 200)}`);
            }
          } catch (err) {
            hb.refused++;
            if (hb.failures.length < 5) hb.failures.push(`${(err as Error).message} after ${(performance.now() - t0).toFixed(0)} ms`);
          }
          hb.slowestMs = Math.max(hb.slowestMs, performance.now() - t0);
        }),
      );
    },
  };
  const timer = setInterval(() => void hb.once(), 1000);
  timer.unref();
  return hb;
}

/** One POST on a fresh connection (as an origin's heartbeat does: no kept-alive socket to race with). */
function postOnce(url: string, body: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`${err.code ?? ''} ${err.message}`.trim())));
    req.end(body);
  });
}

export function processFigures(pid: number, probeFile?: string): ProcessFigures {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  let heapUsedMb: number | undefined;
  if (probeFile) {
    try {
      heapUsedMb = (JSON.parse(readFileSync(probeFile, 'utf8')) as { heapUsed: number }).heapUsed / 2 ** 20;
    } catch {
      heapUsedMb = undefined;
    }
  }
  return { rssMb: rssKb / 1024, heapUsedMb, fds: readdirSync(`/proc/${pid}/fd`).length };
}

export interface CheckResult {
  ok: boolean;
  ms: number;
  detail: string;
}

/**
 * A real publish and play through the proxy: ffmpeg publishes the test FLV over RTMP, then the HLS
 * playlist (through the proxy) must list a segment and that segment must come back as MPEG-TS.
 */
export async function checkPublishPlay(env: Pick<FuzzEnv, 'proxy' | 'flv'>, stream: string, timeoutMs = 30_000): Promise<CheckResult> {
  const t0 = performance.now();
  const publisher = publish(env.flv, `rtmp://127.0.0.1:${env.proxy.ports.rtmp}/live/${stream}`);
  let detail = 'no playlist';
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (publisher.hasExited) return { ok: false, ms: performance.now() - t0, detail: `ffmpeg publish exited: ${publisher.output.slice(-500)}` };
      try {
        const playlistUrl = `${env.proxy.httpServer}/live/${stream}.m3u8`;
        const res = await fetch(playlistUrl, { signal: AbortSignal.timeout(5000) });
        const text = await res.text();
        detail = `playlist ${res.status}`;
        const segment = text.split('\n').find((l) => l.trim() && !l.startsWith('#'));
        if (res.status === 200 && segment) {
          const seg = await fetch(new URL(segment.trim(), playlistUrl), { signal: AbortSignal.timeout(5000) });
          const body = Buffer.from(await seg.arrayBuffer());
          detail = `segment ${seg.status}, ${body.length} bytes`;
          if (seg.status === 200 && body.length >= 188 && body[0] === 0x47) return { ok: true, ms: performance.now() - t0, detail };
        }
      } catch (err) {
        detail = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return { ok: false, ms: performance.now() - t0, detail };
  } finally {
    await publisher.stop();
  }
}
