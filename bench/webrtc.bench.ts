// Benchmark: the WebRTC proxy (the CLI in a child process) against baselines measured in the same run.
// - UDP relay: packets/s per CPU core and CPU-seconds per GB of the proxy's relay vs a plain Node UDP
//   relay (bench/baseline/webrtc-udp-relay.ts), 1200-byte packets, 1 and 200 sessions, client→origin
//   (publishers) and origin→client (players). CPU from /proc/<pid>/stat of the relaying process.
// - Loss at 20,000 packets/s of 1200-byte packets (1 and 200 sessions).
// - WHIP request latency (offer → answer) through the proxy vs straight to the origin, p50/p99.
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Pool } from 'undici';
import { peekStunUsername } from '../src/webrtc/stun.js';
import { FIXTURES_DIST } from '../test/fixtures/paths.js';
import { freePort } from '../test/fixtures/ports.js';
import { startPeer } from '../test/fixtures/process.js';
import { registerOrigin, startProxy } from '../test/fixtures/proxy.js';
import { fakeOffer, startFakeRtcOrigin } from '../test/fixtures/webrtc-fake-origin.js';
import { stunBindingRequest } from '../test/fixtures/webrtc-udp.js';
import { fmt, summarize, targetsLine } from './lib/stats.js';
import type { BenchContext, BenchReport } from './run.js';

const PACKET_BYTES = 1200;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.setRecvBufferSize(8 << 20);
  s.setSendBufferSize(8 << 20);
  return s;
}

const portOf = (s: Socket) => (s.address() as AddressInfo).port;

/** The origin's media port: counts RTP-range datagrams and learns each session's upstream port. */
class Sink {
  packets = 0;
  readonly upstreamByTag = new Map<string, number>();

  constructor(readonly socket: Socket) {
    socket.on('message', (d, from) => {
      if (d[0] === 0x80) {
        this.packets++;
        return;
      }
      // Session set-up: a STUN check (proxy) or a `hello:<tag>` datagram (baseline).
      const tag = d[0]! <= 3 ? safeUsername(d) : d.toString('latin1').startsWith('hello:') ? d.toString('latin1').slice(6) : undefined;
      if (tag !== undefined) this.upstreamByTag.set(tag, from.port);
    });
  }
}

function safeUsername(d: Buffer): string | undefined {
  try {
    return peekStunUsername(d);
  } catch {
    return undefined;
  }
}

interface Session {
  client: Socket;
  received: number;
  /** The relay's upstream port for this session, as the origin sees it. */
  upstreamPort: number;
}

interface LoadResult {
  sent: number;
  received: number;
  seconds: number;
  cpu: number;
}

function rtp(seq: number): Buffer {
  const b = Buffer.alloc(PACKET_BYTES, 0x5a);
  b[0] = 0x80;
  b[1] = 96;
  b.writeUInt16BE(seq & 0xffff, 2);
  return b;
}

/** Sends `pps` packets/s for `seconds`, round-robin over the sessions, in the given direction. */
async function load(
  sessions: Session[],
  sink: Sink,
  relayPort: number,
  relayPid: number,
  pps: number,
  seconds: number,
  direction: 'c2o' | 'o2c',
): Promise<LoadResult> {
  const packet = rtp(1);
  const total = Math.round(pps * seconds);
  const receivedBefore = direction === 'c2o' ? sink.packets : sessions.reduce((a, s) => a + s.received, 0);
  const cpu0 = cpuSeconds(relayPid);
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * pps));
    for (; sent < due; sent++) {
      const s = sessions[sent % sessions.length]!;
      if (direction === 'c2o') s.client.send(packet, relayPort, '127.0.0.1');
      else sink.socket.send(packet, s.upstreamPort, '127.0.0.1');
    }
    await new Promise((r) => setImmediate(r));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 300)); // let the queues drain
  const cpu = cpuSeconds(relayPid) - cpu0;
  const receivedAfter = direction === 'c2o' ? sink.packets : sessions.reduce((a, s) => a + s.received, 0);
  return { sent, received: receivedAfter - receivedBefore, seconds: sendSeconds, cpu };
}

