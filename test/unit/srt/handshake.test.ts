import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SrtError } from '../../../src/srt/errors.js';
import { ExtensionFlag, ExtensionType } from '../../../src/srt/extensions.js';
import {
  AccessRejectionCode,
  HANDSHAKE_MIN_LENGTH,
  HandshakeType,
  RejectionCode,
  SRT_MAGIC_CODE,
  UDT_DGRAM,
  buildInductionRequest,
  buildInductionResponse,
  buildRejection,
  encodeHandshake,
  handshakeTypeName,
  isRejection,
  parseHandshake,
  patchHandshake,
  peekHandshake,
  streamIdOf,
  type Handshake,
} from '../../../src/srt/handshake.js';
import { encodePeerIp } from '../../../src/srt/peer-ip.js';
import { CONCLUSION_BLOCK_BOUNDARIES, CONCLUSION_REQUEST, INDUCTION_REQUEST, INDUCTION_RESPONSE, SID_CONTENTS, hex } from './vectors.js';
import {
  buildConclusionResponse,
  decodePeerIp,
  hsExtension,
  rawExtension,
  rejectionReason,
  SrtOptionFlag,
  streamIdExtension,
} from '../../fixtures/srt-codec.js';

function assertSrtError(fn: () => unknown, code?: string): void {
  assert.throws(fn, (error: unknown) => error instanceof SrtError && (code === undefined || error.code === code));
}

