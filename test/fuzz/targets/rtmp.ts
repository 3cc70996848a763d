// RTMP listener inputs: a whole client session (C0+C1+C2, then chunks carrying connect … publish/play and
// media) as a real encoder sends it, with one structure-aware mutation: the handshake bytes, one AMF0
// command body (values or bytes), a hand-made chunk with any fmt/csid form and extended timestamps, raw byte
// edits of the chunk stream, a flood of pre-publish commands, or protocol control messages with odd values.
import { Amf0Date, Amf0EcmaArray, Amf0Object, encodeCommand, type Amf0Value } from '../../../src/rtmp/amf0.js';
import { ChunkWriter } from '../../../src/rtmp/chunk.js';
import { MessageType, controlMessage, type RtmpMessage } from '../../../src/rtmp/messages.js';
import { mutateBytes, mutateText, splitWrites } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzInput, FuzzTarget } from '../target.js';
import { deliverTcp } from '../target.js';

const HANDSHAKE_SIZE = 1536;
const CHUNK_SIZES = [1, 2, 127, 128, 129, 4096, 60_000, 65_536, 0xffffff, 0x7fffffff];

function handshake(rng: Rng): Buffer {
  const c1 = rng.bytes(HANDSHAKE_SIZE);
  // Half simple (zero version field), half digest-looking (non-zero version, digest not valid).
  if (rng.chance(0.5)) c1.writeUInt32BE(0, 4);
  else c1.writeUInt32BE(0x80000702, 4);
  return Buffer.concat([Buffer.from([3]), c1, rng.bytes(HANDSHAKE_SIZE)]);
}

/** A random AMF0 value, sometimes huge or deeply nested; `budget` caps the values made (one input stays small). */
export function randomAmf0(rng: Rng, depth = 0, budget = { values: 30_000, chars: 400_000 }): Amf0Value {
  if (--budget.values <= 0) return null;
  switch (rng.int(depth > 6 ? 6 : 11)) {
    case 0:
      return rng.pick([0, -0, 1, -1, NaN, Infinity, -Infinity, 2 ** 53, 1e308, 0xffffffff, rng.u32()]);
    case 1:
      return rng.chance(0.5);
    case 2: {
      const text = rng.chance(0.97)
        ? mutateText(rng, rng.word(rng.range(0, 12))).slice(0, rng.chance(0.9) ? 64 : 70_000)
        : 'x'.repeat(rng.pick([65_535, 65_536, 200_000]));
      budget.chars -= text.length;
      return budget.chars > 0 ? text : '';
    }
    case 3:
      return null;
    case 4:
      return undefined;
    case 5:
      return new Amf0Date(rng.pick([0, -1, 8.64e15, NaN]), rng.int(0x10000) - 0x8000);
    case 6: {
      const o = new Amf0Object();
      const n = rng.chance(0.03) ? rng.pick([1000, 20_000]) : rng.int(6);
      for (let i = 0; i < n; i++)
        o.set(n > 100 ? `k${i}` : rng.chance(0.8) ? rng.word(rng.range(0, 8)) : mutateText(rng, 'key').slice(0, 70_000), randomAmf0(rng, depth + 1, budget));
      return o;
    }
    case 7: {
      const a = new Amf0EcmaArray();
      for (let i = 0, n = rng.int(5); i < n; i++) a.set(String(i), randomAmf0(rng, depth + 1, budget));
      if (rng.chance(0.5)) a.declaredCount = rng.pick([0, 1, 0xffffffff, 0x7fffffff]);
      return a;
    }
    case 8:
      return Array.from({ length: rng.int(5) }, () => randomAmf0(rng, depth + 1, budget));
    default: {
      // A deep chain of objects (decoders must bound their depth).
      let v: Amf0Value = 1;
      for (let i = 0, n = rng.pick([10, 63, 64, 65, 500]); i < n; i++) v = Amf0Object.fromRecord({ a: v });
      return v;
    }
  }
}

