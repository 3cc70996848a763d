// AMF0 (Adobe "Action Message Format -- AMF 0", 2007) encoder and decoder, plus RTMP command helpers.
// Decoding is bounded (depth, item count, every length checked) and throws only RtmpError.
import { isUtf8 } from 'node:buffer';
import {
  Amf0Avmplus,
  Amf0Date,
  Amf0EcmaArray,
  Amf0Object,
  Amf0RawString,
  Amf0TypedObject,
  Amf0Unsupported,
  Amf0XmlDocument,
  amf0Number,
  amf0Text,
  type Amf0StrictArray,
  type Amf0Value,
} from './amf-values.js';
import { decodeAmf3Simple } from './amf3.js';
import { ByteWriter } from './byte-writer.js';
import { RtmpError } from './errors.js';

export * from './amf-values.js';

/** AMF0 type markers. */
export const Amf0Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11,
} as const;

/** Limits and leniency for decoding. */
export interface Amf0DecodeOptions {
  /** Deepest nesting of objects/arrays accepted (a top-level object is depth 1). Default 64. */
  maxDepth?: number;
  /** Most values (and properties) decoded from one buffer in total. Default 100,000. */
  maxItems?: number;
  /** A key repeated within one object: 'reject' (default; keeps decode→encode exact) or 'lastWins'. */
  duplicateKeys?: 'reject' | 'lastWins';
}

/** Limits for encoding. */
export interface Amf0EncodeOptions {
  /** Deepest nesting written; deeper (or cyclic without reference) values are rejected. Default 64. */
  maxDepth?: number;
}

export const AMF0_DEFAULT_MAX_DEPTH = 64;
export const AMF0_DEFAULT_MAX_ITEMS = 100_000;
const MAX_REFERENCE_INDEX = 0xffff;

type ComplexValue = Amf0Object | Amf0EcmaArray | Amf0TypedObject | Amf0StrictArray;
type PropertyMap = Amf0Object | Amf0EcmaArray | Amf0TypedObject;

function truncated(what: string): RtmpError {
  return new RtmpError('AMF_TRUNCATED', `AMF0 ${what} runs past the end of the data`);
}

