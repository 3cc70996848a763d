import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32, crc32Bitwise } from '../../fixtures/crc32.js';
import {
  STUN_HEADER_LENGTH,
  STUN_MAGIC_COOKIE,
  STUN_USERNAME_MAX_PARSE,
  StunAttributeType,
  StunError,
  decodeStunMessageType,
  isStunMessage,
  parseStunMessage,
  peekStunUsername,
  verifyStunMessageIntegrity,
} from '../../../src/webrtc/stun.js';
import { isStunBindingRequest } from '../../fixtures/webrtc-codec.js';
import { encodeStunBindingRequest, encodeStunMessage, encodeStunMessageType, verifyStunFingerprint } from '../../fixtures/stun-encode.js';
import type { StunErrorCode, StunMessageClass } from '../../../src/webrtc/stun.js';
import { RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE, RFC5769_PASSWORD, RFC5769_REQUEST, RFC5769_TRANSACTION_ID, hex } from './stun-vectors.js';

/** Asserts `fn` throws a StunError (optionally with `code`). */
function assertStunError(fn: () => unknown, code?: StunErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof StunError, `expected StunError, got ${String(error)}`);
    if (code) assert.equal(error.code, code);
    return true;
  });
}

/** Rethrows anything that is not a StunError; returns whether a StunError was thrown. */
function onlyStunError(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    if (error instanceof StunError) return true;
    throw error;
  }
}

/** A header with a correct length field and cookie, followed by `body`. */
function withHeader(body: Buffer, messageType = 0x0001, transactionId = RFC5769_TRANSACTION_ID): Buffer {
  const header = Buffer.alloc(STUN_HEADER_LENGTH);
  header.writeUInt16BE(messageType, 0);
  header.writeUInt16BE(body.length & 0xffff, 2);
  header.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  transactionId.copy(header, 8);
  return Buffer.concat([header, body]);
}

function attribute(type: number, value: Buffer, padding = 0): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  const pad = Buffer.alloc((4 - (value.length % 4)) % 4, padding);
  return Buffer.concat([head, value, pad]);
}

const transactionIdArb = fc.uint8Array({ minLength: 12, maxLength: 12 }).map((bytes) => Buffer.from(bytes));
const classArb = fc.constantFrom<StunMessageClass>('request', 'indication', 'success-response', 'error-response');

describe('crc32', () => {
  test('known answer: CRC-32 of "123456789" is 0xCBF43926', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32Bitwise(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  test('the bitwise fallback agrees with the native one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.equal(crc32Bitwise(bytes), crc32(bytes));
      }),
    );
  });
});

describe('STUN message type', () => {
  test('known answers from RFC 8489 §5/§6', () => {
    assert.deepEqual(decodeStunMessageType(0x0001), { method: 1, messageClass: 'request' });
    assert.deepEqual(decodeStunMessageType(0x0011), { method: 1, messageClass: 'indication' });
    assert.deepEqual(decodeStunMessageType(0x0101), { method: 1, messageClass: 'success-response' });
    assert.deepEqual(decodeStunMessageType(0x0111), { method: 1, messageClass: 'error-response' });
    assert.equal(encodeStunMessageType(0x003, 'request'), 0x0003); // TURN Allocate
    assert.equal(encodeStunMessageType(0x003, 'success-response'), 0x0103);
    assert.equal(encodeStunMessageType(0xfff, 'error-response'), 0x3fff);
    assert.equal(encodeStunMessageType(0x080, 'request'), 0x0200);
  });

  test('encode and decode are inverse over all 14-bit types', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3fff }), (type) => {
        const { method, messageClass } = decodeStunMessageType(type);
        assert.equal(encodeStunMessageType(method, messageClass), type);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfff }), classArb, (method, messageClass) => {
        assert.deepEqual(decodeStunMessageType(encodeStunMessageType(method, messageClass)), { method, messageClass });
      }),
    );
  });

  test('a method wider than 12 bits is refused', () => {
    assertStunError(() => encodeStunMessageType(0x1000, 'request'), 'invalid-argument');
    assertStunError(() => encodeStunMessageType(-1, 'request'), 'invalid-argument');
  });
});

