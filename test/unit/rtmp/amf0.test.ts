import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
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
  amf0Property,
  amf0Text,
  decodeAll,
  decodeAmf0,
  decodeAmf0Value,
  decodeAmf3Command,
  decodeCommand,
  encodeAll,
  encodeCommand,
  type Amf0Value,
} from '../../../src/rtmp/amf0.js';
import { amf0Avmplus, encodeAmf0, encodeAmf3Command } from '../../fixtures/rtmp-codec.js';
import { ascii, hex, onlyRtmpErrors, throwsRtmp } from './helpers.js';
import { FFMPEG_CONNECT } from './vectors.js';

/** `marker, u16 length, text` for an ASCII string value. */
const str = (s: string): Buffer => Buffer.concat([hex('02'), u16(s.length), ascii(s)]);
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

describe('AMF0 known answers (one per marker)', () => {
  const cases: [string, Buffer, Amf0Value][] = [
    ['number 1.5', hex('00 3ff8000000000000'), 1.5],
    ['number -0', hex('00 8000000000000000'), -0],
    ['boolean false', hex('01 00'), false],
    ['boolean true', hex('01 01'), true],
    ['string', hex('02 0003 616263'), 'abc'],
    ['empty string', hex('02 0000'), ''],
    ['utf-8 string', hex('02 0003 e282ac'), '€'],
    ['null', hex('05'), null],
    ['undefined', hex('06'), undefined],
    ['object', hex('03 0001 61 00 4000000000000000 0001 62 05 000009'), Amf0Object.fromRecord({ a: 2, b: null })],
    [
      'object with integer-like keys keeps order',
      hex('03 0001 32 01 01 0001 31 01 00 000009'),
      new Amf0Object([
        ['2', true],
        ['1', false],
      ]),
    ],
    ['empty object', hex('03 000009'), new Amf0Object()],
    ['strict array', hex('0a 00000002 05 01 01'), [null, true]],
    ['date', hex('0b 4270000000000000 fe20'), new Amf0Date(2 ** 40, -480)],
    ['unsupported', hex('0d'), new Amf0Unsupported()],
    ['xml document', hex('0f 00000004 3c612f3e'), new Amf0XmlDocument('<a/>')],
    ['typed object', hex('10 0005 506f696e74 0001 78 00 3ff0000000000000 000009'), new Amf0TypedObject('Point', [['x', 1]])],
    ['avm+ integer', hex('11 04 7f'), new Amf0Avmplus(127, hex('04 7f'))],
    ['avm+ true', hex('11 03'), new Amf0Avmplus(true, hex('03'))],
  ];
  for (const [name, bytes, value] of cases) {
    test(name, () => {
      assert.deepStrictEqual(decodeAmf0(bytes), value);
      assert.deepStrictEqual(encodeAmf0(value), bytes);
    });
  }

  test('ECMA array keeps its declared count, even a wrong one', () => {
    const bytes = hex('08 00000000 0001 61 01 01 000009');
    const v = decodeAmf0(bytes);
    assert.ok(v instanceof Amf0EcmaArray);
    assert.equal(v.declaredCount, 0);
    assert.equal(v.get('a'), true);
    assert.deepStrictEqual(encodeAmf0(v), bytes);
    const fresh = Amf0EcmaArray.fromRecord({ a: true });
    assert.deepStrictEqual(encodeAmf0(fresh), hex('08 00000001 0001 61 01 01 000009'));
  });

  test('long string: canonical only above 65535 bytes', () => {
    const text = 'x'.repeat(70_000);
    const bytes = Buffer.concat([hex('0c 00011170'), ascii(text)]);
    assert.equal(decodeAmf0(bytes), text);
    assert.deepStrictEqual(encodeAmf0(text), bytes);
    // A short string sent with the long marker is kept as such.
    const shortLong = hex('0c 00000002 6869');
    const v = decodeAmf0(shortLong);
    assert.deepStrictEqual(v, new Amf0RawString(ascii('hi'), true));
    assert.equal(amf0Text(v), 'hi');
    assert.deepStrictEqual(encodeAmf0(v), shortLong);
  });

  test('a string that is not UTF-8 (e.g. GBK) survives byte for byte', () => {
    const bytes = hex('02 0004 d6d0 cec4'); // "中文" in GBK
    const v = decodeAmf0(bytes);
    assert.ok(v instanceof Amf0RawString);
    assert.equal(v.long, false);
    assert.deepStrictEqual(encodeAmf0(v), bytes);
  });

  test('an empty key followed by a value is a property, not the end', () => {
    const bytes = hex('03 0000 05 000009');
    const v = decodeAmf0(bytes);
    assert.deepStrictEqual(v, new Amf0Object([['', null]]));
    assert.deepStrictEqual(encodeAmf0(v), bytes);
  });
});