class Amf0Decoder {
  pos: number;
  private items = 0;
  /** Complex values in the order they started, for reference markers (one table per decoded buffer). */
  private readonly refs: ComplexValue[] = [];
  /** AMF3 string reference table, shared by every AVM+ value of the buffer (one AMF3 context per message). */
  private readonly amf3Strings: string[] = [];
  private readonly maxDepth: number;
  private readonly maxItems: number;
  private readonly rejectDuplicates: boolean;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
    options: Amf0DecodeOptions,
  ) {
    this.pos = start;
    this.maxDepth = options.maxDepth ?? AMF0_DEFAULT_MAX_DEPTH;
    this.maxItems = options.maxItems ?? AMF0_DEFAULT_MAX_ITEMS;
    this.rejectDuplicates = (options.duplicateKeys ?? 'reject') === 'reject';
  }

  topLevel(): Amf0Value {
    return this.value(0);
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw truncated(what);
  }

  private countItem(): void {
    if (++this.items > this.maxItems) {
      throw new RtmpError('AMF_TOO_MANY_ITEMS', `more than ${this.maxItems} AMF0 items`);
    }
  }

  private enter(depth: number): void {
    if (depth >= this.maxDepth) throw new RtmpError('AMF_DEPTH', `AMF0 nesting deeper than ${this.maxDepth}`);
  }

  private utf8(length: number, what: string): string {
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    if (!isUtf8(this.buf.subarray(start, this.pos))) throw new RtmpError('AMF_BAD_UTF8', `AMF0 ${what} is not UTF-8`);
    return this.buf.toString('utf8', start, this.pos);
  }

  private stringValue(length: number, long: boolean): string | Amf0RawString {
    this.need(length, 'string');
    const bytes = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    // Only the canonical form (valid UTF-8, long marker only when needed) becomes a JS string.
    if (isUtf8(bytes) && long === length > 0xffff) return bytes.toString('utf8');
    return new Amf0RawString(Buffer.from(bytes), long);
  }

  value(depth: number): Amf0Value {
    this.countItem();
    this.need(1, 'marker');
    const marker = this.buf[this.pos++];
    switch (marker) {
      case Amf0Marker.Number: {
        this.need(8, 'number');
        const v = this.buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      case Amf0Marker.Boolean:
        this.need(1, 'boolean');
        return this.buf[this.pos++] !== 0;
      case Amf0Marker.String: {
        this.need(2, 'string length');
        const n = this.buf.readUInt16BE(this.pos);
        this.pos += 2;
        return this.stringValue(n, false);
      }
      case Amf0Marker.LongString: {
        this.need(4, 'long string length');
        const n = this.buf.readUInt32BE(this.pos);
        this.pos += 4;
        return this.stringValue(n, true);
      }
      case Amf0Marker.Object: {
        this.enter(depth);
        const obj = new Amf0Object();
        this.refs.push(obj);
        this.properties(obj, depth + 1);
        return obj;
      }
      case Amf0Marker.EcmaArray: {
        this.enter(depth);
        this.need(4, 'ECMA array count');
        const arr = new Amf0EcmaArray();
        arr.declaredCount = this.buf.readUInt32BE(this.pos);
        this.pos += 4;
        this.refs.push(arr);
        this.properties(arr, depth + 1);
        return arr;
      }
      case Amf0Marker.TypedObject: {
        this.enter(depth);
        this.need(2, 'class name length');
        const n = this.buf.readUInt16BE(this.pos);
        this.pos += 2;
        const obj = new Amf0TypedObject(this.utf8(n, 'class name'));
        this.refs.push(obj);
        this.properties(obj, depth + 1);
        return obj;
      }
      case Amf0Marker.StrictArray: {
        this.enter(depth);
        this.need(4, 'strict array count');
        const count = this.buf.readUInt32BE(this.pos);
        this.pos += 4;
        // Every element takes at least one byte: reject impossible counts before allocating anything.
        if (count > this.end - this.pos) throw truncated('strict array');
        if (count > this.maxItems - this.items) {
          throw new RtmpError('AMF_TOO_MANY_ITEMS', `strict array of ${count} items exceeds the limit`);
        }
        const arr: Amf0StrictArray = [];
        this.refs.push(arr);
        for (let i = 0; i < count; i++) arr.push(this.value(depth + 1));
        return arr;
      }
      case Amf0Marker.Null:
        return null;
      case Amf0Marker.Undefined:
        return undefined;
      case Amf0Marker.Reference: {
        this.need(2, 'reference');
        const index = this.buf.readUInt16BE(this.pos);
        this.pos += 2;
        if (index >= this.refs.length) {
          throw new RtmpError('AMF_BAD_REFERENCE', `AMF0 reference ${index} with ${this.refs.length} complex values seen`);
        }
        return this.refs[index];
      }
      case Amf0Marker.Date: {
        this.need(10, 'date');
        const ms = this.buf.readDoubleBE(this.pos);
        const tz = this.buf.readInt16BE(this.pos + 8);
        this.pos += 10;
        return new Amf0Date(ms, tz);
      }
      case Amf0Marker.Unsupported:
        return new Amf0Unsupported();
      case Amf0Marker.XmlDocument: {
        this.need(4, 'XML length');
        const n = this.buf.readUInt32BE(this.pos);
        this.pos += 4;
        return new Amf0XmlDocument(this.utf8(n, 'XML document'));
      }
      case Amf0Marker.AvmPlus: {
        const start = this.pos;
        const decoded = decodeAmf3Simple(this.buf, start, this.end, this.amf3Strings);
        this.pos = decoded.end;
        return new Amf0Avmplus(decoded.value, Buffer.from(this.buf.subarray(start, decoded.end)));
      }
      case Amf0Marker.ObjectEnd:
        throw new RtmpError('AMF_BAD_MARKER', 'AMF0 object-end marker where a value was expected');
      default:
        // MovieClip and RecordSet are reserved and "not supported" by the AMF0 spec; the rest are unknown.
        throw new RtmpError('AMF_BAD_MARKER', `unsupported AMF0 marker 0x${marker.toString(16)}`);
    }
  }

  /** Reads `key value` pairs up to the empty key followed by the object-end marker. */
  private properties(target: PropertyMap, depth: number): void {
    for (;;) {
      this.need(2, 'property name length');
      const n = this.buf.readUInt16BE(this.pos);
      this.pos += 2;
      if (n === 0) {
        this.need(1, 'object end');
        if (this.buf[this.pos] === Amf0Marker.ObjectEnd) {
          this.pos++;
          return;
        }
      }
      const key = n === 0 ? '' : this.utf8(n, 'property name');
      this.countItem();
      const v = this.value(depth);
      if (this.rejectDuplicates && target.has(key)) {
        throw new RtmpError('AMF_DUPLICATE_KEY', `AMF0 property "${key}" appears twice`);
      }
      target.set(key, v);
    }
  }
}

