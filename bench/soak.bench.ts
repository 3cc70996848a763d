// Soak benchmark: N minutes (default 30, `--quick` 3, `--minutes=N`) of client churn on every protocol
// through one proxy — RTMP publish and play, HTTP-FLV, HLS playlist + segments, SRT callers, WHIP sessions
// with a STUN check and DELETE — each connecting, playing briefly and leaving, with abusive clients mixed in
// (half-open connections, garbage bytes and datagrams, slowloris headers). The proxy's RSS, V8 heap and fd
// count are sampled every minute; after the warm-up (the first third) they must be flat: the slope is
// reported per hour. Also exports the pieces the flood benchmark reuses.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { HandshakeType } from '../src/srt/handshake.js';
import { buildShutdown } from '../src/srt/packet.js';
import { readFlvFile, RtmpTestClient, tagMessage } from '../test/fixtures/rtmp-client.js';
import { startPeer, type Peer } from '../test/fixtures/process.js';
import { publish } from '../test/fixtures/media.js';
import { freePort } from '../test/fixtures/ports.js';
import { makeTestTs, udpSink } from '../test/fixtures/srt-media.js';
import { TestCaller, callerHsReq } from '../test/fixtures/srt-peers.js';
import { fakeOffer } from '../test/fixtures/webrtc-fake-origin.js';
import { tempDir } from '../test/fixtures/paths.js';
import { checkPublishPlay, startFuzzEnv, type FuzzEnv, type ProcessFigures } from '../test/fuzz/env.js';
import { fmt } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';
import { streamIdExtension } from '../test/fixtures/srt-codec.js';
import { encodeStunBindingRequest } from '../test/fixtures/stun-encode.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts of what each churn loop did. */
export type Tally = Map<string, { ok: number; failed: number }>;

function tally(t: Tally, name: string, ok: boolean): void {
  const e = t.get(name) ?? { ok: 0, failed: 0 };
  if (ok) e.ok++;
  else e.failed++;
  t.set(name, e);
}

/** Runs `body` in a loop until `stop()` says so, counting successes and failures under `name`. */
async function loop(name: string, t: Tally, stop: () => boolean, body: () => Promise<boolean>, pauseMs = 0): Promise<void> {
  while (!stop()) {
    let ok: boolean;
    try {
      ok = await body();
    } catch {
      ok = false;
    }
    tally(t, name, ok);
    if (pauseMs) await sleep(pauseMs);
  }
}

async function rtmpPublishBriefly(env: FuzzEnv, tags: ReturnType<typeof readFlvFile>, name: string): Promise<boolean> {
  const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${env.proxy.ports.rtmp}/live/${name}`, { timeoutMs: 10_000 });
  try {
    const sid = await client.createStream();
    const status = await client.start('publish', name, sid);
    if (!String(status.get('code')).endsWith('Publish.Start')) return false;
    for (const tag of tags.slice(0, 100)) client.send(tagMessage(tag, sid));
    await sleep(1000);
    return true;
  } finally {
    client.close();
  }
}

async function rtmpPlayBriefly(env: FuzzEnv, name: string): Promise<boolean> {
  const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${env.proxy.ports.rtmp}/live/${name}`, { timeoutMs: 10_000 });
  try {
    const sid = await client.createStream();
    const status = await client.start('play', name, sid);
    if (!String(status.get('code')).endsWith('Play.Start')) return false;
    await client.waitFor((m) => m.type === 9, 0, 5000);
    return true;
  } finally {
    client.close();
  }
}

async function hlsBriefly(env: FuzzEnv, name: string): Promise<boolean> {
  const url = `${env.proxy.httpServer}/live/${name}.m3u8`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200) return false;
  const segments = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  for (const s of segments.slice(-2)) {
    const seg = await fetch(new URL(s.trim(), url), { signal: AbortSignal.timeout(5000) });
    await seg.arrayBuffer();
    if (seg.status !== 200) return false;
  }
  return segments.length > 0;
}

