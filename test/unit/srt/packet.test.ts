import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SrtError } from '../../../src/srt/errors.js';
import { ControlType, SRT_HEADER_LENGTH, buildShutdown, isHandshakePacket } from '../../../src/srt/packet.js';
import { hex } from './vectors.js';
import {
  PacketPosition,
  controlTypeName,
  encodePacket,
  parsePacket,
  peekControlType,
  peekDestinationSocketId,
  peekPacketKind,
  writeDestinationSocketId,
  type SrtPacket,
} from '../../fixtures/srt-codec.js';

function assertSrtError(fn: () => unknown, code?: string): void {
  assert.throws(fn, (error: unknown) => error instanceof SrtError && (code === undefined || error.code === code));
}

void describe('SRT packet header', () => {
  void test('decodes a data packet laid out by hand (draft Figure 3)', () => {
    // seq 7; PP=11 (single) O=1 KK=01 R=1 msgno=5 -> 1110 1100 0000 ... 0101 = 0xEC000005
    const datagram = hex('00000007', 'EC000005', '00000064', '12345678', '616263');
    const packet = parsePacket(datagram);
    assert.deepEqual(packet, {
      kind: 'data',
      sequenceNumber: 7,
      packetPosition: PacketPosition.Single,
      inOrder: true,
      encryptionKey: 1,
      retransmitted: true,
      messageNumber: 5,
      timestamp: 100,
      destinationSocketId: 0x12345678,
      payload: Buffer.from('abc'),
    });
    assert.deepEqual(encodePacket(packet), datagram);
  });

  void test('decodes control packets: shutdown, ACK with its ack number, user-defined KMREQ', () => {
    const shutdown = parsePacket(hex('80050000', '00000000', '00000010', 'CAFEBABE'));
    assert.equal(shutdown.kind, 'control');
    assert.equal(shutdown.kind === 'control' && shutdown.controlType, ControlType.Shutdown);
    assert.equal(shutdown.destinationSocketId, 0xcafebabe);

    const ack = parsePacket(hex('80020000', '00000011', '00000020', '00000001', '0000002A'));
    assert.ok(ack.kind === 'control');
    assert.equal(ack.controlType, ControlType.Ack);
    assert.equal(ack.typeSpecificInfo, 0x11);
    assert.deepEqual(ack.cif, hex('0000002A'));

    const userDefined = parsePacket(hex('FFFF0003', '00000000', '00000000', '00000001'));
    assert.ok(userDefined.kind === 'control');
    assert.equal(userDefined.controlType, ControlType.UserDefined);
    assert.equal(userDefined.subtype, 3);
  });

  void test('names every control type of the draft table', () => {
    const expected: [number, string][] = [
      [0, 'Handshake'],
      [1, 'KeepAlive'],
      [2, 'Ack'],
      [3, 'Nak'],
      [4, 'CongestionWarning'],
      [5, 'Shutdown'],
      [6, 'AckAck'],
      [7, 'DropRequest'],
      [8, 'PeerError'],
      [0x7fff, 'UserDefined'],
      [0x42, '0x0042'],
    ];
    for (const [type, name] of expected) assert.equal(controlTypeName(type), name);
  });

  void test('peek accessors read the header without throwing', () => {
    const keepAlive = hex('80010000', '00000000', '00000000', '00ABCDEF');
    assert.equal(peekPacketKind(keepAlive), 'control');
    assert.equal(peekControlType(keepAlive), ControlType.KeepAlive);
    assert.equal(peekDestinationSocketId(keepAlive), 0xabcdef);
    assert.equal(isHandshakePacket(keepAlive), false);
    assert.equal(isHandshakePacket(hex('80000000', '00000000', '00000000', '00000000')), true);
    assert.equal(isHandshakePacket(hex('80000001', '00000000', '00000000', '00000000')), false);
    const data = hex('00000001', '00000000', '00000000', '00000002');
    assert.equal(peekPacketKind(data), 'data');
    assert.equal(peekControlType(data), undefined);
  });

  void test('a datagram under 16 bytes is malformed at every length', () => {
    const full = hex('80000000', '00000000', '00000000', '00000001');
    for (let length = 0; length < SRT_HEADER_LENGTH; length++) {
      const short = full.subarray(0, length);
      assertSrtError(() => parsePacket(short), 'truncated');
      assert.equal(peekPacketKind(short), undefined);
      assert.equal(peekControlType(short), undefined);
      assert.equal(peekDestinationSocketId(short), undefined);
      assert.equal(isHandshakePacket(short), false);
      assertSrtError(() => writeDestinationSocketId(Buffer.from(short), 1), 'truncated');
    }
  });

  void test('writeDestinationSocketId rewrites bytes 12-15 only', () => {
    const datagram = hex('80010000', '00000000', '00000000', '00000000', 'AABB');
    writeDestinationSocketId(datagram, 0x01020304);
    assert.deepEqual(datagram, hex('80010000', '00000000', '00000000', '01020304', 'AABB'));
    assertSrtError(() => writeDestinationSocketId(datagram, -1), 'invalid-argument');
    assertSrtError(() => writeDestinationSocketId(datagram, 2 ** 32), 'invalid-argument');
  });

  void test('encode rejects out-of-range fields with SrtError', () => {
    const base: SrtPacket = {
      kind: 'control',
      controlType: 0x8000,
      subtype: 0,
      typeSpecificInfo: 0,
      timestamp: 0,
      destinationSocketId: 0,
      cif: Buffer.alloc(0),
    };
    assertSrtError(() => encodePacket(base), 'invalid-argument');
    assertSrtError(() => encodePacket({ ...base, controlType: 1, timestamp: 1.5 }), 'invalid-argument');
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

const dataPacket = fc.record(
  {
    kind: fc.constant('data' as const),
    sequenceNumber: fc.integer({ min: 0, max: 0x7fffffff }),
    packetPosition: fc.integer({ min: 0, max: 3 }),
    inOrder: fc.boolean(),
    encryptionKey: fc.integer({ min: 0, max: 3 }),
    retransmitted: fc.boolean(),
    messageNumber: fc.integer({ min: 0, max: 0x03ffffff }),
    timestamp: u32,
    destinationSocketId: u32,
    payload: bytes(64),
  },
  { noNullPrototype: true },
);

const controlPacket = fc.record(
  {
    kind: fc.constant('control' as const),
    controlType: fc.oneof(fc.constantFrom(...Object.values(ControlType)), fc.integer({ min: 0, max: 0x7fff })),
    subtype: fc.integer({ min: 0, max: 0xffff }),
    typeSpecificInfo: u32,
    timestamp: u32,
    destinationSocketId: u32,
    cif: bytes(64),
  },
  { noNullPrototype: true },
);

void describe('buildShutdown', () => {
  void test('is a SHUTDOWN control packet with a 4-byte zero CIF', () => {
    assert.deepEqual(buildShutdown(0xcafebabe, 16), hex('80050000', '00000000', '00000010', 'CAFEBABE', '00000000'));
    assertSrtError(() => buildShutdown(-1, 0), 'invalid-argument');
  });
});

void describe('SRT packet header properties', () => {
  void test('encode then parse gives the packet back', () => {
    fc.assert(
      fc.property(fc.oneof(dataPacket, controlPacket), (packet) => {
        assert.deepEqual(parsePacket(encodePacket(packet)), packet);
      }),
    );
  });

  void test('parse then encode reproduces any datagram of 16 bytes or more', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 200 }), (array) => {
        const datagram = Buffer.from(array);
        assert.deepEqual(encodePacket(parsePacket(datagram)), datagram);
      }),
    );
  });

  void test('arbitrary bytes only ever raise SrtError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (array) => {
        const datagram = Buffer.from(array);
        try {
          parsePacket(datagram);
        } catch (error) {
          assert.ok(error instanceof SrtError, `unexpected ${String(error)}`);
        }
        peekPacketKind(datagram);
        peekControlType(datagram);
        peekDestinationSocketId(datagram);
        isHandshakePacket(datagram);
      }),
    );
  });
});