describe('RFC 5769 vectors', () => {
  test('§2.1 sample request parses field by field', () => {
    const message = parseStunMessage(RFC5769_REQUEST);
    assert.equal(RFC5769_REQUEST.length, 108);
    assert.equal(message.messageType, 0x0001);
    assert.equal(message.method, 1);
    assert.equal(message.messageClass, 'request');
    assert.equal(message.length, 0x58);
    assert.deepEqual(message.transactionId, RFC5769_TRANSACTION_ID);
    assert.deepEqual(
      message.attributes.map((a) => [a.type, a.offset, a.value.length]),
      [
        [StunAttributeType.Software, 20, 16],
        [StunAttributeType.Priority, 40, 4],
        [StunAttributeType.IceControlled, 48, 8],
        [StunAttributeType.Username, 60, 9],
        [StunAttributeType.MessageIntegrity, 76, 20],
        [StunAttributeType.Fingerprint, 100, 4],
      ],
    );
    assert.equal(message.attributes[0]!.value.toString('utf8'), 'STUN test client');
    assert.equal(message.username, 'evtj:h6vY');
    assert.equal(message.priority, 0x6e0001ff);
    assert.equal(message.iceControlled, 0x932ff9b151263b36n);
    assert.equal(message.iceControlling, undefined);
    assert.equal(message.useCandidate, false);
    assert.equal(message.hasMessageIntegrity, true);
    assert.equal(message.hasMessageIntegritySha256, false);
    assert.equal(message.hasFingerprint, true);
  });

  test('§2.1 integrity and fingerprint verify; a wrong password or a flipped bit does not', () => {
    assert.equal(verifyStunFingerprint(RFC5769_REQUEST), true);
    assert.equal(verifyStunMessageIntegrity(RFC5769_REQUEST, RFC5769_PASSWORD), true);
    assert.equal(verifyStunMessageIntegrity(RFC5769_REQUEST, Buffer.from(RFC5769_PASSWORD)), true);
    assert.equal(verifyStunMessageIntegrity(RFC5769_REQUEST, 'VOkJxbRl1RmTxUk/WvJxBr'), false);
    const flipped = Buffer.from(RFC5769_REQUEST);
    flipped[64]! ^= 0x01; // inside USERNAME
    assert.equal(verifyStunFingerprint(flipped), false);
    assert.equal(verifyStunMessageIntegrity(flipped, RFC5769_PASSWORD), false);
  });

  test('§2.1 the encoder reproduces the request byte for byte', () => {
    const encoded = encodeStunMessage({
      method: 1,
      messageClass: 'request',
      transactionId: RFC5769_TRANSACTION_ID,
      attributes: [
        { type: StunAttributeType.Software, value: Buffer.from('STUN test client') },
        { type: StunAttributeType.Priority, value: hex('6e0001ff') },
        { type: StunAttributeType.IceControlled, value: hex('932ff9b1 51263b36') },
        { type: StunAttributeType.Username, value: Buffer.from('evtj:h6vY') },
      ],
      integrityKey: RFC5769_PASSWORD,
      fingerprint: true,
      paddingByte: 0x20,
    });
    assert.deepEqual(encoded, RFC5769_REQUEST);
  });

  test('§2.1 fast paths', () => {
    assert.equal(peekStunUsername(RFC5769_REQUEST), 'evtj:h6vY');
    assert.equal(isStunMessage(RFC5769_REQUEST), true);
    assert.equal(isStunBindingRequest(RFC5769_REQUEST), true);
  });

  for (const [name, vector, family] of [
    ['§2.2 IPv4 response', RFC5769_IPV4_RESPONSE, 1],
    ['§2.3 IPv6 response', RFC5769_IPV6_RESPONSE, 2],
  ] as const) {
    test(`${name} parses, verifies and re-encodes`, () => {
      const message = parseStunMessage(vector);
      assert.equal(message.messageClass, 'success-response');
      assert.equal(message.method, 1);
      assert.equal(message.username, undefined);
      assert.equal(verifyStunFingerprint(vector), true);
      assert.equal(verifyStunMessageIntegrity(vector, RFC5769_PASSWORD), true);
      assert.equal(isStunBindingRequest(vector), false);
      assert.equal(peekStunUsername(vector), undefined);
      const software = message.attributes[0]!;
      assert.equal(software.type, StunAttributeType.Software);
      assert.equal(software.value.toString('utf8'), 'test vector');
      const xorMapped = message.attributes[1]!;
      assert.equal(xorMapped.type, StunAttributeType.XorMappedAddress);
      assert.equal(xorMapped.value[1], family);
      // X-Port is the port XOR the cookie's top 16 bits (RFC 8489 §14.2).
      assert.equal(xorMapped.value.readUInt16BE(2) ^ (STUN_MAGIC_COOKIE >>> 16), 32853);
      if (family === 1) {
        const address = (xorMapped.value.readUInt32BE(4) ^ STUN_MAGIC_COOKIE) >>> 0;
        assert.equal(address, 0xc0000201); // 192.0.2.1
      } else {
        const key = Buffer.concat([hex('2112a442'), RFC5769_TRANSACTION_ID]);
        const address = Buffer.from(xorMapped.value.subarray(4).map((byte, i) => byte ^ key[i]!));
        assert.deepEqual(address, hex('20010db8 12345678 00112233 44556677'));
      }
      const encoded = encodeStunMessage({
        method: 1,
        messageClass: 'success-response',
        transactionId: RFC5769_TRANSACTION_ID,
        attributes: [
          { type: software.type, value: software.value },
          { type: xorMapped.type, value: xorMapped.value },
        ],
        integrityKey: RFC5769_PASSWORD,
        fingerprint: true,
        paddingByte: 0x20,
      });
      assert.deepEqual(encoded, vector);
    });
  }
});