async function httpFlvBriefly(env: FuzzEnv, name: string): Promise<boolean> {
  // nginx-rtmp serves no HTTP-FLV: the origin answers 404, which must come back as such (the error path).
  const res = await fetch(`${env.proxy.httpServer}/live/${name}.flv`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status === 404;
}

async function srtCallerBriefly(env: FuzzEnv, name: string): Promise<boolean> {
  const caller = await TestCaller.open(env.proxy.ports.srt);
  try {
    const induction = await caller.induce(3000);
    const answer = await caller.conclude(caller.conclusion(induction.synCookie, [callerHsReq(), streamIdExtension(`#!::r=live/${name},m=publish`)]), 5000);
    if (answer.handshakeType !== HandshakeType.Conclusion) return false;
    for (let i = 0; i < 50; i++) caller.send(caller.data(answer.socketId, i, Buffer.alloc(1316, 0x47)));
    await sleep(500);
    caller.send(buildShutdown(answer.socketId, 1));
    return true;
  } finally {
    caller.close();
  }
}

async function whipBriefly(env: FuzzEnv, name: string): Promise<boolean> {
  const offerUfrag = randomBytes(4).toString('hex');
  const res = await fetch(`${env.proxy.httpApi}/rtc/v1/whip/?app=live&stream=${name}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: fakeOffer(offerUfrag, 'p'.repeat(24)),
    signal: AbortSignal.timeout(5000),
  });
  const sdp = await res.text();
  if (res.status !== 201) return false;
  const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
  const pwd = /a=ice-pwd:(\S+)/.exec(sdp)?.[1];
  const udp = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const check = encodeStunBindingRequest({
      transactionId: randomBytes(12),
      username: `${ufrag}:${offerUfrag}`,
      priority: 1,
      iceControlling: 1n,
      integrityKey: pwd,
      fingerprint: true,
    });
    await new Promise<void>((resolve) => udp.send(check, env.proxy.ports.webrtc, '127.0.0.1', () => resolve()));
    await sleep(300);
  } finally {
    udp.close();
  }
  const location = res.headers.get('location');
  if (!location) return false;
  const del = await fetch(new URL(location, env.proxy.httpApi), { method: 'DELETE', signal: AbortSignal.timeout(5000) });
  await del.arrayBuffer();
  return del.status < 300;
}

/** Opens a TCP connection, sends `first`, and holds it for `holdMs` (or until the proxy closes it). */
export function holdConnection(port: number, first: Buffer, holdMs: number, drip?: { every: number; byte: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = connect({ port, host: '127.0.0.1' });
    let closedByProxy = false;
    let timer: NodeJS.Timeout | undefined;
    const end = setTimeout(() => s.destroy(), holdMs);
    s.on('connect', () => {
      s.write(first);
      if (drip) timer = setInterval(() => s.write(drip.byte), drip.every);
    });
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('end', () => (closedByProxy = true));
    s.on('close', () => {
      clearTimeout(end);
      clearInterval(timer);
      resolve(closedByProxy);
    });
  });
}

/** Random datagrams to the proxy's UDP ports for `ms`. */
async function udpGarbage(ports: number[], ms: number): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const p of ports) await new Promise<void>((resolve) => s.send(randomBytes(1 + Math.floor(Math.random() * 1400)), p, '127.0.0.1', () => resolve()));
    await sleep(5);
  }
  s.close();
}

/** An srt-live-transmit listener that takes caller after caller (auto-reconnect on), writing TS into a UDP sink. */
export interface SrtSinkOrigin {
  endpoint: string;
  bytes(): number;
  stop(): Promise<void>;
}

export async function startSrtSinkOrigin(): Promise<SrtSinkOrigin> {
  const sink = await udpSink();
  const port = await freePort();
  const peer = startPeer('srt-live-transmit (sink)', 'srt-live-transmit', ['-a:yes', `srt://127.0.0.1:${port}?mode=listener`, `udp://127.0.0.1:${sink.port}`]);
  await sleep(300);
  if (peer.hasExited) throw new Error(`srt-live-transmit exited:\n${peer.output}`);
  return {
    endpoint: `udp://127.0.0.1:${port}`,
    bytes: () => sink.bytes(),
    stop: async () => {
      await peer.stop();
      sink.close();
    },
  };
}

/**
 * A real SRT publish through the proxy: ffmpeg publishes MPEG-TS over SRT to the proxy, and TS bytes must come
 * out of `origin` (an srt-live-transmit registered as the SRT endpoint of every origin a stream may be routed to).
 */
export async function checkSrtPublish(env: FuzzEnv, origin: SrtSinkOrigin, name: string, timeoutMs = 20_000): Promise<{ ok: boolean; detail: string }> {
  const media = tempDir('srtcheck');
  const before = origin.bytes();
  let ffmpeg: ReturnType<typeof startPeer> | undefined;
  try {
    const ts = await makeTestTs(media.dir, 4);
    ffmpeg = publish(ts, `srt://127.0.0.1:${env.proxy.ports.srt}?streamid=#!::r=live/${name},m=publish&latency=200000`, 'mpegts');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const got = origin.bytes() - before;
      if (got > 100 * 188) return { ok: true, detail: `${got} TS bytes at the origin` };
      if (ffmpeg.hasExited) return { ok: false, detail: `ffmpeg exited: ${ffmpeg.output.slice(-300)}` };
      await sleep(250);
    }
    return { ok: false, detail: `${origin.bytes() - before} bytes at the origin after ${timeoutMs} ms` };
  } finally {
    await ffmpeg?.stop();
    media.remove();
  }
}

export interface Sample extends ProcessFigures {
  minute: number;
}

/** Least-squares slope of `ys` over `xs`. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function minutesArg(ctx: BenchContext): number {
  const arg = process.argv.find((a) => a.startsWith('--minutes='));
  if (arg) {
    const n = Number(arg.slice('--minutes='.length));
    if (!Number.isFinite(n) || n < 2) throw new Error(`--minutes must be a number ≥ 2, got "${arg}"`);
    return n;
  }
  return ctx.quick ? 3 : 30;
}

const MAX_INCIDENTS = 20;

/** Collects the proxy's warn/error log lines and the live publisher's exit, stamped with the minute. */
function watchIncidents(env: FuzzEnv, live: Peer, t0: number, running: () => boolean): { lines: string[]; total: number } {
  const out = { lines: [] as string[], total: 0 };
  const note = (what: string) => {
    out.total++;
    if (out.lines.length < MAX_INCIDENTS) out.lines.push(`minute ${((Date.now() - t0) / 60_000).toFixed(1)}: ${what}`);
  };
  let carry = '';
  env.proxy.peer.child.stdout?.on('data', (d: Buffer) => {
    const lines = (carry + d.toString('utf8')).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      const m = /"level":(40|50|60)\b.*"msg":"([^"]*)"/.exec(line);
      if (m) note(`proxy ${m[1] === '40' ? 'warn' : 'error'} "${m[2]}" ${line.slice(0, 200)}`);
    }
  });
  void live.exited.then(({ code }) => running() && note(`the live publisher exited (${code}): ${live.output.slice(-200).replace(/\s+/g, ' ')}`));
  return out;
}