/** Decodes one AMF0 value starting at `offset`; returns it with the offset just after it. */
export function decodeAmf0Value(buf: Buffer, offset = 0, options: Amf0DecodeOptions = {}): { value: Amf0Value; end: number } {
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) {
    throw new RtmpError('AMF_TRUNCATED', `offset ${offset} outside a buffer of ${buf.length} bytes`);
  }
  const d = new Amf0Decoder(buf, offset, buf.length, options);
  const value = d.topLevel();
  return { value, end: d.pos };
}

/** Decodes a buffer that holds exactly one AMF0 value. */
export function decodeAmf0(buf: Buffer, options: Amf0DecodeOptions = {}): Amf0Value {
  const { value, end } = decodeAmf0Value(buf, 0, options);
  if (end !== buf.length) throw new RtmpError('AMF_TRAILING_BYTES', `${buf.length - end} bytes after the AMF0 value`);
  return value;
}

/**
 * Decodes a sequence of AMF0 values filling `buf` (a command or data message payload). The whole buffer is one
 * serialisation context: AMF0 references and AMF3 string references may point into earlier values. The item
 * limit applies to the whole buffer.
 */
export function decodeAll(buf: Buffer, options: Amf0DecodeOptions = {}): Amf0Value[] {
  const d = new Amf0Decoder(buf, 0, buf.length, options);
  const values: Amf0Value[] = [];
  while (d.pos < buf.length) values.push(d.topLevel());
  return values;
}

class Amf0Encoder {
  /** Complex values already written, by identity (one table per encoded buffer, as in decoding). */
  private readonly refs = new Map<object, number>();
  private readonly maxDepth: number;

  constructor(
    readonly w: ByteWriter,
    options: Amf0EncodeOptions,
  ) {
    this.maxDepth = options.maxDepth ?? AMF0_DEFAULT_MAX_DEPTH;
  }

  topLevel(v: Amf0Value): void {
    this.value(v, 0);
  }

  /** Writes a reference if `v` was already written; otherwise registers it and returns false. */
  private reference(v: object, depth: number): boolean {
    const index = this.refs.get(v);
    if (index !== undefined) {
      this.w.u8(Amf0Marker.Reference);
      this.w.u16(index);
      return true;
    }
    if (depth >= this.maxDepth) throw new RtmpError('AMF_DEPTH', `AMF0 value nested deeper than ${this.maxDepth}`);
    if (this.refs.size <= MAX_REFERENCE_INDEX) this.refs.set(v, this.refs.size);
    return false;
  }