/** A chunk with a hand-chosen fmt, csid encoding, header values and (maybe extended) timestamp. */
function rawChunk(rng: Rng): Buffer {
  const fmt = rng.int(4);
  const csid = rng.pick([0, 1, 2, 3, 63, 64, 65, 319, 320, 321, 65_599, rng.range(2, 65_599)]);
  const parts: Buffer[] = [];
  if (csid >= 2 && csid <= 63) parts.push(Buffer.from([(fmt << 6) | csid]));
  else if (csid < 320) parts.push(Buffer.from([(fmt << 6) | 0, (csid - 64) & 0xff]));
  else parts.push(Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, ((csid - 64) >> 8) & 0xff]));
  const timestamp = rng.pick([0, 1, 0xfffffe, 0xffffff, rng.u32() & 0xffffff]);
  const length = rng.pick([0, 1, 4, 127, 128, 129, 0xffffff, rng.int(4096)]);
  const type = rng.pick([1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22, 0, 7, 255, rng.int(256)]);
  if (fmt <= 2) {
    const h = Buffer.alloc(fmt === 0 ? 11 : fmt === 1 ? 7 : 3);
    h.writeUIntBE(timestamp, 0, 3);
    if (fmt <= 1) {
      h.writeUIntBE(length, 3, 3);
      h[6] = type;
    }
    if (fmt === 0) h.writeUInt32LE(rng.pick([0, 1, 0xffffffff, rng.u32()]), 7);
    parts.push(h);
  }
  if (timestamp === 0xffffff || rng.chance(0.1)) {
    const ext = Buffer.alloc(4);
    ext.writeUInt32BE(rng.pick([0, 0xffffff, 0xffffffff, rng.u32()]) >>> 0);
    parts.push(ext);
  }
  parts.push(rng.bytes(rng.pick([0, 1, 16, 128, 129, Math.min(length, 4096)])));
  return Buffer.concat(parts);
}

/** Deep enough to pass any decoder's depth limit (the encoder's own limit is lifted). */
const DEEP = { maxDepth: 10_000 };

function command(name: string, tid: number, commandObject: Amf0Value, args: Amf0Value[], streamId = 0): RtmpMessage {
  return { type: MessageType.CommandAmf0, timestamp: 0, streamId, csid: 3, payload: encodeCommand({ name, transactionId: tid, commandObject, args }, DEEP) };
}

function controlWith(rng: Rng): RtmpMessage {
  const type = rng.pick([1, 2, 3, 4, 5, 6]);
  const payload = type === 4 ? Buffer.alloc(rng.pick([2, 6, 10]), 0) : Buffer.alloc(rng.pick([0, 1, 4, 5, 8]));
  if (payload.length >= 4 && type !== 4) payload.writeUInt32BE(rng.pick([0, 1, 128, 0x7fffffff, 0x80000000, 0xffffffff]) >>> 0);
  if (type === 4 && payload.length >= 2) payload.writeUInt16BE(rng.pick([0, 1, 2, 3, 4, 6, 7, 31, 32, 0xffff]));
  return controlMessage(type, payload);
}

/** The messages of a normal publish or play session (connect … publish/play, then a little media). */
function session(rng: Rng, port: number): RtmpMessage[] {
  const stream = `fz${rng.int(40)}`;
  const publish = rng.chance(0.5);
  const connect = Amf0Object.fromRecord({
    app: 'live',
    type: 'nonprivate',
    flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)',
    tcUrl: `rtmp://127.0.0.1:${port}/live`,
    ...(rng.chance(0.3) ? { objectEncoding: rng.pick([0, 3]), fpad: false, capabilities: 239 } : {}),
  });
  const msgs: RtmpMessage[] = [command('connect', 1, connect, [])];
  if (publish) msgs.push(command('releaseStream', 2, null, [stream]), command('FCPublish', 3, null, [stream]));
  msgs.push(command('createStream', 4, null, []));
  msgs.push(publish ? command('publish', 5, null, [stream, 'live'], 1) : command('play', 5, null, [stream, -2000], 1));
  if (publish) {
    msgs.push({
      type: MessageType.DataAmf0,
      timestamp: 0,
      streamId: 1,
      csid: 5,
      payload: encodeCommand({
        name: '@setDataFrame',
        transactionId: 0,
        commandObject: 'onMetaData',
        args: [Amf0EcmaArray.fromRecord({ width: 640, height: 360 })],
      }).subarray(0),
    });
    for (let i = 0, n = rng.int(6); i < n; i++) {
      const video = rng.chance(0.5);
      msgs.push({
        type: video ? MessageType.Video : MessageType.Audio,
        timestamp: i * 40,
        streamId: 1,
        csid: video ? 6 : 4,
        payload: rng.bytes(rng.pick([0, 1, 2, 5, 100, 3000])),
      });
    }
  }
  return msgs;
}

