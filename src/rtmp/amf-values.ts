// The value model shared by the AMF0 and AMF3 codecs. Every AMF0 wire form has its own representation so
// that decode → encode reproduces the input byte for byte.

/** A value decoded from (or to be encoded as) AMF0. Strict arrays are plain JS arrays. */
export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Amf0Object
  | Amf0EcmaArray
  | Amf0StrictArray
  | Amf0TypedObject
  | Amf0Date
  | Amf0XmlDocument
  | Amf0Unsupported
  | Amf0RawString
  | Amf0Avmplus;

/** AMF0 strict array (marker 0x0A). */
export type Amf0StrictArray = Amf0Value[];

/** The simple AMF3 values this codec understands (after an AVM+ marker). */
export type Amf3Value = undefined | null | boolean | number | string;

/** Anonymous AMF0 object (marker 0x03); a Map so key order is kept exactly, integer-like keys included. */
export class Amf0Object extends Map<string, Amf0Value> {
  /** Builds an object from a plain record, in the record's own key order. */
  static fromRecord(record: Readonly<Record<string, Amf0Value>>): Amf0Object {
    return new Amf0Object(Object.entries(record));
  }
}

/** AMF0 ECMA (associative) array (marker 0x08). */
export class Amf0EcmaArray extends Map<string, Amf0Value> {
  /**
   * The count field as received. Encoders often write 0 or a wrong number; it is kept so re-encoding is exact.
   * When undefined the encoder writes `size`.
   */
  declaredCount: number | undefined = undefined;

  /** Builds an ECMA array from a plain record, in the record's own key order. */
  static fromRecord(record: Readonly<Record<string, Amf0Value>>): Amf0EcmaArray {
    return new Amf0EcmaArray(Object.entries(record));
  }
}

/** AMF0 typed object (marker 0x10): a class name plus properties. */
export class Amf0TypedObject extends Map<string, Amf0Value> {
  constructor(
    public className: string,
    entries?: Iterable<readonly [string, Amf0Value]>,
  ) {
    super(entries);
  }
}

/** AMF0 date (marker 0x0B): milliseconds since the Unix epoch (UTC) and a 16-bit timezone that readers ignore. */
export class Amf0Date {
  constructor(
    readonly epochMs: number,
    readonly timezone = 0,
  ) {}

  /** Wraps a JS Date (timezone 0, as the spec recommends). */
  static fromDate(date: Date): Amf0Date {
    return new Amf0Date(date.getTime(), 0);
  }

  /** The instant as a JS Date. */
  toDate(): Date {
    return new Date(this.epochMs);
  }
}

/** AMF0 XML document (marker 0x0F): the XML text (UTF-8, 32-bit length on the wire). */
export class Amf0XmlDocument {
  constructor(readonly text: string) {}
}

/** AMF0 "unsupported" marker (0x0D): a value ActionScript could not serialise. */
export class Amf0Unsupported {}

/**
 * A string kept in its exact wire form: bytes that are not valid UTF-8 (e.g. a GBK stream name) and/or a string
 * shorter than 64 KiB that the sender wrote with the long-string marker. Well-formed strings decode to `string`.
 */
export class Amf0RawString {
  constructor(
    readonly bytes: Buffer,
    /** true: written with the long-string marker (0x0C, 32-bit length); false: 0x02 with a 16-bit length. */
    readonly long: boolean,
  ) {}

  /** The bytes read as UTF-8 (invalid sequences become U+FFFD). */
  get text(): string {
    return this.bytes.toString('utf8');
  }
}

/** A value sent after the AVM+ marker (0x11), i.e. encoded in AMF3. `encoded` is the exact AMF3 bytes. */
export class Amf0Avmplus {
  constructor(
    readonly value: Amf3Value,
    readonly encoded: Buffer,
  ) {}
}

/** The text of a string-like value (string, raw string, AMF3 string), or undefined for anything else. */
export function amf0Text(value: Amf0Value): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Amf0RawString) return value.text;
  if (value instanceof Amf0Avmplus && typeof value.value === 'string') return value.value;
  return undefined;
}

/** The number of a number-like value (AMF0 number, AMF3 integer or double), or undefined for anything else. */
export function amf0Number(value: Amf0Value): number | undefined {
  if (typeof value === 'number') return value;
  if (value instanceof Amf0Avmplus && typeof value.value === 'number') return value.value;
  return undefined;
}

/** A property of an object-like value (object, ECMA array, typed object), or undefined. */
export function amf0Property(value: Amf0Value, key: string): Amf0Value {
  if (value instanceof Amf0Object || value instanceof Amf0EcmaArray || value instanceof Amf0TypedObject) {
    return value.get(key);
  }
  return undefined;
}