export async function soakBench(ctx: BenchContext): Promise<BenchReport> {
  const minutes = minutesArg(ctx);
  const env = await startFuzzEnv();
  const tags = readFlvFile(env.flv);
  const t: Tally = new Map();
  const samples: Sample[] = [];
  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  const stop = () => Date.now() >= end || env.proxy.peer.hasExited;
  // One long-running publisher that the players, HLS and HTTP loops read.
  const live = publish(env.flv, `rtmp://127.0.0.1:${env.proxy.ports.rtmp}/live/soak`);
  // What explains failures afterwards: the proxy's warnings and errors, and the live publisher ending early.
  const incidents = watchIncidents(env, live, t0, () => !stop());
  let n = 0;
  const name = (p: string) => `${p}${n++ % 200}`;
  const abusive = [env.proxy.ports.rtmp, env.proxy.ports.httpServer, env.proxy.ports.httpApi, env.proxy.ports.systemApi];
  try {
    await checkPublishPlay(env, 'soak-warmup');
    samples.push({ minute: 0, ...env.figures() });
    const sampler = (async () => {
      for (let m = 1; m <= minutes && !env.proxy.peer.hasExited; m++) {
        await sleep(Math.max(0, t0 + m * 60_000 - Date.now()));
        samples.push({ minute: m, ...env.figures() });
        const s = samples.at(-1)!;
        process.stdout.write(`  minute ${m}: RSS ${s.rssMb.toFixed(0)} MB, heap ${s.heapUsedMb?.toFixed(0)} MB, fds ${s.fds}\n`);
      }
    })();
    await Promise.all([
      loop('RTMP publish (brief)', t, stop, () => rtmpPublishBriefly(env, tags, name('soakpub'))),
      loop('RTMP play (brief)', t, stop, () => rtmpPlayBriefly(env, 'soak')),
      loop('RTMP play (brief)', t, stop, () => rtmpPlayBriefly(env, 'soak')),
      loop('HLS playlist + segments', t, stop, () => hlsBriefly(env, 'soak'), 500),
      loop('HLS playlist + segments', t, stop, () => hlsBriefly(env, 'soak'), 500),
      loop('HTTP-FLV (origin 404)', t, stop, () => httpFlvBriefly(env, 'soak'), 200),
      loop('SRT caller (handshake, data, shutdown)', t, stop, () => srtCallerBriefly(env, name('soaksrt'))),
      loop('WHIP session (offer, STUN, DELETE)', t, stop, () => whipBriefly(env, name('soakrtc')), 100),
      loop('abusive: half-open connections', t, stop, () =>
        holdConnection(abusive[n % abusive.length]!, Buffer.from('GET /live/x.flv HTTP/1.1\r\n'), 20_000).then(() => true),
      ),
      loop('abusive: garbage bytes', t, stop, () => holdConnection(abusive[n % abusive.length]!, randomBytes(2000), 2000).then(() => true), 100),
      loop('abusive: slowloris headers', t, stop, () =>
        holdConnection(env.proxy.ports.httpServer, Buffer.from('GET /live/soak.m3u8 HTTP/1.1\r\n'), 30_000, {
          every: 1000,
          byte: Buffer.from('X-a: b\r\n'),
        }).then(() => true),
      ),
      loop('abusive: garbage datagrams', t, stop, () => udpGarbage([env.proxy.ports.srt, env.proxy.ports.webrtc], 5000).then(() => true), 1000),
    ]);
    await sampler;
  } finally {
    await live.stop();
    await env.close();
  }
  const crashed = env.proxy.peer.hasExited && samples.length < minutes + 1;
  const warm = samples.filter((s) => s.minute >= Math.max(1, Math.floor(minutes / 3)));
  const xs = warm.map((s) => s.minute / 60);
  const rssSlope = slope(
    xs,
    warm.map((s) => s.rssMb),
  );
  const heapSlope = slope(
    xs,
    warm.map((s) => s.heapUsedMb ?? NaN),
  );
  const fdSlope = slope(
    xs,
    warm.map((s) => s.fds),
  );
  const rows = samples.map((s) => [String(s.minute), fmt(s.rssMb), s.heapUsedMb === undefined ? '?' : fmt(s.heapUsedMb, 1), String(s.fds)]);
  const notes = [
    `${minutes} min of churn${crashed ? ' — THE PROXY EXITED' : ', no crash'}; slopes after warm-up (minute ${warm[0]?.minute ?? '?'} on): RSS ${fmt(rssSlope, 1)} MB/h, heap ${fmt(heapSlope, 1)} MB/h, fds ${fmt(fdSlope, 1)}/h.`,
    `Heartbeats: ${env.heartbeats.sent} sent (every second), ${env.heartbeats.refused} refused or failed, slowest ${fmt(env.heartbeats.slowestMs)} ms.`,
    ...[...t.entries()].map(([k, v]) => `${k}: ${v.ok} ok, ${v.failed} failed.`),
    incidents.lines.length === 0
      ? 'Incidents: none (no proxy warning or error; the live publisher ran throughout).'
      : `Incidents (${incidents.total}, first ${incidents.lines.length}): ${incidents.lines.join(' · ')}`,
  ];
  return { headers: ['minute', 'RSS (MB)', 'heap used (MB)', 'fds'], rows, notes };
}