  value(v: Amf0Value, depth: number): void {
    const w = this.w;
    switch (typeof v) {
      case 'number':
        w.u8(Amf0Marker.Number);
        w.f64(v);
        return;
      case 'boolean':
        w.u8(Amf0Marker.Boolean);
        w.u8(v ? 1 : 0);
        return;
      case 'string':
        if (Buffer.byteLength(v, 'utf8') > 0xffff) {
          w.u8(Amf0Marker.LongString);
          w.lengthPrefixedUtf8(v, 4);
        } else {
          w.u8(Amf0Marker.String);
          w.lengthPrefixedUtf8(v, 2);
        }
        return;
      case 'undefined':
        w.u8(Amf0Marker.Undefined);
        return;
      default:
        break;
    }
    if (v === null) {
      w.u8(Amf0Marker.Null);
    } else if (Array.isArray(v)) {
      if (this.reference(v, depth)) return;
      w.u8(Amf0Marker.StrictArray);
      w.u32(v.length);
      for (const item of v) this.value(item, depth + 1);
    } else if (v instanceof Amf0EcmaArray) {
      if (this.reference(v, depth)) return;
      const count = v.declaredCount ?? v.size;
      if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
        throw new RtmpError('AMF_ENCODE', `ECMA array count ${count} is not a uint32`);
      }
      w.u8(Amf0Marker.EcmaArray);
      w.u32(count);
      this.properties(v, depth + 1);
    } else if (v instanceof Amf0TypedObject) {
      if (this.reference(v, depth)) return;
      w.u8(Amf0Marker.TypedObject);
      w.lengthPrefixedUtf8(v.className, 2);
      this.properties(v, depth + 1);
    } else if (v instanceof Map) {
      // Amf0Object, or any Map<string, Amf0Value> built by a caller: an anonymous object.
      if (this.reference(v, depth)) return;
      w.u8(Amf0Marker.Object);
      this.properties(v as Amf0Object, depth + 1);
    } else if (v instanceof Amf0Date) {
      w.u8(Amf0Marker.Date);
      w.f64(v.epochMs);
      if (!Number.isInteger(v.timezone) || v.timezone < -0x8000 || v.timezone > 0x7fff) {
        throw new RtmpError('AMF_ENCODE', `date timezone ${v.timezone} is not a 16-bit integer`);
      }
      w.i16(v.timezone);
    } else if (v instanceof Amf0XmlDocument) {
      w.u8(Amf0Marker.XmlDocument);
      w.lengthPrefixedUtf8(v.text, 4);
    } else if (v instanceof Amf0Unsupported) {
      w.u8(Amf0Marker.Unsupported);
    } else if (v instanceof Amf0RawString) {
      if (v.long) {
        w.u8(Amf0Marker.LongString);
        w.u32(v.bytes.length);
      } else {
        if (v.bytes.length > 0xffff) throw new RtmpError('AMF_ENCODE', 'raw short string longer than 65535 bytes');
        w.u8(Amf0Marker.String);
        w.u16(v.bytes.length);
      }
      w.bytes(v.bytes);
    } else if (v instanceof Amf0Avmplus) {
      w.u8(Amf0Marker.AvmPlus);
      w.bytes(v.encoded);
    } else {
      throw new RtmpError('AMF_ENCODE', 'value has no AMF0 representation');
    }
  }

  private properties(map: Map<string, Amf0Value>, depth: number): void {
    for (const [key, value] of map) {
      if (typeof key !== 'string') throw new RtmpError('AMF_ENCODE', 'AMF0 property names must be strings');
      this.w.lengthPrefixedUtf8(key, 2);
      this.value(value, depth);
    }
    this.w.u16(0);
    this.w.u8(Amf0Marker.ObjectEnd);
  }
}

/**
 * Encodes a sequence of AMF0 values back to back (a command or data payload). A complex value met again
 * (same instance, e.g. a cycle) is written as a reference. Amf0Avmplus bytes are replayed verbatim.
 */
export function encodeAll(values: readonly Amf0Value[], options: Amf0EncodeOptions = {}): Buffer {
  const e = new Amf0Encoder(new ByteWriter(), options);
  for (const v of values) e.topLevel(v);
  return Buffer.from(e.w.finish());
}

/** An RTMP command (AMF0 command message type 20, or type 17 after its format byte). */
export interface RtmpCommand {
  /** Procedure name, e.g. "connect", "_result", "publish". */
  name: string;
  transactionId: number;
  /** Usually an object (connect) or null; null when the payload stops after the transaction id. */
  commandObject: Amf0Value;
  /** The values after the command object. */
  args: Amf0Value[];
}

/** Decodes an AMF0 command payload (message type 20): name, transaction id, command object, arguments. */
export function decodeCommand(payload: Buffer, options: Amf0DecodeOptions = {}): RtmpCommand {
  return commandFromValues(decodeAll(payload, options));
}

/**
 * Decodes an AMF3 command payload (message type 17): a format byte that must be 0, then the command in AMF0
 * (whose values may switch to AMF3 with the AVM+ marker).
 */
export function decodeAmf3Command(payload: Buffer, options: Amf0DecodeOptions = {}): RtmpCommand {
  if (payload.length < 1) throw new RtmpError('AMF_TRUNCATED', 'empty AMF3 command message');
  if (payload[0] !== 0) throw new RtmpError('AMF_COMMAND', `AMF3 command format byte is ${payload[0]}, expected 0`);
  return commandFromValues(decodeAll(payload.subarray(1), options));
}

function commandFromValues(values: Amf0Value[]): RtmpCommand {
  const name = amf0Text(values[0]);
  if (name === undefined) throw new RtmpError('AMF_COMMAND', 'command does not start with a name string');
  const transactionId = values.length > 1 ? amf0Number(values[1]) : undefined;
  if (transactionId === undefined) throw new RtmpError('AMF_COMMAND', `command "${name}" has no transaction id`);
  return {
    name,
    transactionId,
    commandObject: values.length > 2 ? values[2] : null,
    args: values.slice(3),
  };
}

/** Encodes a command as an AMF0 command payload (message type 20). */
export function encodeCommand(command: RtmpCommand, options: Amf0EncodeOptions = {}): Buffer {
  return encodeAll([command.name, command.transactionId, command.commandObject, ...command.args], options);
}
