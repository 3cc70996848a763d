// Generic mutators under the structure-aware ones: byte-level edits of an encoded message and token-level
// edits of text (paths, headers, SDP lines), biased towards the values parsers get wrong (lengths at their
// limits, 0/−1, separators, encodings).
import type { Rng } from './rng.js';

const BYTES_OF_NOTE = [0x00, 0x01, 0x02, 0x03, 0x0a, 0x0d, 0x20, 0x25, 0x3a, 0x7f, 0x80, 0xc0, 0xfe, 0xff];
const WORDS_OF_NOTE = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff];

/** Text fragments that have broken parsers: encodings, separators, control characters, very long runs. */
export const TEXT_TOKENS = [
  '%00',
  '%2e%2e/',
  '%2e%2e%2f',
  '..',
  '../',
  '..\\',
  '\\',
  '%',
  '%%',
  '%zz',
  '%c0%af',
  '%252e',
  '%ff',
  '\r\n',
  '\n',
  '\r',
  '\0',
  '\t',
  ' ',
  '?',
  '#',
  '&',
  '=',
  ';',
  ':',
  '//',
  '@',
  '[',
  ']',
  '"',
  "'",
  '<',
  '>',
  '{',
  '}',
  'é',
  '\u202e',
  '\ud83d\ude00',
  '\ufeff',
  '\u0000',
  '\u001b[31m',
  '-1',
  '0',
  '4294967296',
  '1e309',
  'NaN',
  'null',
  '__proto__',
  'constructor',
  '${x}',
];

export interface MutateOptions {
  /** Largest output (inputs are clipped to it). */
  maxLength?: number;
  /** Edits to apply (default 1..4). */
  edits?: number;
}

/** Applies a few random byte edits to a copy of `input`. */
export function mutateBytes(rng: Rng, input: Buffer, options: MutateOptions = {}): Buffer {
  const maxLength = options.maxLength ?? 65_536;
  let buf: Buffer = Buffer.from(input);
  const edits = options.edits ?? rng.range(1, 4);
  for (let e = 0; e < edits; e++) buf = editOnce(rng, buf);
  return buf.length > maxLength ? buf.subarray(0, maxLength) : buf;
}

function editOnce(rng: Rng, buf: Buffer): Buffer {
  const at = (extra = 0) => rng.int(Math.max(1, buf.length - extra));
  switch (buf.length === 0 ? 6 : rng.int(12)) {
    case 0: {
      const i = at();
      buf[i] = buf[i]! ^ (1 << rng.int(8));
      return buf;
    }
    case 1:
      buf[at()] = rng.u32() & 0xff;
      return buf;
    case 2:
      buf[at()] = rng.pick(BYTES_OF_NOTE);
      return buf;
    case 3:
      if (buf.length >= 2) buf.writeUInt16BE(rng.pick(WORDS_OF_NOTE) & 0xffff, at(1));
      return buf;
    case 4:
      if (buf.length >= 4) buf.writeUInt32BE(rng.pick(WORDS_OF_NOTE) >>> 0, at(3));
      return buf;
    case 5: {
      // Off-by-one on a length-looking byte.
      const i = at();
      buf[i] = (buf[i]! + (rng.chance(0.5) ? 1 : 255)) & 0xff;
      return buf;
    }
    case 6: {
      const i = rng.int(buf.length + 1);
      return Buffer.concat([buf.subarray(0, i), rng.bytes(rng.range(1, 64)), buf.subarray(i)]);
    }
    case 7: {
      const i = rng.int(buf.length + 1);
      const run = Buffer.alloc(rng.pick([16, 256, 4096, 16_384]), rng.pick(BYTES_OF_NOTE));
      return Buffer.concat([buf.subarray(0, i), run, buf.subarray(i)]);
    }
    case 8: {
      const i = at();
      const n = rng.range(1, Math.max(1, Math.min(256, buf.length - i)));
      return Buffer.concat([buf.subarray(0, i), buf.subarray(i + n)]);
    }
    case 9: {
      const i = at();
      const n = rng.range(1, Math.max(1, Math.min(512, buf.length - i)));
      const piece = buf.subarray(i, i + n);
      const times = rng.range(1, 8);
      return Buffer.concat([buf.subarray(0, i + n), ...Array.from({ length: times }, () => piece), buf.subarray(i + n)]);
    }
    case 10:
      return buf.subarray(0, rng.int(buf.length));
    default:
      return Buffer.concat([buf, rng.bytes(rng.range(1, 128))]);
  }
}

/** Applies a few token-level edits to `text` (insert, replace, repeat, cut). */
export function mutateText(rng: Rng, text: string, edits = rng.range(1, 3)): string {
  let s = text;
  for (let e = 0; e < edits; e++) {
    const i = rng.int(s.length + 1);
    switch (rng.int(5)) {
      case 0:
        s = s.slice(0, i) + rng.pick(TEXT_TOKENS) + s.slice(i);
        break;
      case 1: {
        const n = rng.range(1, 8);
        s = s.slice(0, i) + rng.pick(TEXT_TOKENS) + s.slice(i + n);
        break;
      }
      case 2:
        s = s.slice(0, i) + rng.pick(['A', '/', '%41', '.', '\u00ff']).repeat(rng.pick([64, 1024, 8192, 70_000])) + s.slice(i);
        break;
      case 3:
        s = s.slice(0, i) + s.slice(i + rng.range(1, 16));
        break;
      default: {
        // Percent-encode a stretch (sometimes twice), as odd clients and attackers do.
        const n = rng.range(1, 12);
        const enc = [...s.slice(i, i + n)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
        s = s.slice(0, i) + (rng.chance(0.3) ? enc.replace(/%/g, '%25') : enc) + s.slice(i + n);
      }
    }
  }
  return s;
}

/** Splits `data` into 1..4 writes at random points (segmentation must not matter to a parser). */
export function splitWrites(rng: Rng, data: Buffer): Buffer[] {
  const cuts = new Set<number>();
  const n = rng.int(4);
  for (let i = 0; i < n && data.length > 1; i++) cuts.add(1 + rng.int(data.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), data.length];
  const parts: Buffer[] = [];
  for (let i = 0; i + 1 < points.length; i++) parts.push(data.subarray(points[i], points[i + 1]));
  return parts;
}
