// Load generator of the edge bench, in its own process: N RTMP players and N HTTP-FLV players of each stream
// (or 2N raw TCP clients of the baseline fan-out). They count the bytes they receive and, with `media`, note
// the media time of every audio/video message (headers only: bench/lib/media-log.ts). After every client got
// its first bytes and a warm-up, it counts each client's bytes over the measured window, keeps reading for a
// grace period so that messages already on their way arrive, and prints one JSON line.
// Usage: node edge-load.js '<json options>'.
import { connect, type Socket } from 'node:net';
import { encodeCommand, Amf0Object } from '../../src/rtmp/amf0.js';
import { ChunkWriter } from '../../src/rtmp/chunk.js';
import { ClientHandshake } from '../../src/rtmp/handshake.js';
import { FlvTagWalker, MediaLog, RtmpMessageWalker, mediaShares } from './media-log.js';

interface Options {
  host: string;
  rtmpPort?: number;
  httpPort?: number;
  rawPort?: number;
  app: string;
  /** One stream, or several (`streams`): N RTMP + N HTTP-FLV players of each. */
  stream?: string;
  streams?: string[];
  n: number;
  warmupMs: number;
  windowMs: number;
  /** Note each message's media time and report every player's share of the media over the window. */
  media?: boolean;
}

const o = JSON.parse(process.argv[2]!) as Options;
const streams = o.streams ?? [o.stream!];
/** Reading on after the window, so that what the upstream read before its end reaches every player. */
const GRACE_MS = 2000;
const bytes: number[] = [];
const logs: MediaLog[] = [];
let failed = 0;

function command(w: ChunkWriter, name: string, tid: number, obj: unknown, args: unknown[], streamId: number): Buffer {
  return w.encode({
    type: 20,
    timestamp: 0,
    streamId,
    csid: 3,
    payload: encodeCommand({ name, transactionId: tid, commandObject: obj as never, args: args as never }),
  });
}

function rtmpPlayer(i: number, stream: string): Socket {
  const s = connect({ host: o.host, port: o.rtmpPort!, noDelay: true });
  const hs = new ClientHandshake();
  let done = false;
  const walker = o.media ? new RtmpMessageWalker(logs[i]!) : undefined;
  s.once('connect', () => s.write(hs.start()));
  s.on('data', (d: Buffer) => {
    if (done) {
      bytes[i]! += d.length;
      walker?.feed(d);
      return;
    }
    const out = hs.feed(d);
    if (!out.done) return;
    done = true;
    const w = new ChunkWriter();
    const tcUrl = `rtmp://${o.host}:${o.rtmpPort}/${o.app}`;
    s.write(
      Buffer.concat([
        out.send,
        command(w, 'connect', 1, Amf0Object.fromRecord({ app: o.app, tcUrl, flashVer: 'LNX 9,0,124,2', fpad: false }), [], 0),
        command(w, 'createStream', 2, null, [], 0),
        command(w, 'play', 0, null, [stream, -1000], 1),
      ]),
    );
    bytes[i]! += out.rest.length;
    if (out.rest.length > 0) walker?.feed(out.rest);
  });
  return s;
}

function flvPlayer(i: number, stream: string): Socket {
  const s = connect({ host: o.host, port: o.httpPort!, noDelay: true });
  s.once('connect', () => s.write(`GET /${o.app}/${stream}.flv HTTP/1.1\r\nHost: ${o.host}\r\n\r\n`));
  const walker = o.media ? new FlvTagWalker(logs[i]!) : undefined;
  s.on('data', (d: Buffer) => {
    bytes[i]! += d.length;
    walker?.feed(d);
  });
  return s;
}

function rawClient(i: number): Socket {
  const s = connect({ host: o.host, port: o.rawPort!, noDelay: true });
  s.on('data', (d: Buffer) => (bytes[i]! += d.length));
  return s;
}

const sockets: Socket[] = [];
/** The stream of each client. */
const streamOf: number[] = [];
for (let i = 0; i < 2 * o.n * streams.length; i++) {
  bytes.push(0);
  logs.push(new MediaLog());
  const k = i % (2 * o.n);
  const stream = Math.floor(i / (2 * o.n));
  streamOf.push(stream);
  const s = o.rawPort ? rawClient(i) : k < o.n ? rtmpPlayer(i, streams[stream]!) : flvPlayer(i, streams[stream]!);
  s.on('error', () => failed++);
  sockets.push(s);
  // Connections in small batches: an accept backlog is not what is measured.
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
}
const started = Date.now();
while (bytes.some((b) => b === 0) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 100));
const receiving = bytes.filter((b) => b > 0).length;
await new Promise((r) => setTimeout(r, o.warmupMs));
const before = [...bytes];
/** Per stream: no player had a message after this media time when the window started. */
const from = streams.map((_, k) => Math.max(...logs.filter((_, i) => streamOf[i] === k).map((l) => l.newest)));
for (const l of logs) l.recording = true;
process.stdout.write(`${JSON.stringify({ phase: 'window-start', at: Date.now() })}\n`);
await new Promise((r) => setTimeout(r, o.windowMs));
const window = bytes.map((b, i) => b - before[i]!);
process.stdout.write(`${JSON.stringify({ phase: 'window-end', at: Date.now() })}\n`);
let media: unknown;
if (o.media) {
  const to = streams.map((_, k) => Math.max(...logs.filter((_, i) => streamOf[i] === k).map((l) => l.newest)));
  await new Promise((r) => setTimeout(r, GRACE_MS));
  for (const l of logs) l.recording = false;
  media = streams.map((_, k) =>
    mediaShares(
      logs.filter((_, i) => streamOf[i] === k),
      from[k]!,
      to[k]!,
    ),
  );
}
process.stdout.write(`${JSON.stringify({ phase: 'done', receiving, failed, window, media })}\n`);
for (const s of sockets) s.destroy();
process.exit(0);
