// The simple AMF3 types (AMF 3 specification, sections 1.3.1, 3.2–3.8), reached from AMF0 through the
// AVM+ marker. Complex AMF3 types are rejected: RTMP commands never need them before the stream is known.
import type { Amf3Value } from './amf-values.js';
import { RtmpError } from './errors.js';

/** AMF3 type markers. */
export const Amf3Marker = {
  Undefined: 0x00,
  Null: 0x01,
  False: 0x02,
  True: 0x03,
  Integer: 0x04,
  Double: 0x05,
  String: 0x06,
  XmlDocument: 0x07,
  Date: 0x08,
  Array: 0x09,
  Object: 0x0a,
  Xml: 0x0b,
  ByteArray: 0x0c,
  VectorInt: 0x0d,
  VectorUint: 0x0e,
  VectorDouble: 0x0f,
  VectorObject: 0x10,
  Dictionary: 0x11,
} as const;

/** Result of decoding one AMF3 value: the value and the offset just after it. */
export interface Amf3Decoded {
  value: Amf3Value;
  end: number;
}

function truncated(what: string): RtmpError {
  return new RtmpError('AMF_TRUNCATED', `AMF3 ${what} runs past the end of the data`);
}

/** Reads a variable-length U29 (1–4 bytes) at `pos`; returns the value and the offset after it. */
export function readU29(buf: Buffer, pos: number, end: number): { value: number; end: number } {
  let value = 0;
  for (let i = 0; i < 3; i++) {
    if (pos >= end) throw truncated('U29');
    const b = buf[pos++];
    if ((b & 0x80) === 0) return { value: (value << 7) | b, end: pos };
    value = (value << 7) | (b & 0x7f);
  }
  if (pos >= end) throw truncated('U29');
  // The fourth byte carries 8 bits.
  return { value: ((value << 8) | buf[pos]) >>> 0, end: pos + 1 };
}

/**
 * Decodes one simple AMF3 value at `start`. `strings` is the AMF3 string reference table of the current AMF3
 * context (non-empty strings are appended as they are read).
 */
export function decodeAmf3Simple(buf: Buffer, start: number, end: number, strings: string[]): Amf3Decoded {
  if (start >= end) throw truncated('marker');
  const marker = buf[start];
  const pos = start + 1;
  switch (marker) {
    case Amf3Marker.Undefined:
      return { value: undefined, end: pos };
    case Amf3Marker.Null:
      return { value: null, end: pos };
    case Amf3Marker.False:
      return { value: false, end: pos };
    case Amf3Marker.True:
      return { value: true, end: pos };
    case Amf3Marker.Integer: {
      const u = readU29(buf, pos, end);
      // Sign-extend the 29-bit value.
      const v = u.value & 0x10000000 ? u.value - 0x20000000 : u.value;
      return { value: v, end: u.end };
    }
    case Amf3Marker.Double:
      if (end - pos < 8) throw truncated('double');
      return { value: buf.readDoubleBE(pos), end: pos + 8 };
    case Amf3Marker.String: {
      const u = readU29(buf, pos, end);
      if ((u.value & 1) === 0) {
        const index = u.value >>> 1;
        if (index >= strings.length) {
          throw new RtmpError('AMF_BAD_REFERENCE', `AMF3 string reference ${index} with ${strings.length} strings seen`);
        }
        return { value: strings[index], end: u.end };
      }
      const length = u.value >>> 1;
      if (end - u.end < length) throw truncated('string');
      const text = buf.toString('utf8', u.end, u.end + length);
      if (length > 0) strings.push(text);
      return { value: text, end: u.end + length };
    }
    default:
      if (marker <= Amf3Marker.Dictionary) {
        throw new RtmpError('AMF3_UNSUPPORTED', `AMF3 complex type 0x${marker.toString(16)} is not supported`);
      }
      throw new RtmpError('AMF_BAD_MARKER', `unknown AMF3 marker 0x${marker.toString(16)}`);
  }
}
