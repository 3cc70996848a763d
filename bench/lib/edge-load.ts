// Load generator of the edge bench, in its own process: N RTMP players and N HTTP-FLV players of one stream
// (or 2N raw TCP clients of the baseline fan-out) that only count the bytes they receive. After every client
// got its first bytes and a warm-up, it counts each client's bytes over the measured window and prints one
// JSON line. Usage: node edge-load.js '<json options>'.
import { connect, type Socket } from 'node:net';
import { encodeCommand, Amf0Object } from '../../src/rtmp/amf0.js';
import { ChunkWriter } from '../../src/rtmp/chunk.js';
import { ClientHandshake } from '../../src/rtmp/handshake.js';

interface Options {
  host: string;
  rtmpPort?: number;
  httpPort?: number;
  rawPort?: number;
  app: string;
  stream: string;
  n: number;
  warmupMs: number;
  windowMs: number;
}

const o = JSON.parse(process.argv[2]!) as Options;
const bytes: number[] = [];
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

function rtmpPlayer(i: number): Socket {
  const s = connect({ host: o.host, port: o.rtmpPort!, noDelay: true });
  const hs = new ClientHandshake();
  let done = false;
  s.once('connect', () => s.write(hs.start()));
  s.on('data', (d: Buffer) => {
    if (done) {
      bytes[i]! += d.length;
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
        command(w, 'play', 0, null, [o.stream, -1000], 1),
      ]),
    );
    bytes[i]! += out.rest.length;
  });
  return s;
}

function flvPlayer(i: number): Socket {
  const s = connect({ host: o.host, port: o.httpPort!, noDelay: true });
  s.once('connect', () => s.write(`GET /${o.app}/${o.stream}.flv HTTP/1.1\r\nHost: ${o.host}\r\n\r\n`));
  s.on('data', (d: Buffer) => (bytes[i]! += d.length));
  return s;
}

function rawClient(i: number): Socket {
  const s = connect({ host: o.host, port: o.rawPort!, noDelay: true });
  s.on('data', (d: Buffer) => (bytes[i]! += d.length));
  return s;
}

const sockets: Socket[] = [];
for (let i = 0; i < 2 * o.n; i++) {
  bytes.push(0);
  const s = o.rawPort ? rawClient(i) : i < o.n ? rtmpPlayer(i) : flvPlayer(i);
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
process.stdout.write(`${JSON.stringify({ phase: 'window-start', at: Date.now() })}\n`);
await new Promise((r) => setTimeout(r, o.windowMs));
const window = bytes.map((b, i) => b - before[i]!);
process.stdout.write(`${JSON.stringify({ phase: 'done', receiving, failed, window })}\n`);
for (const s of sockets) s.destroy();
process.exit(0);