void describe('handshake known answers', () => {
  void test('parses a libsrt caller INDUCTION', () => {
    assert.equal(INDUCTION_REQUEST.length, 64);
    const hs = parseHandshake(INDUCTION_REQUEST);
    assert.equal(hs.timestamp, 123456);
    assert.equal(hs.destinationSocketId, 0);
    assert.equal(hs.version, 4);
    assert.equal(hs.encryption, 0);
    assert.equal(hs.extension, 2);
    assert.equal(hs.initialSequenceNumber, 0x2e5c3a1b);
    assert.equal(hs.mtu, 1500);
    assert.equal(hs.flowWindow, 8192);
    assert.equal(hs.handshakeType, HandshakeType.Induction);
    assert.equal(hs.socketId, 0x1a2b3c4d);
    assert.equal(hs.synCookie, 0);
    assert.deepEqual(decodePeerIp(hs.peerIp), { family: 'IPv4', address: '127.0.0.1' });
    assert.deepEqual(hs.extensions, []);
  });

  void test('buildInductionRequest writes the same 64 bytes', () => {
    const built = buildInductionRequest({
      socketId: 0x1a2b3c4d,
      initialSequenceNumber: 0x2e5c3a1b,
      timestamp: 123456,
      peerAddress: '127.0.0.1',
    });
    assert.deepEqual(built, INDUCTION_REQUEST);
  });

  void test('buildInductionResponse answers as an HSv5 listener: version 5, 0x4A17, cookie, echoed ISN/MTU/window', () => {
    const built = buildInductionResponse({
      request: parseHandshake(INDUCTION_REQUEST),
      socketId: 0x0badcafe,
      synCookie: 0x418d5e4e,
      timestamp: 1000,
      peerAddress: '127.0.0.1',
    });
    assert.deepEqual(built, INDUCTION_RESPONSE);
    const hs = parseHandshake(built);
    assert.equal(hs.version, 5);
    assert.equal(hs.extension, SRT_MAGIC_CODE);
    assert.equal(hs.destinationSocketId, 0x1a2b3c4d);
  });

  void test('parses a CONCLUSION with HSREQ and the word-reversed stream id', () => {
    assert.equal(CONCLUSION_REQUEST.length, 116);
    const hs = parseHandshake(CONCLUSION_REQUEST);
    assert.equal(hs.version, 5);
    assert.equal(hs.extension, ExtensionFlag.HsReq | ExtensionFlag.Config);
    assert.equal(hs.handshakeType, HandshakeType.Conclusion);
    assert.equal(hs.synCookie, 0x418d5e4e);
    assert.equal(hs.destinationSocketId, 0x0badcafe);
    assert.equal(hs.extensions.length, 2);
    const [hsreq, sid] = hs.extensions;
    assert.ok(hsreq?.kind === 'hsreq');
    assert.equal(hsreq.type, ExtensionType.HsReq);
    assert.equal(hsreq.srtVersion, 0x010503);
    assert.equal(hsreq.srtFlags, 0xbf);
    assert.ok((hsreq.srtFlags & SrtOptionFlag.TsbpdSend) !== 0);
    assert.ok((hsreq.srtFlags & SrtOptionFlag.Stream) === 0);
    assert.equal(hsreq.receiverTsbpdDelay, 120);
    assert.equal(hsreq.senderTsbpdDelay, 80);
    assert.ok(sid?.kind === 'sid');
    assert.equal(sid.streamId, '#!::r=live/livestream,m=publish');
    assert.deepEqual(sid.contents, SID_CONTENTS);
    assert.equal(streamIdOf(hs), '#!::r=live/livestream,m=publish');
  });

  void test('encoding the CONCLUSION from fields gives the hand-built bytes', () => {
    const hs: Handshake = {
      typeSpecificInfo: 0,
      timestamp: 124456,
      destinationSocketId: 0x0badcafe,
      version: 5,
      encryption: 0,
      extension: ExtensionFlag.HsReq | ExtensionFlag.Config,
      initialSequenceNumber: 0x2e5c3a1b,
      mtu: 1500,
      flowWindow: 8192,
      handshakeType: HandshakeType.Conclusion,
      socketId: 0x1a2b3c4d,
      synCookie: 0x418d5e4e,
      peerIp: encodePeerIp('127.0.0.1'),
      extensions: [
        hsExtension({ response: false, srtVersion: 0x010503, srtFlags: 0xbf, receiverTsbpdDelay: 120, senderTsbpdDelay: 80 }),
        streamIdExtension('#!::r=live/livestream,m=publish'),
      ],
    };
    assert.deepEqual(encodeHandshake(hs), CONCLUSION_REQUEST);
  });

  void test('encode(parse(x)) is byte-exact for the vectors', () => {
    for (const vector of [INDUCTION_REQUEST, INDUCTION_RESPONSE, CONCLUSION_REQUEST]) {
      assert.deepEqual(encodeHandshake(parseHandshake(vector)), vector);
    }
  });

  void test('buildConclusionResponse derives the Extension Field from its blocks and echoes the request', () => {
    const request = parseHandshake(CONCLUSION_REQUEST);
    const hsrsp = hsExtension({ response: true, srtVersion: 0x010503, srtFlags: 0xbf, receiverTsbpdDelay: 120, senderTsbpdDelay: 120 });
    const built = buildConclusionResponse({
      request,
      socketId: 0x0badcafe,
      timestamp: 2000,
      peerAddress: '10.1.2.3',
      extensions: [hsrsp],
    });
    assert.deepEqual(
      built,
      Buffer.concat([
        hex('80000000 00000000 000007D0 1A2B3C4D', '00000005 00000001 2E5C3A1B 000005DC 00002000 FFFFFFFF 0BADCAFE 418D5E4E'),
        hex('0302010A 00000000 00000000 00000000'), // 10.1.2.3, word-reversed
        hex('00020003 00010503 000000BF 00780078'), // HSRSP
      ]),
    );
  });

  void test('an HSv4 CONCLUSION (version 4, UDT_DGRAM, no extensions) parses', () => {
    const v4 = Buffer.from(CONCLUSION_REQUEST.subarray(0, 64));
    v4.writeUInt32BE(4, 16);
    v4.writeUInt32BE(UDT_DGRAM, 20);
    const hs = parseHandshake(v4);
    assert.equal(hs.version, 4);
    assert.equal((hs.encryption << 16) | hs.extension, UDT_DGRAM);
    assert.equal(streamIdOf(hs), undefined);
  });
});