/** The bytes of a whole valid client session (handshake, connect … publish/play, media) in one write. */
export function validRtmpSession(rng: Rng, port: number): Buffer {
  const writer = new ChunkWriter();
  return Buffer.concat([handshake(rng), ...session(rng, port).map((m) => writer.encode(m))]);
}

export function rtmpTarget(port: number): FuzzTarget {
  return {
    name: 'rtmp',
    transport: 'tcp',
    port,
    concurrency: 48,
    generate(rng: Rng): FuzzInput {
      let hs = handshake(rng);
      let msgs = session(rng, port);
      const chunkSize = rng.chance(0.5) ? rng.pick(CHUNK_SIZES) : undefined;
      const writer = new ChunkWriter({ compressHeaders: rng.chance(0.7) });
      const kind = rng.int(8);
      let label: string;
      let inserted: Buffer | undefined;
      let insertAt = 0;
      switch (kind) {
        case 0:
          hs = mutateBytes(rng, hs.subarray(0, 1 + HANDSHAKE_SIZE), { maxLength: 8192 });
          if (rng.chance(0.5)) hs = Buffer.concat([hs, rng.bytes(HANDSHAKE_SIZE)]);
          label = 'handshake bytes';
          break;
        case 1: {
          const i = rng.int(msgs.length);
          const m = msgs[i]!;
          const payload = rng.chance(0.5)
            ? encodeCommand(
                {
                  name: rng.pick([
                    'connect',
                    'createStream',
                    'publish',
                    'play',
                    'FCPublish',
                    'deleteStream',
                    'closeStream',
                    '_checkbw',
                    'getStreamLength',
                    mutateText(rng, 'x'),
                  ]),
                  transactionId: randomNumber(rng),
                  commandObject: randomAmf0(rng),
                  args: Array.from({ length: rng.int(4) }, () => randomAmf0(rng)),
                },
                DEEP,
              )
            : mutateBytes(rng, m.payload, { maxLength: 1 << 20 });
          msgs[i] = { ...m, payload, type: rng.chance(0.1) ? MessageType.CommandAmf3 : m.type };
          label = `amf0 body of message ${i}`;
          break;
        }
        case 2:
          inserted = Buffer.concat(Array.from({ length: rng.range(1, 3) }, () => rawChunk(rng)));
          insertAt = rng.int(msgs.length + 1);
          label = `raw chunk before message ${insertAt}`;
          break;
        case 3:
          label = 'chunk stream bytes';
          break;
        case 4: {
          const n = rng.pick([50, 500, 2000]);
          const arg = rng.word(rng.pick([4, 4, 1000]));
          const flood = Array.from({ length: n }, (_, k) =>
            command(rng.pick(['releaseStream', 'FCPublish', 'FCSubscribe', '_checkbw', 'unknownCall']), 10 + k, null, [arg]),
          );
          msgs = [msgs[0]!, ...flood, ...msgs.slice(1)];
          label = `${n} commands before publish`;
          break;
        }
        case 5: {
          const at = rng.int(msgs.length + 1);
          msgs.splice(at, 0, ...Array.from({ length: rng.range(1, 4) }, () => controlWith(rng)));
          label = `control messages at ${at}`;
          break;
        }
        default:
          label = 'valid session';
      }
      const out: Buffer[] = [];
      if (chunkSize !== undefined) out.push(writer.encodeSetChunkSize(chunkSize));
      msgs.forEach((m, i) => {
        if (inserted && i === insertAt) out.push(inserted);
        out.push(writer.encode(m));
      });
      if (inserted && insertAt === msgs.length) out.push(inserted);
      let chunks: Buffer = Buffer.concat(out);
      if (kind === 3) chunks = mutateBytes(rng, chunks, { maxLength: 1 << 20 });
      return { label: chunkSize !== undefined ? `${label}, chunk size ${chunkSize}` : label, parts: splitWrites(rng, Buffer.concat([hs, chunks])) };
    },
    async deliver(input) {
      await deliverTcp(port, input.parts, { lingerMs: 40 });
    },
  };
}

function randomNumber(rng: Rng): number {
  return rng.pick([0, 1, -1, NaN, 2 ** 53, rng.u32()]);
}
