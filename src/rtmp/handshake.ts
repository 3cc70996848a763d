// RTMP handshake (Adobe RTMP specification 1.0, section 5.2) plus the digest ("complex") variant that Flash
// Player and FMS-compatible peers use: C1/S1 carry an HMAC-SHA256 digest at an offset derived from the packet,
// keyed with the "Genuine Adobe Flash Player/Media Server 001" keys, and S2/C2 end with an HMAC that proves
// the peer saw the other side's digest. State machines only: they take bytes and return bytes to send.
import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { RtmpError } from './errors.js';

/** The only RTMP version spoken (plain, unencrypted RTMP). */
export const RTMP_VERSION = 3;
/** Size of C1, C2, S1 and S2. */
export const HANDSHAKE_PACKET_SIZE = 1536;
/** Size of the digest inside C1/S1 and at the end of S2/C2. */
export const DIGEST_SIZE = 32;
/** Version field the server writes in a digest S1 (any non-zero value marks the digest handshake). */
export const SERVER_DIGEST_VERSION = 0x04050001;

/** Where the digest sits: schema 0 puts the 764-byte key block first, schema 1 the digest block first. */
export type DigestSchema = 0 | 1;

/** Source of random bytes (injectable so tests are deterministic). */
export type RandomBytes = (size: number) => Buffer;

/** Result of feeding bytes to a handshake. */
export interface HandshakeOutput {
  /** Bytes to send to the peer now (may be empty). */
  send: Buffer;
  /** True once the handshake is finished. */
  done: boolean;
  /** When done: bytes received after the handshake (the start of the chunk stream). Otherwise empty. */
  rest: Buffer;
}

const FP_KEY_TEXT = 'Genuine Adobe Flash Player 001';
const FMS_KEY_TEXT = 'Genuine Adobe Flash Media Server 001';
/** The 32 bytes both Genuine keys end with. */
const KEY_TAIL: readonly number[] = Object.freeze([
  0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8,
  0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
]);

/** The Flash Player key: the 30-byte text signs C1; text plus tail (62 bytes) derives the C2 key. */
function playerKey(full: boolean): Buffer {
  const text = Buffer.from(FP_KEY_TEXT, 'latin1');
  return full ? Buffer.concat([text, Buffer.from(KEY_TAIL)]) : text;
}

/** The FMS key: the 36-byte text signs S1; text plus tail (68 bytes) derives the S2 key. */
function serverKey(full: boolean): Buffer {
  const text = Buffer.from(FMS_KEY_TEXT, 'latin1');
  return full ? Buffer.concat([text, Buffer.from(KEY_TAIL)]) : text;
}

function hmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

/**
 * Offset of the 32-byte digest in a C1/S1 packet (1536 bytes, without C0/S0). The digest block starts at 8
 * (schema 1) or 772 (schema 0); its first 4 bytes, summed, modulo 728, give the digest's place after them.
 */
export function digestOffset(packet: Buffer, schema: DigestSchema): number {
  const base = schema === 0 ? 8 + 764 : 8;
  const sum = packet[base] + packet[base + 1] + packet[base + 2] + packet[base + 3];
  return base + 4 + (sum % 728);
}

/** HMAC-SHA256 of a C1/S1 packet without its 32 digest bytes at `offset`. */
function packetDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return hmac(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_SIZE, HANDSHAKE_PACKET_SIZE));
}

/** Writes a valid digest into a C1/S1 packet (in place) for the given key; returns the digest. */
function signPacket(packet: Buffer, schema: DigestSchema, key: Buffer): Buffer {
  const offset = digestOffset(packet, schema);
  const digest = packetDigest(packet, offset, key);
  digest.copy(packet, offset);
  return digest;
}

function findDigest(packet: Buffer, key: Buffer): { schema: DigestSchema; digest: Buffer } | null {
  if (packet.length !== HANDSHAKE_PACKET_SIZE) return null;
  for (const schema of [0, 1] as const) {
    const offset = digestOffset(packet, schema);
    const expected = packetDigest(packet, offset, key);
    const actual = packet.subarray(offset, offset + DIGEST_SIZE);
    if (timingSafeEqual(expected, actual)) return { schema, digest: Buffer.from(actual) };
  }
  return null;
}

/** Checks a client's C1 for a Flash Player digest; returns the schema and digest, or null (simple handshake). */
export function findClientDigest(c1: Buffer): { schema: DigestSchema; digest: Buffer } | null {
  return findDigest(c1, playerKey(false));
}