describe('STUN malformed input', () => {
  test('scenario 65: 21 bytes with length field 1 is a StunError, not a crash', () => {
    const packet = Buffer.concat([hex('0001 0001 2112a442'), RFC5769_TRANSACTION_ID, hex('00')]);
    assert.equal(packet.length, 21);
    assertStunError(() => parseStunMessage(packet), 'length-mismatch');
    assertStunError(() => peekStunUsername(packet), 'length-mismatch');
    assert.equal(isStunMessage(packet), false);
    assert.equal(isStunBindingRequest(packet), false);
  });

  test('1–3 trailing bytes after a valid message are refused', () => {
    for (const extra of [1, 2, 3]) {
      const packet = Buffer.concat([RFC5769_REQUEST, Buffer.alloc(extra)]);
      assertStunError(() => parseStunMessage(packet), 'length-mismatch');
      assertStunError(() => peekStunUsername(packet), 'length-mismatch');
    }
    // Same with the length field claiming the trailing bytes (not a multiple of 4).
    for (const extra of [1, 2, 3]) {
      const packet = Buffer.concat([RFC5769_REQUEST, Buffer.alloc(extra)]);
      packet.writeUInt16BE(0x58 + extra, 2);
      assertStunError(() => parseStunMessage(packet), 'length-mismatch');
    }
  });

  test('padding that would overrun the message: unpadded USERNAME at the end', () => {
    // Body = 4-byte header + 9-byte value with no padding; the length field says 13.
    const body = Buffer.concat([hex('0006 0009'), Buffer.from('evtj:h6vY')]);
    const packet = withHeader(body);
    assert.equal(packet.readUInt16BE(2), 13);
    assertStunError(() => parseStunMessage(packet), 'length-mismatch');
    assertStunError(() => peekStunUsername(packet), 'length-mismatch');
  });

  test('lying attribute lengths are refused', () => {
    assertStunError(() => parseStunMessage(withHeader(hex('0006 ffff 61626364'))), 'attribute-overrun');
    assertStunError(() => parseStunMessage(withHeader(hex('0006 0005 61626364'))), 'attribute-overrun');
    assertStunError(() => peekStunUsername(withHeader(hex('0006 0005 61626364'))), 'attribute-overrun');
    // A valid first attribute followed by one that lies.
    const body = Buffer.concat([attribute(StunAttributeType.Username, Buffer.from('a:b')), hex('8022 0010 00000000')]);
    assertStunError(() => parseStunMessage(withHeader(body)), 'attribute-overrun');
    assertStunError(() => peekStunUsername(withHeader(body)), 'attribute-overrun');
  });

  test('0-byte, short and header-only inputs', () => {
    assertStunError(() => parseStunMessage(Buffer.alloc(0)), 'truncated');
    assertStunError(() => peekStunUsername(Buffer.alloc(0)), 'truncated');
    assertStunError(() => parseStunMessage(RFC5769_REQUEST.subarray(0, 19)), 'truncated');
    assert.equal(isStunMessage(Buffer.alloc(0)), false);
    const empty = parseStunMessage(withHeader(Buffer.alloc(0)));
    assert.deepEqual(empty.attributes, []);
    assert.equal(peekStunUsername(withHeader(Buffer.alloc(0))), undefined);
  });

  test('65 KB inputs: garbage is refused, the largest legal message parses', () => {
    const garbage = Buffer.alloc(65 * 1024, 0x01);
    assertStunError(() => parseStunMessage(garbage), 'length-mismatch');
    assertStunError(() => peekStunUsername(garbage));
    const lying = withHeader(Buffer.alloc(65 * 1024 - STUN_HEADER_LENGTH));
    assertStunError(() => parseStunMessage(lying), 'length-mismatch');
    const largest = withHeader(attribute(StunAttributeType.Software, Buffer.alloc(0xfffc - 4, 0x41)));
    assert.equal(largest.length, STUN_HEADER_LENGTH + 0xfffc);
    const message = parseStunMessage(largest);
    assert.equal(message.attributes[0]!.value.length, 0xfff8);
  });

  test('wrong first bits and wrong cookie', () => {
    const topBits = Buffer.from(RFC5769_REQUEST);
    topBits[0] = 0x40;
    assertStunError(() => parseStunMessage(topBits), 'not-stun');
    const cookie = Buffer.from(RFC5769_REQUEST);
    cookie[4] = 0x22;
    assertStunError(() => parseStunMessage(cookie), 'bad-cookie');
    assert.equal(isStunMessage(cookie), false);
  });

  test('attributes after FINGERPRINT and wrongly sized ICE attributes are refused', () => {
    const afterFingerprint = withHeader(
      Buffer.concat([attribute(StunAttributeType.Fingerprint, hex('00000000')), attribute(StunAttributeType.Username, Buffer.from('a:b'))]),
    );
    assertStunError(() => parseStunMessage(afterFingerprint), 'bad-attribute');
    assertStunError(() => peekStunUsername(afterFingerprint), 'bad-attribute');
    for (const [type, size] of [
      [StunAttributeType.Priority, 2],
      [StunAttributeType.IceControlling, 4],
      [StunAttributeType.IceControlled, 12],
      [StunAttributeType.UseCandidate, 4],
      [StunAttributeType.MessageIntegrity, 16],
      [StunAttributeType.MessageIntegritySha256, 12],
      [StunAttributeType.Fingerprint, 8],
    ] as const) {
      assertStunError(() => parseStunMessage(withHeader(attribute(type, Buffer.alloc(size)))), 'bad-attribute');
    }
  });

  test('USERNAME must be UTF-8 and at most 763 bytes', () => {
    assertStunError(() => parseStunMessage(withHeader(attribute(StunAttributeType.Username, hex('61 ff 62')))), 'bad-attribute');
    assertStunError(() => peekStunUsername(withHeader(attribute(StunAttributeType.Username, hex('c3')))), 'bad-attribute');
    const longest = 'u'.repeat(STUN_USERNAME_MAX_PARSE);
    assert.equal(peekStunUsername(withHeader(attribute(StunAttributeType.Username, Buffer.from(longest)))), longest);
    assertStunError(
      () => parseStunMessage(withHeader(attribute(StunAttributeType.Username, Buffer.alloc(STUN_USERNAME_MAX_PARSE + 1, 0x75)))),
      'bad-attribute',
    );
    assert.equal(peekStunUsername(withHeader(attribute(StunAttributeType.Username, Buffer.from('ü:ß')))), 'ü:ß');
  });
});

