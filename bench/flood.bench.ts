// Flood benchmark: each flood class against one proxy — a connection flood per TCP listener (idle and
// half-open connections held open), a garbage flood (random bytes on every TCP listener, random datagrams
// on the SRT and WebRTC ports) and a register flood (valid and invalid heartbeats from new origins) — and,
// while each runs: an RTMP publish + HLS play and a real SRT publish through the proxy must work, origin
// heartbeats (one a second) must keep being accepted, and RSS may grow by at most 100 MB.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { MAIN_ORIGIN, checkPublishPlay, startFuzzEnv, type FuzzEnv } from '../test/fuzz/env.js';
import { removeForeignOrigins } from '../test/fuzz/run.js';
import { fmt } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';
import { checkSrtPublish, startSrtSinkOrigin } from './soak.bench.js';

const RSS_GROWTH_LIMIT_MB = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One table cell: no line breaks or pipes, clipped. */
const cell = (text: string) => text.replace(/[\r\n|]+/g, ' ').slice(0, 160);

interface Flood {
  name: string;
  /** Starts the flood; resolves the returned stop function's promise once it has wound down. */
  start(env: FuzzEnv): () => Promise<string>;
}

/** Holds up to `count` connections to `port` open (re-opening closed ones), each sending `first` once. */
function connectionFlood(port: number, count: number, first: () => Buffer): () => Promise<string> {
  const open = new Set<Socket>();
  let stopped = false;
  let made = 0;
  let refused = 0;
  const openOne = () => {
    if (stopped) return;
    made++;
    const s = connect({ port, host: '127.0.0.1' });
    open.add(s);
    s.on('connect', () => s.write(first()));
    s.on('data', () => undefined);
    s.on('error', () => refused++);
    s.on('close', () => {
      open.delete(s);
      if (!stopped) setTimeout(openOne, 10);
    });
  };
  for (let i = 0; i < count; i++) setTimeout(openOne, i);
  return async () => {
    stopped = true;
    const held = open.size;
    for (const s of open) s.destroy();
    return `${made} connections made (${held} held at the end, ${refused} errors)`;
  };
}

function garbageFlood(env: FuzzEnv): () => Promise<string> {
  let stopped = false;
  let tcp = 0;
  let udp = 0;
  const tcpPorts = [env.proxy.ports.rtmp, env.proxy.ports.httpServer, env.proxy.ports.httpApi, env.proxy.ports.systemApi];
  const tcpLoop = async (i: number) => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const s = connect({ port: tcpPorts[(tcp + i) % tcpPorts.length]!, host: '127.0.0.1' });
        s.on('connect', () => s.end(randomBytes(1 + Math.floor(Math.random() * 8192))));
        s.on('data', () => undefined);
        s.on('error', () => undefined);
        s.on('close', () => resolve());
        setTimeout(() => s.destroy(), 2000).unref();
      });
      tcp++;
    }
  };
  const udpSocket = createSocket('udp4');
  udpSocket.on('error', () => undefined);
  const udpLoop = async () => {
    await new Promise<void>((resolve) => udpSocket.bind(0, '127.0.0.1', resolve));
    while (!stopped) {
      for (const p of [env.proxy.ports.srt, env.proxy.ports.webrtc]) {
        const d = randomBytes(1 + Math.floor(Math.random() * 1400));
        // Half of them look like SRT handshakes / STUN so they get past the first byte checks.
        if (Math.random() < 0.5 && d.length >= 20) d.writeUInt32BE(p === env.proxy.ports.srt ? 0x80000000 : 0x00010000 | (d.length - 20), 0);
        await new Promise<void>((resolve) => udpSocket.send(d, p, '127.0.0.1', () => resolve()));
        udp++;
      }
      if (udp % 200 === 0) await sleep(1);
    }
  };
  const loops = [...Array.from({ length: 32 }, (_, i) => tcpLoop(i)), udpLoop()];
  return async () => {
    stopped = true;
    await Promise.all(loops);
    udpSocket.close();
    return `${tcp} garbage connections, ${udp} garbage datagrams`;
  };
}

