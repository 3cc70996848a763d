// SYN cookies for the INDUCTION phase (draft §4.3.1.1, RFC 4987): the listener keeps no state for a
// caller until it echoes a cookie derived from its address, a secret and a coarse time bucket.
// Pure computation: the secret and the clock are injected.
import { createHmac } from 'node:crypto';
import { SrtError, UINT16_MAX, UINT32_MAX, assertUint } from './errors.js';

/** Construction options for SynCookies. */
export interface SynCookieOptions {
  /** HMAC key; at least 16 bytes (e.g. crypto.randomBytes(32) at startup). */
  secret: Buffer;
  /** Current time in milliseconds (Date.now in production, a fake in tests). */
  now: () => number;
  /** Width of a time bucket; 60 000 ms (the draft's "1 minute accuracy") by default. */
  bucketMs?: number;
}

/** Issues and checks SRT SYN cookies bound to a caller's ip:port. */
export class SynCookies {
  private readonly secret: Buffer;
  private readonly now: () => number;
  private readonly bucketMs: number;

  constructor(options: SynCookieOptions) {
    if (options.secret.length < 16) {
      throw new SrtError('invalid-argument', 'cookie secret must be at least 16 bytes');
    }
    const bucketMs = options.bucketMs ?? 60_000;
    if (!Number.isInteger(bucketMs) || bucketMs <= 0) {
      throw new SrtError('invalid-argument', `bucketMs must be a positive integer, got ${bucketMs}`);
    }
    this.secret = Buffer.from(options.secret); // a private copy: the caller may reuse its buffer
    this.now = options.now;
    this.bucketMs = bucketMs;
  }

  /** The cookie for this caller in the current bucket; never 0 (0 means "no cookie yet"). */
  generate(ip: string, port: number): number {
    assertUint(port, UINT16_MAX, 'port');
    return this.cookieFor(this.bucket(), ip, port);
  }

  /** True when `cookie` was issued to this ip:port in the current or the previous bucket. */
  check(cookie: number, ip: string, port: number): boolean {
    if (!Number.isInteger(cookie) || cookie <= 0 || cookie > UINT32_MAX) return false;
    if (!Number.isInteger(port) || port < 0 || port > UINT16_MAX) return false;
    const bucket = this.bucket();
    return cookie === this.cookieFor(bucket, ip, port) || cookie === this.cookieFor(bucket - 1, ip, port);
  }

  private bucket(): number {
    const now = this.now();
    if (!Number.isFinite(now)) throw new SrtError('invalid-argument', `clock returned ${now}`);
    return Math.floor(now / this.bucketMs);
  }

  private cookieFor(bucket: number, ip: string, port: number): number {
    const fixed = Buffer.alloc(10);
    fixed.writeBigInt64BE(BigInt(bucket), 0);
    fixed.writeUInt16BE(port, 8);
    // The address goes last so the variable-length part cannot be confused with the fixed fields.
    const digest = createHmac('sha256', this.secret).update(fixed).update(ip.toLowerCase(), 'utf8').digest();
    return digest.readUInt32BE(0) || 1;
  }
}