describe('STUN attribute semantics', () => {
  test('the first USERNAME wins; one after MESSAGE-INTEGRITY is ignored', () => {
    const twice = withHeader(
      Buffer.concat([attribute(StunAttributeType.Username, Buffer.from('first:a')), attribute(StunAttributeType.Username, Buffer.from('second:b'))]),
    );
    assert.equal(parseStunMessage(twice).username, 'first:a');
    assert.equal(peekStunUsername(twice), 'first:a');

    const afterIntegrity = withHeader(
      Buffer.concat([
        attribute(StunAttributeType.MessageIntegrity, Buffer.alloc(20)),
        attribute(StunAttributeType.Username, Buffer.from('late:x')),
        attribute(StunAttributeType.Priority, hex('00000001')),
      ]),
    );
    const message = parseStunMessage(afterIntegrity);
    assert.equal(message.username, undefined);
    assert.equal(message.priority, undefined);
    assert.equal(message.attributes.length, 3);
    assert.equal(peekStunUsername(afterIntegrity), undefined);
  });

  test('USE-CANDIDATE and ICE-CONTROLLING are reported', () => {
    const request = encodeStunBindingRequest({
      transactionId: RFC5769_TRANSACTION_ID,
      username: 'abcd:efgh',
      priority: 1853824767,
      iceControlling: 0x0102030405060708n,
      useCandidate: true,
    });
    const message = parseStunMessage(request);
    assert.equal(message.useCandidate, true);
    assert.equal(message.iceControlling, 0x0102030405060708n);
    assert.equal(message.iceControlled, undefined);
    assert.equal(message.priority, 1853824767);
    assert.equal(message.hasMessageIntegrity, false);
    assert.equal(message.hasFingerprint, false);
    assert.equal(verifyStunFingerprint(request), false);
    assert.equal(verifyStunMessageIntegrity(request, 'x'), false);
  });

  test('attribute values are views into the datagram, not copies', () => {
    const message = parseStunMessage(RFC5769_REQUEST);
    assert.equal(message.attributes[3]!.value.buffer, RFC5769_REQUEST.buffer);
    assert.equal(message.transactionId.buffer, RFC5769_REQUEST.buffer);
  });

  test('isStunBindingRequest rejects other types and unchecked lengths', () => {
    const indication = withHeader(Buffer.alloc(0), 0x0011);
    assert.equal(isStunMessage(indication), true);
    assert.equal(isStunBindingRequest(indication), false);
    assert.equal(isStunBindingRequest(withHeader(Buffer.alloc(0))), true);
    assert.equal(isStunBindingRequest(Buffer.concat([withHeader(Buffer.alloc(0)), Buffer.alloc(4)])), false);
  });
});