describe('AMF0 references', () => {
  test('an object referring to itself decodes to a cycle and re-encodes as a reference', () => {
    const bytes = hex('03 0004 73656c66 07 0000 000009');
    const v = decodeAmf0(bytes);
    assert.ok(v instanceof Amf0Object);
    assert.equal(v.get('self'), v);
    assert.deepStrictEqual(encodeAmf0(v), bytes);
  });

  test('the same instance twice is one object plus a reference; indices count every complex value', () => {
    // [ [], {a:1}, ref 2 ] : table = 0 outer array, 1 inner array, 2 object
    const bytes = hex('0a 00000003 0a 00000000 03 0001 61 00 3ff0000000000000 000009 07 0002');
    const v = decodeAmf0(bytes) as Amf0Value[];
    assert.equal(v[1], v[2]);
    assert.deepStrictEqual(encodeAmf0(v), bytes);
    const shared = Amf0Object.fromRecord({ a: 1 });
    assert.deepStrictEqual(encodeAmf0([[], shared, shared]), bytes);
  });

  test('references span the values of one payload', () => {
    const bytes = hex('03 000009 07 0000');
    const [a, b] = decodeAll(bytes);
    assert.equal(a, b);
    assert.deepStrictEqual(encodeAll([a, b]), bytes);
  });

  test('a reference beyond the table is rejected', () => {
    throwsRtmp(() => decodeAmf0(hex('07 0000')), 'AMF_BAD_REFERENCE');
    throwsRtmp(() => decodeAmf0(hex('0a 00000002 03 000009 07 0002')), 'AMF_BAD_REFERENCE');
  });

  test('a user-built cycle encodes as a reference instead of recursing', () => {
    const o = new Amf0Object();
    o.set('me', o);
    const back = decodeAmf0(encodeAmf0(o)) as Amf0Object;
    assert.equal(back.get('me'), back);
  });
});