/** Builds a digest S1: time, non-zero version, random bytes, and an FMS-key digest in the client's schema. */
export function makeDigestS1(schema: DigestSchema, random: Buffer, time = 0): Buffer {
  const s1 = Buffer.alloc(HANDSHAKE_PACKET_SIZE);
  random.copy(s1, 8, 0, HANDSHAKE_PACKET_SIZE - 8);
  s1.writeUInt32BE(time >>> 0, 0);
  s1.writeUInt32BE(SERVER_DIGEST_VERSION, 4);
  signPacket(s1, schema, serverKey(false));
  return s1;
}

/**
 * Builds a digest S2 answering a client digest: 1504 random bytes and then
 * HMAC(HMAC(full FMS key, client digest), those 1504 bytes).
 */
export function makeDigestS2(clientDigest: Buffer, random: Buffer): Buffer {
  const s2 = Buffer.alloc(HANDSHAKE_PACKET_SIZE);
  random.copy(s2, 0, 0, HANDSHAKE_PACKET_SIZE - DIGEST_SIZE);
  const key = hmac(serverKey(true), clientDigest);
  hmac(key, s2.subarray(0, HANDSHAKE_PACKET_SIZE - DIGEST_SIZE)).copy(s2, HANDSHAKE_PACKET_SIZE - DIGEST_SIZE);
  return s2;
}

/** Options for the server side of the handshake. */
export interface ServerHandshakeOptions {
  /** Random source for S1/S2. Default node:crypto randomBytes. */
  randomBytes?: RandomBytes;
  /** Value of S1's time field. Default 0. */
  time?: number;
  /** Answer digest C1s with a digest S1/S2 (default true); false always uses the simple handshake. */
  digest?: boolean;
}

/**
 * Server side: reads C0+C1, answers S0+S1+S2 in one piece, then waits for C2 (whose contents are not checked,
 * as many clients do not echo S1 exactly). C0 values 32..255 are rejected (not RTMP); other versions are
 * answered with version 3, as the spec says.
 */
export class ServerHandshake {
  private readonly random: RandomBytes;
  private readonly time: number;
  private readonly digestAllowed: boolean;
  private pending: Buffer = Buffer.alloc(0);
  private stage: 'c0c1' | 'c2' | 'done' = 'c0c1';
  private c0: number | undefined;
  private schemaUsed: DigestSchema | null = null;

  constructor(options: ServerHandshakeOptions = {}) {
    this.random = options.randomBytes ?? cryptoRandomBytes;
    this.time = options.time ?? 0;
    this.digestAllowed = options.digest ?? true;
  }

  /** True once C2 has been received. */
  get done(): boolean {
    return this.stage === 'done';
  }

  /** The version byte the client sent in C0 (undefined until received). */
  get clientVersion(): number | undefined {
    return this.c0;
  }

  /** 'digest' when C1 carried a valid Flash Player digest and S1/S2 were signed; 'simple' otherwise. */
  get mode(): 'simple' | 'digest' | undefined {
    if (this.stage === 'c0c1') return undefined;
    return this.schemaUsed === null ? 'simple' : 'digest';
  }

  /** The digest schema used (null for a simple handshake). */
  get schema(): DigestSchema | null {
    return this.schemaUsed;
  }

  /** Feeds received bytes; returns what to send, whether the handshake is over, and any bytes beyond it. */
  feed(data: Buffer): HandshakeOutput {
    if (this.stage === 'done') return { send: Buffer.alloc(0), done: true, rest: data };
    if (data.length > 0 && this.c0 === undefined && this.pending.length === 0) this.checkVersion(data[0]);
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    let send: Buffer = Buffer.alloc(0);
    if (this.stage === 'c0c1') {
      if (this.pending.length < 1 + HANDSHAKE_PACKET_SIZE) return { send, done: false, rest: Buffer.alloc(0) };
      const c1 = this.pending.subarray(1, 1 + HANDSHAKE_PACKET_SIZE);
      send = this.answer(c1);
      this.pending = this.pending.subarray(1 + HANDSHAKE_PACKET_SIZE);
      this.stage = 'c2';
    }
    if (this.pending.length < HANDSHAKE_PACKET_SIZE) return { send, done: false, rest: Buffer.alloc(0) };
    const rest = this.pending.subarray(HANDSHAKE_PACKET_SIZE);
    this.pending = Buffer.alloc(0);
    this.stage = 'done';
    return { send, done: true, rest };
  }

  private checkVersion(version: number): void {
    // 32..255 are forbidden so that RTMP can be told apart from text protocols (RTMP specification 1.0 §5.2.2).
    if (version >= 32) throw new RtmpError('HANDSHAKE_VERSION', `C0 version ${version} is not RTMP`);
    this.c0 = version;
  }