void describe('handshake malformed input', () => {
  void test('every truncation of the CONCLUSION is a typed error, except at whole-block boundaries', () => {
    for (let length = 0; length < CONCLUSION_REQUEST.length; length++) {
      const cut = CONCLUSION_REQUEST.subarray(0, length);
      if (CONCLUSION_BLOCK_BOUNDARIES.includes(length)) {
        const hs = parseHandshake(cut);
        assert.ok(hs.extensions.length < 2);
        assert.deepEqual(encodeHandshake(hs), cut);
        continue;
      }
      const expected = length < HANDSHAKE_MIN_LENGTH ? 'truncated' : 'bad-extension';
      assertSrtError(() => parseHandshake(cut), expected);
    }
  });

  void test('a block length that runs past the end is a typed error', () => {
    const lying = Buffer.from(CONCLUSION_REQUEST);
    lying.writeUInt16BE(9, 80 + 2); // SID claims 9 words, 8 are there
    assertSrtError(() => parseHandshake(lying), 'bad-extension');
    lying.writeUInt16BE(0xffff, 80 + 2);
    assertSrtError(() => parseHandshake(lying), 'bad-extension');
  });

  void test('2 or 3 leftover bytes after the last block are a typed error (the Go proxy crash)', () => {
    for (const extra of [1, 2, 3]) {
      const padded = Buffer.concat([CONCLUSION_REQUEST, Buffer.alloc(extra)]);
      assertSrtError(() => parseHandshake(padded), 'bad-extension');
    }
  });

  void test('an HSREQ shorter than 3 words is a typed error', () => {
    const short = Buffer.concat([CONCLUSION_REQUEST.subarray(0, 64), hex('00010001 00010503')]);
    assertSrtError(() => parseHandshake(short), 'bad-extension');
  });

  void test('a non-handshake control packet is refused', () => {
    const keepAlive = Buffer.concat([hex('80010000'), INDUCTION_REQUEST.subarray(4)]);
    assertSrtError(() => parseHandshake(keepAlive), 'not-handshake');
    assert.equal(peekHandshake(keepAlive), undefined);
  });

  void test('unknown, filter, group and key-material blocks survive a round trip untouched', () => {
    const blocks = hex(
      '0003 0002 12345678 9ABCDEF0', // KMREQ (kept raw)
      '0007 0001 6C69667A', // FILTER
      '0008 0002 00000001 02000000', // GROUP
      '1234 0000', // unknown type, empty
      'BEEF 0001 DEADBEEF', // unknown type
    );
    const datagram = Buffer.concat([CONCLUSION_REQUEST, blocks]);
    const hs = parseHandshake(datagram);
    assert.deepEqual(
      hs.extensions.map((block) => [block.kind, block.type, block.contents.length]),
      [
        ['hsreq', 1, 12],
        ['sid', 5, 32],
        ['kmreq', 3, 8],
        ['filter', 7, 4],
        ['group', 8, 8],
        ['unknown', 0x1234, 0],
        ['unknown', 0xbeef, 4],
      ],
    );
    assert.deepEqual(hs.extensions[2]?.contents, hex('12345678 9ABCDEF0'));
    assert.deepEqual(encodeHandshake(hs), datagram);
  });

  void test('encodeHandshake refuses values that do not fit', () => {
    const hs = parseHandshake(CONCLUSION_REQUEST);
    assertSrtError(() => encodeHandshake({ ...hs, version: -1 }), 'invalid-argument');
    assertSrtError(() => encodeHandshake({ ...hs, encryption: 0x10000 }), 'invalid-argument');
    assertSrtError(() => encodeHandshake({ ...hs, peerIp: Buffer.alloc(4) }), 'invalid-argument');
    assertSrtError(() => encodeHandshake({ ...hs, extensions: [{ kind: 'unknown', type: 9, contents: Buffer.alloc(3) }] }), 'invalid-argument');
    assertSrtError(() => rawExtension(9, Buffer.alloc(2)), 'invalid-argument');
  });
});

