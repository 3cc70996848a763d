// A whole fuzz run: the environment, every chosen listener in turn (client side), then the origin side
// (the proxy's origin swapped for one that answers garbage), with the figures and checks of each.
import { startGarbageOrigin } from '../fixtures/garbage-origin.js';
import { MAIN_ORIGIN, startFuzzEnv, type FuzzEnv } from './env.js';
import { fuzzListener, replayFailure, type ListenerReport } from './runner.js';
import type { FuzzTarget } from './target.js';
import { httpTarget } from './targets/http.js';
import { ORIGIN_POOL, originHttpTarget, originRtmpTarget, originSrtTarget, originWhipTarget, type OriginTarget } from './targets/origin.js';
import { rtmpTarget } from './targets/rtmp.js';
import { rtspTarget } from './targets/rtsp.js';
import { srtTarget } from './targets/srt.js';
import { systemApiTarget } from './targets/system-api.js';
import { webrtcUdpTarget } from './targets/webrtc-udp.js';
import { whipTarget } from './targets/whip.js';

export const CLIENT_LISTENERS = ['rtmp', 'http', 'whip', 'webrtc', 'srt', 'api', 'rtsp'] as const;
export const ORIGIN_LISTENERS = ['origin-rtmp', 'origin-http', 'origin-whip', 'origin-srt'] as const;
export const ALL_LISTENERS: readonly string[] = [...CLIENT_LISTENERS, ...ORIGIN_LISTENERS];

export interface FuzzOptions {
  seed: number;
  /** Inputs per listener (upper bound). */
  inputs: number;
  /** Total time for the fuzzing itself, shared equally by the listeners (setup and checks come on top). */
  minutes: number;
  listeners: readonly string[];
  /** Attempts in flight at once for each origin-side TCP listener (default ORIGIN_POOL); SRT keeps ORIGIN_SRT_POOL. */
  originPool?: number;
  /** A failure file to replay instead of fuzzing. */
  replay?: string;
  log?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  listeners: (ListenerReport & { outcomes?: Record<string, number> })[];
  heartbeats: { sent: number; refused: number; slowestMs: number; failures: string[] };
  proxyUp: boolean;
  startRssMb: number;
}

/** Client-side targets by name, aimed at `env`'s proxy. */
export function clientTargets(env: FuzzEnv): FuzzTarget[] {
  const p = env.proxy.ports;
  return [
    rtmpTarget(p.rtmp),
    httpTarget(p.httpServer),
    whipTarget(p.httpApi),
    webrtcUdpTarget(p.webrtc, env.proxy.httpApi),
    srtTarget(p.srt),
    systemApiTarget(p.systemApi),
    rtspTarget(p.rtsp),
  ];
}

function originTargets(env: FuzzEnv, pool = ORIGIN_POOL): OriginTarget[] {
  const p = env.proxy.ports;
  return [originRtmpTarget(p.rtmp, pool), originHttpTarget(p.httpServer, 'origin-http', pool), originWhipTarget(p.httpApi, pool), originSrtTarget(p.srt)];
}

async function deleteOrigin(systemApi: string, serverId: string): Promise<void> {
  await (await fetch(`${systemApi}/api/v1/origins/${encodeURIComponent(serverId)}`, { method: 'DELETE' })).text();
}