  /** S0 + S1 + S2 for a given C1. */
  private answer(c1: Buffer): Buffer {
    // A zero version field means the client does not use the digest scheme (RTMP specification 1.0 §5.2.3).
    const found = this.digestAllowed && c1.readUInt32BE(4) !== 0 ? findClientDigest(c1) : null;
    const out = Buffer.allocUnsafe(1 + 2 * HANDSHAKE_PACKET_SIZE);
    out[0] = RTMP_VERSION;
    if (found === null) {
      // Simple: S1 = time, four zero bytes, random; S2 = C1 echoed.
      out.writeUInt32BE(this.time >>> 0, 1);
      out.writeUInt32BE(0, 5);
      this.randomInto(out, 9, HANDSHAKE_PACKET_SIZE - 8);
      c1.copy(out, 1 + HANDSHAKE_PACKET_SIZE);
      return out;
    }
    this.schemaUsed = found.schema;
    makeDigestS1(found.schema, this.randomOf(HANDSHAKE_PACKET_SIZE - 8), this.time).copy(out, 1);
    makeDigestS2(found.digest, this.randomOf(HANDSHAKE_PACKET_SIZE - DIGEST_SIZE)).copy(out, 1 + HANDSHAKE_PACKET_SIZE);
    return out;
  }

  private randomOf(size: number): Buffer {
    const r = this.random(size);
    if (r.length < size) throw new RtmpError('INVALID_ARGUMENT', `randomBytes returned ${r.length} bytes, ${size} requested`);
    return r;
  }

  private randomInto(target: Buffer, offset: number, size: number): void {
    this.randomOf(size).copy(target, offset, 0, size);
  }
}

/** Options for the client side of the handshake. */
export interface ClientHandshakeOptions {
  /** Random source for C1. Default node:crypto randomBytes. */
  randomBytes?: RandomBytes;
  /** Value of C1's time field. Default 0. */
  time?: number;
}

/**
 * Client side (the proxy dialling an origin), simple handshake: C0 = 3, C1 = time, zero version, random.
 * After S0+S1+S2 it sends C2 = S1 echoed. S0 must be 3; S2 is not required to echo C1 (digest servers do not).
 */
export class ClientHandshake {
  private readonly c0c1: Buffer;
  private pending: Buffer = Buffer.alloc(0);
  private started = false;
  private finished = false;
  private s2Echo: boolean | undefined;

  constructor(options: ClientHandshakeOptions = {}) {
    const random = options.randomBytes ?? cryptoRandomBytes;
    this.c0c1 = Buffer.alloc(1 + HANDSHAKE_PACKET_SIZE);
    this.c0c1[0] = RTMP_VERSION;
    this.c0c1.writeUInt32BE((options.time ?? 0) >>> 0, 1);
    const r = random(HANDSHAKE_PACKET_SIZE - 8);
    if (r.length < HANDSHAKE_PACKET_SIZE - 8) throw new RtmpError('INVALID_ARGUMENT', 'randomBytes returned too few bytes');
    r.copy(this.c0c1, 9, 0, HANDSHAKE_PACKET_SIZE - 8);
  }

  /** C0 + C1, to send first. */
  start(): Buffer {
    this.started = true;
    return this.c0c1;
  }

  /** True once S0/S1/S2 arrived and C2 was produced. */
  get done(): boolean {
    return this.finished;
  }

  /** Whether S2 echoed our C1 (undefined until S2 arrives); informational only. */
  get s2EchoesC1(): boolean | undefined {
    return this.s2Echo;
  }

  /** Feeds received bytes; when S0+S1+S2 are complete returns C2 to send, done = true and the rest. */
  feed(data: Buffer): HandshakeOutput {
    if (this.finished) return { send: Buffer.alloc(0), done: true, rest: data };
    if (!this.started) throw new RtmpError('HANDSHAKE_STATE', 'ClientHandshake.start() must be sent before feeding');
    if (this.pending.length === 0 && data.length > 0 && data[0] !== RTMP_VERSION) {
      throw new RtmpError('HANDSHAKE_VERSION', `server answered version ${data[0]}, expected ${RTMP_VERSION}`);
    }
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const need = 1 + 2 * HANDSHAKE_PACKET_SIZE;
    if (this.pending.length < need) return { send: Buffer.alloc(0), done: false, rest: Buffer.alloc(0) };
    const s1 = this.pending.subarray(1, 1 + HANDSHAKE_PACKET_SIZE);
    const s2 = this.pending.subarray(1 + HANDSHAKE_PACKET_SIZE, need);
    this.s2Echo = s2.equals(this.c0c1.subarray(1));
    const c2 = Buffer.from(s1);
    const rest = this.pending.subarray(need);
    this.pending = Buffer.alloc(0);
    this.finished = true;
    return { send: c2, done: true, rest };
  }
}