describe('AMF3 via the AVM+ marker', () => {
  test('integers: U29 sign extension and a non-canonical form kept exactly', () => {
    assert.deepStrictEqual(decodeAmf0(hex('11 04 ffffffff')), new Amf0Avmplus(-1, hex('04 ffffffff')));
    assert.deepStrictEqual(decodeAmf0(hex('11 04 bfffffff')), new Amf0Avmplus(0x0fffffff, hex('04 bfffffff')));
    assert.deepStrictEqual(decodeAmf0(hex('11 04 c0808000')), new Amf0Avmplus(-0x10000000, hex('04 c0808000')));
    assert.deepStrictEqual(decodeAmf0(hex('11 04 8100')), new Amf0Avmplus(128, hex('04 8100')));
    const nonCanonical = hex('11 04 8001'); // 1 written in two bytes
    assert.equal(amf0Number(decodeAmf0(nonCanonical)), 1);
    assert.deepStrictEqual(encodeAmf0(decodeAmf0(nonCanonical)), nonCanonical);
    assert.deepStrictEqual(encodeAmf0(amf0Avmplus(128)), hex('11 04 8100'));
    assert.deepStrictEqual(encodeAmf0(amf0Avmplus(-1)), hex('11 04 ffffffff'));
    assert.deepStrictEqual(encodeAmf0(amf0Avmplus(2 ** 28)), hex('11 05 41b0000000000000'));
  });

  test('double, null, undefined, false', () => {
    assert.deepStrictEqual(decodeAll(hex('11 05 3ff8000000000000 11 01 11 00 11 02')), [
      new Amf0Avmplus(1.5, hex('05 3ff8000000000000')),
      new Amf0Avmplus(null, hex('01')),
      new Amf0Avmplus(undefined, hex('00')),
      new Amf0Avmplus(false, hex('02')),
    ]);
  });

  test('strings and the string reference table (empty strings are not entered)', () => {
    // "abc" inline, "" inline, then reference 0 → "abc"
    const bytes = hex('11 06 07 616263 11 06 01 11 06 00');
    const values = decodeAll(bytes);
    assert.deepStrictEqual(values.map(amf0Text), ['abc', '', 'abc']);
    assert.deepStrictEqual(encodeAll(values), bytes);
    throwsRtmp(() => decodeAll(hex('11 06 01 11 06 00')), 'AMF_BAD_REFERENCE');
  });

  test('complex AMF3 types and unknown markers are typed errors', () => {
    for (const m of ['07', '08', '09', '0a', '0b', '0c', '0d', '0e', '0f', '10', '11']) {
      throwsRtmp(() => decodeAmf0(hex(`11 ${m} 01`)), 'AMF3_UNSUPPORTED');
    }
    throwsRtmp(() => decodeAmf0(hex('11 12')), 'AMF_BAD_MARKER');
    throwsRtmp(() => decodeAmf0(hex('11 04 ff')), 'AMF_TRUNCATED');
    throwsRtmp(() => decodeAmf0(hex('11 06 09 6162')), 'AMF_TRUNCATED');
  });
});