function registerFlood(env: FuzzEnv): () => Promise<string> {
  let stopped = false;
  let sent = 0;
  const statuses = new Map<number, number>();
  const main = env.origins.get(MAIN_ORIGIN)!;
  const agent = new Agent({ connections: 32 });
  const one = async () => {
    const valid = Math.random() < 0.7;
    // Valid ones copy the main origin's RTMP/HTTP/SRT endpoints, so streams routed to them still play.
    const body = valid
      ? {
          ...main,
          server: `flood-${randomBytes(6).toString('hex')}`,
          service: randomBytes(4).toString('hex'),
          pid: String(sent),
          rtc: undefined,
          api: undefined,
        }
      : { ip: Math.random() < 0.5 ? '' : '0.0.0.0', server: 'x'.repeat(Math.floor(Math.random() * 400)), rtmp: Math.random() < 0.5 ? [] : ['99999'] };
    const res = await request(`${env.proxy.systemApi}/api/v1/srs/register`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    });
    await res.body.dump();
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  };
  const loops = Array.from({ length: 32 }, async () => {
    while (!stopped) {
      try {
        await one();
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
      }
      sent++;
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(loops);
    await agent.close();
    const removed = await removeForeignOrigins(env);
    return `${sent} registers (${[...statuses.entries()].map(([s, n]) => `${s === 0 ? 'error' : s}: ${n}`).join(', ')}); ${removed} flood origins removed afterwards`;
  };
}

function floods(quick: boolean): Flood[] {
  const held = quick ? 500 : 2000;
  const partialHttp = () => Buffer.from('GET /live/x.flv HTTP/1.1\r\nHost: a\r\n');
  return [
    { name: 'connection flood: RTMP', start: (env) => connectionFlood(env.proxy.ports.rtmp, held, () => Buffer.from([3])) },
    { name: 'connection flood: HTTP stream', start: (env) => connectionFlood(env.proxy.ports.httpServer, held, partialHttp) },
    { name: 'connection flood: HTTP API (WHIP)', start: (env) => connectionFlood(env.proxy.ports.httpApi, held, partialHttp) },
    { name: 'connection flood: system API', start: (env) => connectionFlood(env.proxy.ports.systemApi, held, partialHttp) },
    { name: 'garbage flood (TCP + UDP)', start: (env) => garbageFlood(env) },
    { name: 'register flood', start: (env) => registerFlood(env) },
  ];
}

export async function floodBench(ctx: BenchContext): Promise<BenchReport> {
  const seconds = ctx.quick ? 20 : 60;
  const env = await startFuzzEnv();
  // A real SRT origin for the SRT publish checks, as the main origin's SRT endpoint from the start (so the
  // register flood's copies of the main origin carry it too).
  const srtOrigin = await startSrtSinkOrigin();
  env.origins.get(MAIN_ORIGIN)!.srt = [srtOrigin.endpoint];
  await sleep(1500);
  const rows: string[][] = [];
  const notes: string[] = [];
  let crashed = false;
  try {
    for (const flood of floods(ctx.quick)) {
      if (env.proxy.peer.hasExited) break;
      const before = env.figures();
      const hb = { sent: env.heartbeats.sent, refused: env.heartbeats.refused };
      env.heartbeats.slowestMs = 0;
      let peakRss = before.rssMb;
      let peakFds = before.fds;
      const sampler = setInterval(() => {
        if (env.proxy.peer.hasExited) return;
        const f = env.figures();
        peakRss = Math.max(peakRss, f.rssMb);
        peakFds = Math.max(peakFds, f.fds);
      }, 500);
      const stop = flood.start(env);
      const t0 = Date.now();
      await sleep(3000);
      const stream = `flood${rows.length}`;
      const [play, srt] = await Promise.all([checkPublishPlay(env, stream, 30_000), checkSrtPublish(env, srtOrigin, `${stream}srt`, 30_000)]);
      await sleep(Math.max(0, t0 + seconds * 1000 - Date.now()));
      const what = await stop();
      clearInterval(sampler);
      await sleep(2000);
      crashed ||= env.proxy.peer.hasExited;
      const after = crashed ? before : env.figures();
      const growth = peakRss - before.rssMb;
      const hbSent = env.heartbeats.sent - hb.sent;
      const hbRefused = env.heartbeats.refused - hb.refused;
      rows.push([
        flood.name,
        crashed ? 'EXITED' : 'up',
        `${fmt(before.rssMb)} → ${fmt(peakRss)} → ${fmt(after.rssMb)}`,
        `${fmt(growth)}${growth > RSS_GROWTH_LIMIT_MB ? ' (over 100)' : ''}`,
        `${before.fds} → ${peakFds}`,
        play.ok ? `ok (${fmt(play.ms / 1000, 1)} s)` : cell(`FAILED: ${play.detail}`),
        srt.ok ? 'ok' : cell(`FAILED: ${srt.detail}`),
        `${hbSent - hbRefused}/${hbSent}, slowest ${fmt(env.heartbeats.slowestMs)} ms`,
      ]);
      const failures = env.heartbeats.failures.splice(0);
      notes.push(`${flood.name}: ${what}.${failures.length ? ` Heartbeat failures: ${cell(failures.join('; '))}.` : ''}`);
      process.stdout.write(`  ${rows.at(-1)!.join(' | ')}\n`);
    }
  } finally {
    await env.close();
    await srtOrigin.stop();
  }
  notes.unshift(
    `Each flood ran ${seconds} s; the checks started 3 s in, concurrently with the flood. Targets: no crash, RSS growth ≤ ${RSS_GROWTH_LIMIT_MB} MB, publish/play and SRT publish work, every heartbeat accepted.`,
  );
  return {
    headers: [
      'flood',
      'proxy',
      'RSS before → peak → after (MB)',
      'RSS growth (MB)',
      'fds before → peak',
      'RTMP publish + HLS play',
      'SRT publish (ffmpeg → proxy → srt-live-transmit)',
      'heartbeats accepted',
    ],
    rows,
    notes,
  };
}