describe('STUN encoder', () => {
  test('a binding request with MI and FINGERPRINT has the documented layout', () => {
    const request = encodeStunBindingRequest({
      transactionId: RFC5769_TRANSACTION_ID,
      username: 'evtj:h6vY',
      integrityKey: RFC5769_PASSWORD,
      fingerprint: true,
    });
    // header 20 + USERNAME 4+12 + MI 24 + FINGERPRINT 8
    assert.equal(request.length, 68);
    assert.equal(request.readUInt16BE(0), 0x0001);
    assert.equal(request.readUInt16BE(2), 48);
    assert.deepEqual(request.subarray(20, 36), hex('0006 0009 6576746a 3a683676 59 000000'));
    assert.equal(request.readUInt16BE(36), 0x0008);
    assert.equal(request.readUInt16BE(60), 0x8028);
    assert.equal(verifyStunFingerprint(request), true);
    assert.equal(verifyStunMessageIntegrity(request, RFC5769_PASSWORD), true);
  });

  test('unencodable values are refused with StunError', () => {
    assertStunError(() => encodeStunBindingRequest({ transactionId: Buffer.alloc(11) }), 'invalid-argument');
    assertStunError(() => encodeStunBindingRequest({ transactionId: Buffer.alloc(12), username: 'x'.repeat(509) }), 'invalid-argument');
    assertStunError(() => encodeStunBindingRequest({ transactionId: Buffer.alloc(12), priority: 2 ** 32 }), 'invalid-argument');
    assertStunError(() => encodeStunBindingRequest({ transactionId: Buffer.alloc(12), iceControlled: -1n }), 'invalid-argument');
    assertStunError(
      () =>
        encodeStunMessage({
          method: 1,
          messageClass: 'request',
          transactionId: Buffer.alloc(12),
          attributes: [{ type: 0x8022, value: Buffer.alloc(0x10000) }],
        }),
      'invalid-argument',
    );
    assertStunError(
      () =>
        encodeStunMessage({ method: 1, messageClass: 'request', transactionId: Buffer.alloc(12), attributes: [{ type: 0x8022, value: Buffer.alloc(0xfff9) }] }),
      'invalid-argument',
    );
  });

  test('property: binding request encode → parse round trip', () => {
    fc.assert(
      fc.property(
        transactionIdArb,
        fc.option(
          fc.string({ maxLength: 120 }).filter((s) => Buffer.byteLength(s) <= 508),
          { nil: undefined },
        ),
        fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
        fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined }),
        fc.boolean(),
        fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }),
        fc.boolean(),
        (transactionId, username, priority, tieBreaker, useCandidate, key, fingerprint) => {
          const encoded = encodeStunBindingRequest({
            transactionId,
            username,
            priority,
            iceControlling: tieBreaker,
            useCandidate,
            integrityKey: key,
            fingerprint,
          });
          const message = parseStunMessage(encoded);
          assert.equal(message.messageClass, 'request');
          assert.equal(message.method, 1);
          assert.deepEqual(message.transactionId, transactionId);
          assert.equal(message.username, username);
          assert.equal(message.priority, priority);
          assert.equal(message.iceControlling, tieBreaker);
          assert.equal(message.useCandidate, useCandidate);
          assert.equal(message.hasMessageIntegrity, key !== undefined);
          assert.equal(message.hasFingerprint, fingerprint);
          assert.equal(peekStunUsername(encoded), username);
          assert.equal(isStunBindingRequest(encoded), true);
          assert.equal(verifyStunFingerprint(encoded), fingerprint);
          if (key !== undefined) {
            assert.equal(verifyStunMessageIntegrity(encoded, key), true);
            assert.equal(verifyStunMessageIntegrity(encoded, key + '!'), false);
          }
        },
      ),
    );
  });

  test('property: generic encode → parse keeps every attribute, in order, with its value', () => {
    const attributeArb = fc.record({
      // Stay clear of the types whose sizes the parser checks and the integrity attributes.
      type: fc.integer({ min: 0x8030, max: 0xffff }),
      value: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfff }),
        classArb,
        transactionIdArb,
        fc.array(attributeArb, { maxLength: 8 }),
        fc.integer({ min: 0, max: 255 }),
        (method, messageClass, transactionId, attributes, paddingByte) => {
          const encoded = encodeStunMessage({ method, messageClass, transactionId, attributes, paddingByte });
          const message = parseStunMessage(encoded);
          assert.equal(message.method, method);
          assert.equal(message.messageClass, messageClass);
          assert.deepEqual(
            message.attributes.map((a) => ({ type: a.type, value: Buffer.from(a.value) })),
            attributes.map((a) => ({ type: a.type, value: a.value })),
          );
        },
      ),
    );
  });

  test('property: every truncation or 1–3 byte extension of a valid message is a StunError', () => {
    fc.assert(
      fc.property(
        transactionIdArb,
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.boolean(),
        fc.nat(),
        fc.integer({ min: 1, max: 3 }),
        (transactionId, username, fingerprint, cutSeed, extra) => {
          const encoded = encodeStunBindingRequest({ transactionId, username, integrityKey: 'pw', fingerprint });
          const cut = cutSeed % encoded.length;
          assertStunError(() => parseStunMessage(encoded.subarray(0, cut)));
          assertStunError(() => peekStunUsername(encoded.subarray(0, cut)));
          assert.equal(isStunMessage(encoded.subarray(0, cut)), false);
          const longer = Buffer.concat([encoded, Buffer.alloc(extra)]);
          assertStunError(() => parseStunMessage(longer));
          assertStunError(() => peekStunUsername(longer));
        },
      ),
    );
  });
});