void describe('handshake helpers', () => {
  void test('patchHandshake swaps the cookie and ids in a copy and keeps the extensions', () => {
    const patched = patchHandshake(CONCLUSION_REQUEST, { synCookie: 0x01020304, destinationSocketId: 0x55667788 });
    assert.notEqual(patched, CONCLUSION_REQUEST);
    assert.equal(CONCLUSION_REQUEST.readUInt32BE(44), 0x418d5e4e, 'input untouched');
    const expected = Buffer.from(CONCLUSION_REQUEST);
    expected.writeUInt32BE(0x01020304, 44);
    expected.writeUInt32BE(0x55667788, 12);
    assert.deepEqual(patched, expected);
    const withSocket = patchHandshake(CONCLUSION_REQUEST, { socketId: 7, timestamp: 9 });
    assert.equal(withSocket.readUInt32BE(40), 7);
    assert.equal(withSocket.readUInt32BE(8), 9);
    assertSrtError(() => patchHandshake(CONCLUSION_REQUEST.subarray(0, 63), { synCookie: 1 }), 'truncated');
    assertSrtError(() => patchHandshake(CONCLUSION_REQUEST, { synCookie: 2 ** 32 }), 'invalid-argument');
  });

  void test('patchHandshake rewrites the peer IP field (words reversed) and nothing else', () => {
    const patched = patchHandshake(CONCLUSION_REQUEST, { peerAddress: '10.1.2.3' });
    const expected = Buffer.from(CONCLUSION_REQUEST);
    hex('0302010A 00000000 00000000 00000000').copy(expected, 48);
    assert.deepEqual(patched, expected);
    const v6 = patchHandshake(CONCLUSION_REQUEST, { peerAddress: '2001:db8::1' });
    assert.deepEqual(v6.subarray(48, 64), hex('B80D0120 00000000 00000000 01000000'));
    assert.deepEqual(v6.subarray(64), CONCLUSION_REQUEST.subarray(64), 'extensions untouched');
    assertSrtError(() => patchHandshake(CONCLUSION_REQUEST, { peerAddress: 'example.com' }), 'invalid-argument');
  });

  void test('peekHandshake reads classification fields without walking extensions', () => {
    const broken = Buffer.concat([CONCLUSION_REQUEST, Buffer.alloc(2)]); // bad blocks, fixed part fine
    assert.deepEqual(peekHandshake(broken), {
      version: 5,
      handshakeType: HandshakeType.Conclusion,
      socketId: 0x1a2b3c4d,
      synCookie: 0x418d5e4e,
      destinationSocketId: 0x0badcafe,
    });
    assert.equal(peekHandshake(INDUCTION_REQUEST.subarray(0, 63)), undefined);
  });

  void test('buildRejection puts the wire reason code in Handshake Type', () => {
    const request = parseHandshake(CONCLUSION_REQUEST);
    const rejection = buildRejection({
      request,
      reason: AccessRejectionCode.NotFound,
      timestamp: 3000,
      peerAddress: '127.0.0.1',
    });
    assert.deepEqual(
      rejection,
      hex(
        '80000000 00000000 00000BB8 1A2B3C4D',
        '00000005 00000000 2E5C3A1B 000005DC 00002000',
        '00000964', // 2404 = SRT_REJX_NOTFOUND (1404) + 1000
        '00000000 418D5E4E',
        '0100007F 00000000 00000000 00000000',
      ),
    );
    const version = parseHandshake(buildRejection({ request, reason: RejectionCode.Version, timestamp: 0, peerAddress: '::1' }));
    assert.equal(version.handshakeType, 1008);
    assertSrtError(() => buildRejection({ request, reason: 999, timestamp: 0, peerAddress: '::1' }), 'invalid-argument');
  });

  void test('rejection codes follow the draft table and the libsrt +1000 wire rule', () => {
    assert.equal(RejectionCode.Rogue, 1004);
    assert.equal(RejectionCode.Backlog, 1005);
    assert.equal(RejectionCode.Version, 1008);
    assert.equal(RejectionCode.Crypto, 1017);
    assert.equal(AccessRejectionCode.BadRequest, 2400);
    assert.equal(rejectionReason(2404), 1404);
    assert.equal(rejectionReason(HandshakeType.Conclusion), undefined);
    assert.equal(isRejection(1000), true);
    assert.equal(isRejection(HandshakeType.Induction), false);
    assert.equal(isRejection(HandshakeType.Agreement), false);
    assert.equal(handshakeTypeName(HandshakeType.Conclusion), 'Conclusion');
    assert.equal(handshakeTypeName(0), 'WaveAHand');
    assert.equal(handshakeTypeName(1004), 'RejectRogue');
    assert.equal(handshakeTypeName(2404), 'RejectAccessNotFound');
    assert.equal(handshakeTypeName(2999), 'Reject(2999)');
    assert.equal(handshakeTypeName(42), '0x0000002a');
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const wordBytes = fc
  .integer({ min: 0, max: 12 })
  .chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 }))
  .map((array) => Buffer.from(array));

const extension = fc.oneof(
  fc
    .record({ type: u16, contents: wordBytes })
    .filter(({ type, contents }) => !((type === 1 || type === 2) && contents.length < 12))
    .map(({ type, contents }) => rawExtension(type, contents)),
  fc.record({ response: fc.boolean(), srtVersion: u32, srtFlags: u32, receiverTsbpdDelay: u16, senderTsbpdDelay: u16 }).map((fields) => hsExtension(fields)),
  fc.string({ maxLength: 100 }).map((text) => streamIdExtension(text)),
);

const handshake: fc.Arbitrary<Handshake> = fc.record(
  {
    typeSpecificInfo: u32,
    timestamp: u32,
    destinationSocketId: u32,
    version: u32,
    encryption: u16,
    extension: u16,
    initialSequenceNumber: u32,
    mtu: u32,
    flowWindow: u32,
    handshakeType: u32,
    socketId: u32,
    synCookie: u32,
    peerIp: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((array) => Buffer.from(array)),
    extensions: fc.array(extension, { maxLength: 5 }),
  },
  { noNullPrototype: true },
);

void describe('handshake properties', () => {
  void test('encode then parse then encode is stable and keeps every field', () => {
    fc.assert(
      fc.property(handshake, (hs) => {
        const wire = encodeHandshake(hs);
        const parsed = parseHandshake(wire);
        assert.deepEqual(encodeHandshake(parsed), wire);
        const { extensions, peerIp, ...fixed } = parsed;
        const { extensions: originalExtensions, peerIp: originalPeerIp, ...originalFixed } = hs;
        assert.deepEqual(fixed, originalFixed);
        assert.deepEqual(Buffer.from(peerIp), originalPeerIp);
        assert.deepEqual(
          extensions.map((block) => [block.type, Buffer.from(block.contents)]),
          originalExtensions.map((block) => [block.type, block.contents]),
        );
      }),
    );
  });

  void test('a stream id survives encode/parse when it has no trailing NUL', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 120 }).filter((text) => !text.endsWith('\u0000') && Buffer.byteLength(text) <= 512),
        (text) => {
          const hs = parseHandshake(Buffer.concat([INDUCTION_REQUEST, encodeBlock(streamIdExtension(text))]));
          assert.equal(streamIdOf(hs), text);
        },
      ),
    );
  });

  void test('truncating a valid handshake anywhere gives SrtError or a shorter valid handshake', () => {
    fc.assert(
      fc.property(handshake, fc.nat(), (hs, cutSeed) => {
        const wire = encodeHandshake(hs);
        const cut = wire.subarray(0, cutSeed % wire.length);
        try {
          const parsed = parseHandshake(cut);
          assert.ok(parsed.extensions.length < hs.extensions.length);
          assert.deepEqual(encodeHandshake(parsed), cut);
        } catch (error) {
          assert.ok(error instanceof SrtError, `unexpected ${String(error)}`);
        }
      }),
    );
  });

  void test('arbitrary bytes only ever raise SrtError', () => {
    const handshakeLike = fc.uint8Array({ maxLength: 160 }).map((array) => Buffer.concat([hex('80000000'), Buffer.from(array)]));
    const mutated = fc
      .record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), extra: fc.uint8Array({ maxLength: 6 }) }, { noNullPrototype: true })
      .map(({ at, value, extra }) => {
        const copy = Buffer.concat([CONCLUSION_REQUEST, Buffer.from(extra)]);
        copy[at % copy.length] = value;
        return copy;
      });
    const random = fc.uint8Array({ maxLength: 160 }).map((array) => Buffer.from(array));
    fc.assert(
      fc.property(fc.oneof(handshakeLike, mutated, random), (datagram) => {
        try {
          const hs = parseHandshake(datagram);
          assert.deepEqual(encodeHandshake(hs), datagram, 'whatever parses re-encodes exactly');
          streamIdOf(hs);
        } catch (error) {
          assert.ok(error instanceof SrtError, `unexpected ${String(error)}`);
        }
        peekHandshake(datagram);
      }),
      { numRuns: 500 },
    );
  });
});

function encodeBlock(block: { type: number; contents: Buffer }): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(block.type, 0);
  header.writeUInt16BE(block.contents.length / 4, 2);
  return Buffer.concat([header, block.contents]);
}