describe('AMF0 malformed input', () => {
  test('reserved and out-of-place markers', () => {
    throwsRtmp(() => decodeAmf0(hex('04')), 'AMF_BAD_MARKER'); // movieclip
    throwsRtmp(() => decodeAmf0(hex('0e')), 'AMF_BAD_MARKER'); // recordset
    throwsRtmp(() => decodeAmf0(hex('09')), 'AMF_BAD_MARKER'); // object end as a value
    throwsRtmp(() => decodeAmf0(hex('12')), 'AMF_BAD_MARKER');
    throwsRtmp(() => decodeAmf0(hex('ff')), 'AMF_BAD_MARKER');
  });

  test('truncation', () => {
    throwsRtmp(() => decodeAmf0(hex('')), 'AMF_TRUNCATED');
    throwsRtmp(() => decodeAmf0(hex('00 3ff0')), 'AMF_TRUNCATED');
    throwsRtmp(() => decodeAmf0(hex('02 0005 6162')), 'AMF_TRUNCATED');
    throwsRtmp(() => decodeAmf0(hex('03 0001 61 05')), 'AMF_TRUNCATED');
    throwsRtmp(() => decodeAmf0(hex('0c ffffffff 00')), 'AMF_TRUNCATED');
    throwsRtmp(() => decodeAmf0(hex('0b 0000000000000000 00')), 'AMF_TRUNCATED');
  });

  test('a strict array announcing 2^32-1 items is rejected before allocating', () => {
    throwsRtmp(() => decodeAmf0(hex('0a ffffffff 05 05 05')), 'AMF_TRUNCATED');
  });

  test('item limit', () => {
    const many = Buffer.alloc(50, 0x05);
    assert.equal(decodeAll(many).length, 50);
    throwsRtmp(() => decodeAll(many, { maxItems: 49 }), 'AMF_TOO_MANY_ITEMS');
    throwsRtmp(() => decodeAmf0(Buffer.concat([hex('0a 00000032'), many]), { maxItems: 20 }), 'AMF_TOO_MANY_ITEMS');
  });

  test('objects nested 10,000 deep: typed error, no stack overflow', () => {
    const deepObject = Buffer.concat(Array.from({ length: 10_000 }, () => hex('03 0001 61')));
    throwsRtmp(() => decodeAmf0(deepObject), 'AMF_DEPTH');
    const deepArray = Buffer.concat(Array.from({ length: 10_000 }, () => hex('0a 00000001')));
    throwsRtmp(() => decodeAmf0(deepArray), 'AMF_DEPTH');
    const deepEcma = Buffer.concat(Array.from({ length: 10_000 }, () => hex('08 00000001 0001 61')));
    throwsRtmp(() => decodeAmf0(deepEcma), 'AMF_DEPTH');
  });

  test('the depth limit is exactly maxDepth levels', () => {
    const nested = (levels: number): Buffer => Buffer.concat([...Array.from({ length: levels }, () => hex('0a 00000001')), hex('05')]);
    assert.doesNotThrow(() => decodeAmf0(nested(64)));
    throwsRtmp(() => decodeAmf0(nested(65)), 'AMF_DEPTH');
    assert.doesNotThrow(() => decodeAmf0(nested(3), { maxDepth: 3 }));
    throwsRtmp(() => decodeAmf0(nested(4), { maxDepth: 3 }), 'AMF_DEPTH');
  });

  test('encoding a value nested deeper than the limit is a typed error', () => {
    let v: Amf0Value = null;
    for (let i = 0; i < 10_000; i++) v = [v];
    throwsRtmp(() => encodeAmf0(v), 'AMF_DEPTH');
  });

  test('names must be UTF-8; duplicate keys rejected unless asked', () => {
    throwsRtmp(() => decodeAmf0(hex('03 0001 ff 05 000009')), 'AMF_BAD_UTF8');
    throwsRtmp(() => decodeAmf0(hex('10 0001 ff 000009')), 'AMF_BAD_UTF8');
    throwsRtmp(() => decodeAmf0(hex('0f 00000001 ff')), 'AMF_BAD_UTF8');
    const dup = hex('03 0001 61 05 0001 61 01 01 000009');
    throwsRtmp(() => decodeAmf0(dup), 'AMF_DUPLICATE_KEY');
    assert.deepStrictEqual(decodeAmf0(dup, { duplicateKeys: 'lastWins' }), new Amf0Object([['a', true]]));
  });

  test('trailing bytes after a single value', () => {
    throwsRtmp(() => decodeAmf0(hex('05 05')), 'AMF_TRAILING_BYTES');
    assert.deepStrictEqual(decodeAmf0Value(hex('05 06'), 1), { value: undefined, end: 2 });
  });

  test('values with no AMF0 form are typed errors when encoding', () => {
    throwsRtmp(() => encodeAmf0({} as unknown as Amf0Value), 'AMF_ENCODE');
    throwsRtmp(() => encodeAmf0(new Amf0Date(0, 40_000)), 'AMF_ENCODE');
    throwsRtmp(() => encodeAmf0(new Amf0Object([['k'.repeat(70_000), 1]])), 'AMF_ENCODE');
    const badCount = new Amf0EcmaArray();
    badCount.declaredCount = -1;
    throwsRtmp(() => encodeAmf0(badCount), 'AMF_ENCODE');
    throwsRtmp(() => encodeAmf0(new Amf0RawString(Buffer.alloc(70_000), false)), 'AMF_ENCODE');
    throwsRtmp(() => encodeAmf0(10n as unknown as Amf0Value), 'AMF_ENCODE');
    throwsRtmp(() => encodeAmf0(new Map([[1, 2]]) as unknown as Amf0Value), 'AMF_ENCODE');
  });
});