describe('STUN robustness properties', () => {
  test('arbitrary bytes never throw anything but StunError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const datagram = Buffer.from(bytes);
        onlyStunError(() => parseStunMessage(datagram));
        onlyStunError(() => peekStunUsername(datagram));
        onlyStunError(() => verifyStunFingerprint(datagram));
        onlyStunError(() => verifyStunMessageIntegrity(datagram, 'k'));
        assert.equal(typeof isStunMessage(datagram), 'boolean');
        assert.equal(typeof isStunBindingRequest(datagram), 'boolean');
      }),
      { numRuns: 2000 },
    );
  });

  test('STUN-shaped random bodies: peek and parse agree, and only StunError escapes', () => {
    // A valid header over random TLV soup reaches the attribute walker, unlike fully random bytes.
    const tlvArb = fc
      .record({
        type: fc.constantFrom(0x0006, 0x0008, 0x0024, 0x0025, 0x8028, 0x8029, 0x802a, 0x8022, 0x1234),
        length: fc.integer({ min: 0, max: 40 }),
        fill: fc.uint8Array({ maxLength: 44 }),
      })
      .map(({ type, length, fill }) => {
        const head = Buffer.alloc(4);
        head.writeUInt16BE(type, 0);
        head.writeUInt16BE(length, 2);
        return Buffer.concat([head, Buffer.from(fill)]);
      });
    fc.assert(
      fc.property(fc.array(tlvArb, { maxLength: 5 }), (tlvs) => {
        const soup = Buffer.concat(tlvs);
        // Keep the header honest (length a multiple of 4) so the walker, not checkHeader, decides.
        const body = soup.subarray(0, soup.length - (soup.length % 4));
        const datagram = withHeader(body);
        let parsed: ReturnType<typeof parseStunMessage> | undefined;
        let parseFailed = false;
        try {
          parsed = parseStunMessage(datagram);
        } catch (error) {
          if (!(error instanceof StunError)) throw error;
          parseFailed = true;
        }
        let peeked: string | undefined;
        let peekFailed = false;
        try {
          peeked = peekStunUsername(datagram);
        } catch (error) {
          if (!(error instanceof StunError)) throw error;
          peekFailed = true;
        }
        assert.equal(peekFailed, parseFailed);
        if (parsed) assert.equal(peeked, parsed.username);
      }),
      { numRuns: 2000 },
    );
  });
});