async function clientSocket(): Promise<{ socket: Socket; session: Session }> {
  const socket = await udpSocket();
  const session: Session = { client: socket, received: 0, upstreamPort: 0 };
  socket.on('message', (d) => {
    if (d[0] === 0x80) session.received++;
  });
  return { socket, session };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function webrtcBench(ctx: BenchContext): Promise<BenchReport> {
  const seconds = ctx.quick ? 1.5 : 5;
  const fo = await startFakeRtcOrigin();
  const sink = new Sink(await udpSocket());
  const proxy = await startProxy({ env: { PROXY_LOG_LEVEL: 'info', PROXY_IDLE_TIMEOUT: '10m' } });
  const relayPort = await freePort();
  const baseline = startPeer('plain udp relay', process.execPath, [
    join(FIXTURES_DIST, '..', '..', 'bench', 'baseline', 'webrtc-udp-relay.js'),
    String(relayPort),
    String(portOf(sink.socket)),
  ]);
  await baseline.waitForOutput(/ready/);
  const sockets: Socket[] = [];
  const api = new Pool(proxy.httpApi, { connections: 1 });
  const direct = new Pool(`http://127.0.0.1:${fo.apiPort}`, { connections: 1 });
  try {
    await registerOrigin(proxy.systemApi, fo.registerBody('bench-origin', portOf(sink.socket)));

    // Sessions through the proxy: WHIP, then a STUN check with the session's USERNAME.
    let offers = 0;
    const whip = async (pool: Pool, stream: string) => {
      const offerUfrag = `b${++offers}`;
      const t0 = performance.now();
      const r = await pool.request({
        path: `/rtc/v1/whip/?app=live&stream=${stream}`,
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: fakeOffer(offerUfrag, 'benchpasswordbenchpassword'),
      });
      const sdp = await r.body.text();
      const ms = performance.now() - t0;
      if (r.statusCode !== 201) throw new Error(`WHIP ${r.statusCode}: ${sdp}`);
      return { username: `${/a=ice-ufrag:(\S+)/.exec(sdp)![1]}:${offerUfrag}`, pwd: /a=ice-pwd:(\S+)/.exec(sdp)![1]!, ms };
    };
    const proxySessions = async (n: number): Promise<Session[]> => {
      const out: Session[] = [];
      for (let i = 0; i < n; i++) {
        const { username, pwd } = await whip(api, `bench${offers}`);
        const { socket, session } = await clientSocket();
        sockets.push(socket);
        socket.send(stunBindingRequest(username, pwd), proxy.ports.webrtc, '127.0.0.1');
        await waitFor(() => sink.upstreamByTag.has(username), `session ${username}`);
        session.upstreamPort = sink.upstreamByTag.get(username)!;
        out.push(session);
      }
      return out;
    };
    const baselineSessions = async (n: number, prefix: string): Promise<Session[]> => {
      const out: Session[] = [];
      for (let i = 0; i < n; i++) {
        const { socket, session } = await clientSocket();
        sockets.push(socket);
        const tag = `${prefix}${i}`;
        socket.send(Buffer.from(`hello:${tag}`), relayPort, '127.0.0.1');
        await waitFor(() => sink.upstreamByTag.has(tag), `baseline session ${tag}`);
        session.upstreamPort = sink.upstreamByTag.get(tag)!;
        out.push(session);
      }
      return out;
    };
    const ours = { 1: await proxySessions(1), 200: await proxySessions(200) };
    const plain = { 1: await baselineSessions(1, 'one'), 200: await baselineSessions(200, 'many') };

    // Warm-up (JIT) on both relays.
    await load(ours[200], sink, proxy.ports.webrtc, proxy.peer.pid, 20_000, 1, 'c2o');
    await load(plain[200], sink, relayPort, baseline.pid, 20_000, 1, 'c2o');

    const rows: string[][] = [];
    const notes: string[] = [];
    const perCore = (r: LoadResult) => r.received / Math.max(r.cpu, 0.01);
    const cpuPerGb = (r: LoadResult) => r.cpu / ((r.received * PACKET_BYTES) / 1e9);
    const ratios: number[] = [];
    const OFFERED = 60_000;
    for (const direction of ['c2o', 'o2c'] as const) {
      for (const n of [1, 200] as const) {
        const a = await load(ours[n], sink, proxy.ports.webrtc, proxy.peer.pid, OFFERED, seconds, direction);
        const b = await load(plain[n], sink, relayPort, baseline.pid, OFFERED, seconds, direction);
        const ratio = perCore(a) / perCore(b);
        ratios.push(ratio);
        const label = `${direction === 'c2o' ? 'client→origin' : 'origin→client'}, ${n} session${n > 1 ? 's' : ''}, ${fmt(OFFERED)} pkt/s offered`;
        process.stdout.write(
          `  ${label}: proxy ${a.received}/${a.sent} in ${a.cpu.toFixed(2)} CPU-s; plain ${b.received}/${b.sent} in ${b.cpu.toFixed(2)} CPU-s\n`,
        );
        rows.push([
          label,
          `${fmt(perCore(a))} pkt/s per core (${fmt(a.received / a.seconds)} pkt/s, ${fmt(cpuPerGb(a), 2)} CPU-s/GB)`,
          `${fmt(perCore(b))} pkt/s per core (${fmt(b.received / b.seconds)} pkt/s, ${fmt(cpuPerGb(b), 2)} CPU-s/GB) (plain Node UDP relay)`,
          `${ratio.toFixed(2)}×`,
          `delivered ${((a.received / a.sent) * 100).toFixed(1)}% vs ${((b.received / b.sent) * 100).toFixed(1)}%`,
        ]);
      }
    }

    // Loss at 20k packets/s.
    const losses: number[] = [];
    for (const n of [1, 200] as const) {
      const a = await load(ours[n], sink, proxy.ports.webrtc, proxy.peer.pid, 20_000, seconds, 'c2o');
      const b = await load(plain[n], sink, relayPort, baseline.pid, 20_000, seconds, 'c2o');
      losses.push(a.sent - a.received);
      rows.push([
        `loss at 20,000 pkt/s × 1200 B, ${n} session${n > 1 ? 's' : ''}, client→origin`,
        `${fmt(a.sent - a.received)} of ${fmt(a.sent)} lost (${a.cpu.toFixed(2)} CPU-s, ${((a.cpu / a.seconds) * 100).toFixed(0)}% of a core)`,
        `${fmt(b.sent - b.received)} of ${fmt(b.sent)} lost (${((b.cpu / b.seconds) * 100).toFixed(0)}% of a core) (plain Node UDP relay)`,
        '—',
        '',
      ]);
    }

    // WHIP latency.
    const N = ctx.quick ? 50 : 300;
    const viaProxy: number[] = [];
    const straight: number[] = [];
    for (let i = 0; i < 20; i++) await whip(api, 'warm');
    for (let i = 0; i < N; i++) {
      straight.push((await whip(direct, `lat${i}`)).ms);
      viaProxy.push((await whip(api, `lat${i}`)).ms);
    }
    const p = summarize(viaProxy);
    const d = summarize(straight);
    rows.push([
      `WHIP offer → answer, ${N} sequential requests (keep-alive)`,
      `p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms`,
      `p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms (straight to the origin)`,
      `+${(p.p50 - d.p50).toFixed(2)} ms p50`,
      `+${(p.p99 - d.p99).toFixed(2)} ms p99`,
    ]);

    const worst = Math.min(...ratios);
    notes.push(
      targetsLine([
        { target: "≥ 80% of the plain relay's packets/s per core", measured: `worst ${(worst * 100).toFixed(0)}%`, ok: worst >= 0.8 },
        { target: 'zero loss at 20k pkt/s of 1200 B', measured: `${losses.join(', ')} lost`, ok: losses.every((l) => l === 0) },
        { target: 'signalling overhead ≤ 5 ms p50', measured: `+${(p.p50 - d.p50).toFixed(2)} ms`, ok: p.p50 - d.p50 <= 5 },
      ]),
    );
    notes.push(
      'Origin: the fake WebRTC origin of the tests (test/fixtures/webrtc-fake-origin.ts) answers the WHIP offers; its media port is a UDP sink in the benchmark process.',
    );
    notes.push(
      'Packets/s per core = packets delivered ÷ CPU-seconds of the relaying process (/proc/<pid>/stat), so the figure does not depend on how much CPU the load generator (same machine) leaves over. Load generator and origin sink run in the benchmark process; proxy and plain relay are separate processes.',
    );
    return { headers: ['load', 'origin-proxy', 'baseline (same run)', 'ratio', 'notes'], rows, notes };
  } finally {
    for (const s of sockets) s.close();
    await api.close();
    await direct.close();
    await proxy.stop();
    await baseline.stop();
    sink.socket.close();
    await fo.close();
  }
}