describe('commands', () => {
  test('FFmpeg connect, field by field', () => {
    const cmd = decodeCommand(FFMPEG_CONNECT);
    assert.equal(cmd.name, 'connect');
    assert.equal(cmd.transactionId, 1);
    assert.deepStrictEqual(cmd.args, []);
    const obj = cmd.commandObject;
    assert.ok(obj instanceof Amf0Object);
    assert.deepStrictEqual([...obj.keys()], ['app', 'type', 'flashVer', 'tcUrl']);
    assert.equal(amf0Property(obj, 'app'), 'live');
    assert.equal(amf0Property(obj, 'tcUrl'), 'rtmp://127.0.0.1:1935/live');
    assert.equal(amf0Property(obj, 'flashVer'), 'FMLE/3.0 (compatible; Lavf59.27.100)');
    assert.deepStrictEqual(encodeCommand(cmd), FFMPEG_CONNECT);
  });

  test('publish with arguments', () => {
    const bytes = Buffer.concat([str('publish'), hex('00 4014000000000000 05'), str('s?token=1'), str('live')]);
    const cmd = decodeCommand(bytes);
    assert.deepStrictEqual(cmd, { name: 'publish', transactionId: 5, commandObject: null, args: ['s?token=1', 'live'] });
    assert.deepStrictEqual(encodeCommand(cmd), bytes);
  });

  test('AMF3 command message: format byte 0, then AMF0 (values may switch to AMF3)', () => {
    const bytes = Buffer.concat([hex('00'), str('play'), hex('11 04 03 05 11 06 03 73')]);
    const cmd = decodeAmf3Command(bytes);
    assert.equal(cmd.name, 'play');
    assert.equal(cmd.transactionId, 3);
    assert.equal(cmd.commandObject, null);
    assert.equal(amf0Text(cmd.args[0]), 's');
    // The transaction id is re-encoded as an AMF0 number; the AVM+ argument is replayed as received.
    assert.deepStrictEqual(encodeAmf3Command(cmd), Buffer.concat([hex('00'), str('play'), hex('00 4008000000000000 05 11 06 03 73')]));
    throwsRtmp(() => decodeAmf3Command(Buffer.concat([hex('01'), str('play')])), 'AMF_COMMAND');
    throwsRtmp(() => decodeAmf3Command(hex('')), 'AMF_TRUNCATED');
  });

  test('a command needs a name string and a transaction id', () => {
    throwsRtmp(() => decodeCommand(hex('00 3ff0000000000000')), 'AMF_COMMAND');
    throwsRtmp(() => decodeCommand(str('onStatus')), 'AMF_COMMAND');
    throwsRtmp(() => decodeCommand(Buffer.concat([str('x'), hex('05')])), 'AMF_COMMAND');
    throwsRtmp(() => decodeCommand(hex('')), 'AMF_COMMAND');
    const minimal = decodeCommand(Buffer.concat([str('x'), hex('00 0000000000000000')]));
    assert.deepStrictEqual(minimal, { name: 'x', transactionId: 0, commandObject: null, args: [] });
  });
});

// ---- property tests ----

const text = fc.string({ unit: 'binary', maxLength: 24 });
const leaf: fc.Arbitrary<Amf0Value> = fc.oneof(
  fc.double(),
  fc.integer({ min: -1e6, max: 1e6 }),
  fc.boolean(),
  text,
  fc.constant(null),
  fc.constant(undefined),
  fc.tuple(fc.double(), fc.integer({ min: -0x8000, max: 0x7fff })).map(([ms, tz]) => new Amf0Date(ms, tz)),
  text.map((t) => new Amf0XmlDocument(t)),
  fc.constant(null).map(() => new Amf0Unsupported()),
  fc
    .tuple(fc.uint8Array({ maxLength: 16 }), fc.boolean())
    .filter(([bytes, long]) => long || !isUtf8(bytes))
    .map(([bytes, long]) => new Amf0RawString(Buffer.from(bytes), long)),
  fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.integer({ min: -(2 ** 28), max: 2 ** 28 - 1 }), fc.double(), text).map(amf0Avmplus),
);