/** Removes every origin but the run's own (fuzzed register bodies leave many behind); returns how many. */
export async function removeForeignOrigins(env: FuzzEnv): Promise<number> {
  const tried = new Set<string>();
  for (;;) {
    const res = await fetch(`${env.proxy.systemApi}/api/v1/origins`);
    const body = (await res.json()) as { origins?: { server_id: string }[] };
    const foreign = (body.origins ?? []).map((o) => o.server_id).filter((id) => !env.origins.has(id) && !tried.has(id));
    if (foreign.length === 0) return tried.size;
    for (const id of foreign) {
      tried.add(id);
      // An id no URL can name (ill-formed Unicode) is left to expire (PROXY_ORIGIN_EXPIRE in the fuzz env).
      if (/[\ud800-\udfff]/u.test(id)) continue;
      await deleteOrigin(env.proxy.systemApi, id);
    }
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const env = await startFuzzEnv({
    // Short origin timeouts so attempts against a silent garbage origin end quickly.
    // A short origin expiry so origins the fuzzer registered (and no request can remove) stop being picked soon.
    // No per-address offer rate limit: every fuzz input comes from 127.0.0.1, and at 600 offers a minute all but
    // a few WHIP/WHEP inputs would get 429 instead of reaching the signalling and origin code (the limit has
    // its own tests).
    proxyEnv: {
      PROXY_DIAL_TIMEOUT: '1s',
      PROXY_ORIGIN_ANSWER_TIMEOUT: '2s',
      PROXY_HANDSHAKE_TIMEOUT: '5s',
      PROXY_ORIGIN_EXPIRE: '5s',
      PROXY_MAX_OFFERS_PER_IP: '10000000',
    },
  });
  const report: FuzzReport = { seed: options.seed, listeners: [], heartbeats: env.heartbeats, proxyUp: true, startRssMb: env.figures().rssMb };
  try {
    if (options.replay) {
      await replayFailure(env, [...clientTargets(env), ...originTargets(env)], options.replay, log);
      report.proxyUp = !env.proxy.peer.hasExited;
      return report;
    }
    const chosenClient = clientTargets(env).filter((t) => options.listeners.includes(t.name));
    const chosenOrigin = originTargets(env, options.originPool).filter((t) => options.listeners.includes(t.name));
    const count = chosenClient.length + chosenOrigin.length;
    const perListenerMs = (options.minutes * 60_000) / Math.max(1, count);
    const budget = { inputs: options.inputs, timeMs: perListenerMs };
    log(`fuzz seed ${options.seed}: ${count} listeners, up to ${options.inputs} inputs or ${(perListenerMs / 1000).toFixed(0)} s each`);
    for (const target of chosenClient) {
      const stream = ALL_LISTENERS.indexOf(target.name);
      // Fuzzed register bodies leave origins behind that new streams could be routed to: remove them first.
      const hooks =
        target.name === 'api' ? { beforeCheck: async () => log(`  api: removed ${await removeForeignOrigins(env)} origins the fuzzer registered`) } : {};
      const r = await fuzzListener(env, target, stream, options.seed, budget, log, hooks);
      report.listeners.push(r);
      if (r.crashed) return report;
    }
    if (chosenOrigin.length) {
      const garbage = await startGarbageOrigin(options.seed);
      const main = env.origins.get(MAIN_ORIGIN)!;
      env.origins.delete(MAIN_ORIGIN);
      await deleteOrigin(env.proxy.systemApi, MAIN_ORIGIN);
      env.origins.set('fuzz-garbage-origin', garbage.registerBody('fuzz-garbage-origin'));
      try {
        await registerNow(env, 'fuzz-garbage-origin');
        for (const target of chosenOrigin) {
          const stream = ALL_LISTENERS.indexOf(target.name);
          const r = await fuzzListenerBehindOrigin(
            env,
            target,
            stream,
            options,
            budget,
            log,
            async () => {
              env.origins.delete('fuzz-garbage-origin');
              await deleteOrigin(env.proxy.systemApi, 'fuzz-garbage-origin');
              env.origins.set(MAIN_ORIGIN, main);
              await registerNow(env, MAIN_ORIGIN);
            },
            async () => {
              env.origins.delete(MAIN_ORIGIN);
              await deleteOrigin(env.proxy.systemApi, MAIN_ORIGIN);
              env.origins.set('fuzz-garbage-origin', garbage.registerBody('fuzz-garbage-origin'));
              await registerNow(env, 'fuzz-garbage-origin');
            },
          );
          report.listeners.push({ ...r, outcomes: Object.fromEntries(target.outcomes) });
          log(`  ${target.name} outcomes: ${JSON.stringify(Object.fromEntries(target.outcomes))}`);
          if (r.crashed) return report;
        }
      } finally {
        env.origins.delete('fuzz-garbage-origin');
        env.origins.set(MAIN_ORIGIN, main);
        await garbage.close();
      }
    }
    report.proxyUp = !env.proxy.peer.hasExited;
    return report;
  } finally {
    report.heartbeats = { sent: env.heartbeats.sent, refused: env.heartbeats.refused, slowestMs: env.heartbeats.slowestMs, failures: env.heartbeats.failures };
    report.proxyUp &&= !env.proxy.peer.hasExited;
    await env.close();
  }
}

async function registerNow(env: FuzzEnv, id: string): Promise<void> {
  const res = await fetch(`${env.proxy.systemApi}/api/v1/srs/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(env.origins.get(id)),
  });
  if (res.status !== 200) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
}

/** Origin-side listener: fuzz with the garbage origin registered, then put the real origin back for the check. */
async function fuzzListenerBehindOrigin(
  env: FuzzEnv,
  target: OriginTarget,
  stream: number,
  options: FuzzOptions,
  budget: { inputs: number; timeMs: number },
  log: (line: string) => void,
  restoreMain: () => Promise<void>,
  restoreGarbage: () => Promise<void>,
): Promise<ListenerReport> {
  // fuzzListener runs the publish/play check itself; swap origins around it through the check hook.
  return fuzzListener(env, target, stream, options.seed, budget, log, { beforeCheck: restoreMain, afterCheck: restoreGarbage });
}
