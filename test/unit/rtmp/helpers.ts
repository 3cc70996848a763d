// Shared test helpers for the RTMP codec tests.
import assert from 'node:assert/strict';
import { RtmpError, type RtmpErrorCode } from '../../../src/rtmp/errors.js';

/** Bytes from a hex string; spaces, newlines and `|` separators are ignored. */
export function hex(s: string): Buffer {
  const clean = s.replace(/[\s|]/g, '');
  assert.ok(/^([0-9a-fA-F]{2})*$/.test(clean), `bad hex: ${s}`);
  return Buffer.from(clean, 'hex');
}

/** ASCII bytes of `s`. */
export function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Asserts that `fn` throws an RtmpError (with `code`, if given). */
export function throwsRtmp(fn: () => unknown, code?: RtmpErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RtmpError, `expected RtmpError, got ${String(e)}`);
    if (code !== undefined) assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Runs `fn`; any exception other than RtmpError fails the test. Returns the result or undefined. */
export function onlyRtmpErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RtmpError) return undefined;
    throw e;
  }
}

/** Deterministic "random" bytes for injectable randomness: 0, 1, 2, ... from `seed`. */
export function counterBytes(seed: number): (n: number) => Buffer {
  let next = seed;
  return (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = next++ & 0xff;
    return b;
  };
}

/** Splits `buf` at the given (sorted or not) cut points, which are taken modulo its length. */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length === 0 ? 0 : c % (buf.length + 1))))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  parts.push(buf.subarray(prev));
  return parts;
}