const { value: amf0Value } = fc.letrec<{
  value: Amf0Value;
  object: Amf0Object;
  ecma: Amf0EcmaArray;
  strict: Amf0Value[];
  typed: Amf0TypedObject;
}>((tie) => {
  const entries = fc.array(fc.tuple(text, tie('value')), { maxLength: 5 });
  return {
    value: fc.oneof({ maxDepth: 4, depthIdentifier: 'amf0' }, leaf, tie('object'), tie('ecma'), tie('strict'), tie('typed')),
    object: entries.map((e) => new Amf0Object(e)),
    ecma: fc.tuple(entries, fc.option(fc.integer({ min: 0, max: 0xffffffff }))).map(([e, count]) => {
      const a = new Amf0EcmaArray(e);
      a.declaredCount = count ?? a.size;
      return a;
    }),
    strict: fc.array(tie('value'), { maxLength: 5 }),
    typed: fc.tuple(text, entries).map(([name, e]) => new Amf0TypedObject(name, e)),
  };
});

describe('AMF0 properties', () => {
  test('value → bytes → value is the identity, and bytes → value → bytes too', () => {
    fc.assert(
      fc.property(fc.array(amf0Value, { minLength: 1, maxLength: 4 }), (values) => {
        const bytes = encodeAll(values);
        const back = decodeAll(bytes);
        assert.deepStrictEqual(back, values);
        assert.deepStrictEqual(encodeAll(back), bytes);
      }),
      { numRuns: 500 },
    );
  });

  test('every strict prefix of one encoded value is a typed error', () => {
    fc.assert(
      fc.property(amf0Value, fc.nat(), (value, cut) => {
        const bytes = encodeAmf0(value);
        const prefix = bytes.subarray(0, cut % bytes.length);
        assert.throws(
          () => decodeAmf0(prefix),
          (e: unknown) => e instanceof Error && e.name === 'RtmpError',
        );
      }),
      { numRuns: 500 },
    );
  });

  test('random and mutated bytes: only RtmpError; a successful decode re-encodes to a fixed point', () => {
    const mutated = fc
      .tuple(amf0Value, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
      .map(([value, edits]) => {
        const bytes = Buffer.from(encodeAmf0(value));
        for (const [at, byte] of edits) if (bytes.length > 0) bytes[at % bytes.length] = byte;
        return bytes;
      });
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      mutated,
    );
    fc.assert(
      fc.property(input, (bytes) => {
        const values = onlyRtmpErrors(() => decodeAll(bytes, { maxItems: 5000 }));
        if (values === undefined) return;
        const again = encodeAll(values);
        // Booleans written as bytes other than 0/1 come back as 1; everything else is byte-exact.
        const canonical = decodeAll(again);
        assert.deepStrictEqual(encodeAll(canonical), again);
      }),
      { numRuns: 2000 },
    );
  });

  test('decode → encode is byte-exact for any input that decodes (booleans and NaN payloads aside)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (arr) => {
        const bytes = Buffer.from(arr);
        const values = onlyRtmpErrors(() => decodeAll(bytes));
        if (values === undefined || hasNonCanonicalBoolean(bytes, values) || containsNaN(values)) return;
        assert.deepStrictEqual(encodeAll(values), bytes);
      }),
      { numRuns: 3000 },
    );
  });
});

/** True when a NaN occurs anywhere in `v` (the JS engine may change a NaN's payload bits). */
function containsNaN(v: Amf0Value, seen = new Set<object>()): boolean {
  if (typeof v === 'number') return Number.isNaN(v);
  if (v instanceof Amf0Date) return Number.isNaN(v.epochMs);
  if (typeof v !== 'object' || v === null || seen.has(v)) return false;
  seen.add(v);
  if (Array.isArray(v)) return v.some((x) => containsNaN(x, seen));
  if (v instanceof Map) return [...v.values()].some((x) => containsNaN(x as Amf0Value, seen));
  return false;
}

/** True when `bytes` has a boolean marker followed by a byte other than 0/1 (re-encoded as 1 by design). */
function hasNonCanonicalBoolean(bytes: Buffer, values: Amf0Value[]): boolean {
  const again = encodeAll(values);
  if (again.length !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (again[i] !== bytes[i] && again[i] === 1 && bytes[i] > 1) return true;
  return false;
}
