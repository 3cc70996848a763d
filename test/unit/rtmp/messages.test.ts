import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  MessageType,
  PeerBandwidthLimit,
  controlMessage,
  decodeAbort,
  decodeSetChunkSize,
  decodeSetPeerBandwidth,
  decodeWindowAckSize,
  encodeAcknowledgement,
  encodeSetChunkSize,
  encodeSetPeerBandwidth,
  encodeUserControl,
  encodeWindowAckSize,
  userControlMessage,
  type UserControlEvent,
} from '../../../src/rtmp/messages.js';
import { decodeAcknowledgement, decodeUserControl, encodeAbort } from '../../fixtures/rtmp-codec.js';
import { hex, onlyRtmpErrors, throwsRtmp } from './helpers.js';

describe('message type ids (RTMP specification 1.0 §5.4, 7.1)', () => {
  test('values', () => {
    assert.deepStrictEqual([MessageType.SetChunkSize, MessageType.Abort, MessageType.Acknowledgement, MessageType.UserControl], [1, 2, 3, 4]);
    assert.deepStrictEqual([MessageType.WindowAckSize, MessageType.SetPeerBandwidth, MessageType.Audio, MessageType.Video], [5, 6, 8, 9]);
    assert.deepStrictEqual([MessageType.DataAmf3, MessageType.SharedObjectAmf3, MessageType.CommandAmf3], [15, 16, 17]);
    assert.deepStrictEqual([MessageType.DataAmf0, MessageType.SharedObjectAmf0, MessageType.CommandAmf0, MessageType.Aggregate], [18, 19, 20, 22]);
  });
});

describe('protocol control messages', () => {
  test('Set Chunk Size: 31-bit value, top bit must be 0, zero rejected', () => {
    assert.deepStrictEqual(encodeSetChunkSize(4096), hex('00001000'));
    assert.equal(decodeSetChunkSize(hex('00001000')), 4096);
    assert.equal(decodeSetChunkSize(hex('7fffffff')), 0x7fffffff);
    throwsRtmp(() => decodeSetChunkSize(hex('80001000')), 'MESSAGE_VALUE');
    throwsRtmp(() => decodeSetChunkSize(hex('00000000')), 'MESSAGE_VALUE');
    throwsRtmp(() => decodeSetChunkSize(hex('000010')), 'MESSAGE_LENGTH');
    throwsRtmp(() => encodeSetChunkSize(0), 'MESSAGE_VALUE');
    throwsRtmp(() => encodeSetChunkSize(0x80000000), 'MESSAGE_VALUE');
    throwsRtmp(() => encodeSetChunkSize(1.5), 'MESSAGE_VALUE');
  });

  test('Abort, Acknowledgement, Window Acknowledgement Size', () => {
    assert.deepStrictEqual(encodeAbort(4), hex('00000004'));
    assert.equal(decodeAbort(hex('00000140')), 320);
    assert.deepStrictEqual(encodeAcknowledgement(0xfffffffe), hex('fffffffe'));
    assert.equal(decodeAcknowledgement(hex('002625a0')), 2_500_000);
    assert.deepStrictEqual(encodeWindowAckSize(2_500_000), hex('002625a0'));
    assert.equal(decodeWindowAckSize(hex('002625a0')), 2_500_000);
    for (const decode of [decodeAbort, decodeAcknowledgement, decodeWindowAckSize]) {
      throwsRtmp(() => decode(hex('000000')), 'MESSAGE_LENGTH');
    }
    throwsRtmp(() => encodeAcknowledgement(-1), 'MESSAGE_VALUE');
    throwsRtmp(() => encodeWindowAckSize(2 ** 32), 'MESSAGE_VALUE');
  });

  test('Set Peer Bandwidth with its limit type', () => {
    assert.deepStrictEqual(encodeSetPeerBandwidth({ windowSize: 2_500_000, limitType: PeerBandwidthLimit.Dynamic }), hex('002625a0 02'));
    assert.deepStrictEqual(decodeSetPeerBandwidth(hex('002625a0 00')), { windowSize: 2_500_000, limitType: 0 });
    assert.deepStrictEqual(decodeSetPeerBandwidth(hex('00000001 01')), { windowSize: 1, limitType: 1 });
    throwsRtmp(() => decodeSetPeerBandwidth(hex('002625a0 03')), 'MESSAGE_VALUE');
    throwsRtmp(() => decodeSetPeerBandwidth(hex('002625a0')), 'MESSAGE_LENGTH');
    throwsRtmp(() => encodeSetPeerBandwidth({ windowSize: 1, limitType: 3 as 0 }), 'MESSAGE_VALUE');
  });

  test('controlMessage goes on chunk stream 2, message stream 0', () => {
    assert.deepStrictEqual(controlMessage(MessageType.SetChunkSize, encodeSetChunkSize(4096)), {
      type: 1,
      timestamp: 0,
      streamId: 0,
      csid: 2,
      payload: hex('00001000'),
    });
  });
});

describe('User Control events (RTMP specification 1.0 §7.1.7)', () => {
  const vectors: [string, UserControlEvent][] = [
    ['0000 00000001', { kind: 'streamBegin', streamId: 1 }],
    ['0001 00000001', { kind: 'streamEof', streamId: 1 }],
    ['0002 00000002', { kind: 'streamDry', streamId: 2 }],
    ['0003 00000001 00000bb8', { kind: 'setBufferLength', streamId: 1, bufferLengthMs: 3000 }],
    ['0004 00000001', { kind: 'streamIsRecorded', streamId: 1 }],
    ['0006 0001e240', { kind: 'pingRequest', timestamp: 123456 }],
    ['0007 0001e240', { kind: 'pingResponse', timestamp: 123456 }],
    ['001a 00', { kind: 'unknown', eventType: 0x1a, data: hex('00') }],
  ];
  for (const [bytes, event] of vectors) {
    test(event.kind + (event.kind === 'unknown' ? ` ${event.eventType}` : ''), () => {
      assert.deepStrictEqual(decodeUserControl(hex(bytes)), event);
      assert.deepStrictEqual(encodeUserControl(event), hex(bytes));
    });
  }

  test('short payloads are typed errors', () => {
    throwsRtmp(() => decodeUserControl(hex('00')), 'MESSAGE_LENGTH');
    throwsRtmp(() => decodeUserControl(hex('0000 000000')), 'MESSAGE_LENGTH');
    throwsRtmp(() => decodeUserControl(hex('0003 00000001 000000')), 'MESSAGE_LENGTH');
    throwsRtmp(() => decodeUserControl(hex('0006')), 'MESSAGE_LENGTH');
  });

  test('userControlMessage', () => {
    const m = userControlMessage({ kind: 'streamBegin', streamId: 1 });
    assert.deepStrictEqual(m, { type: 4, timestamp: 0, streamId: 0, csid: 2, payload: hex('0000 00000001') });
  });

  const event: fc.Arbitrary<UserControlEvent> = fc.oneof(
    fc.record({ kind: fc.constantFrom('streamBegin', 'streamEof', 'streamDry', 'streamIsRecorded'), streamId: fc.nat() }) as fc.Arbitrary<UserControlEvent>,
    fc.record({ kind: fc.constant('setBufferLength' as const), streamId: fc.nat(), bufferLengthMs: fc.nat() }),
    fc.record({ kind: fc.constantFrom('pingRequest' as const, 'pingResponse' as const), timestamp: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({
      kind: fc.constant('unknown' as const),
      eventType: fc.integer({ min: 8, max: 0xffff }),
      data: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
    }),
  );

  test('round trip, and truncation of a known event is always a typed error', () => {
    fc.assert(
      // fc.record builds null-prototype objects; spread them into plain ones for deepStrictEqual.
      fc.property(
        event.map((e) => ({ ...e })),
        fc.nat(),
        (e, cut) => {
          const bytes = encodeUserControl(e);
          assert.deepStrictEqual(decodeUserControl(bytes), e);
          if (e.kind !== 'unknown') throwsRtmp(() => decodeUserControl(bytes.subarray(0, cut % bytes.length)));
        },
      ),
    );
  });

  test('arbitrary payloads never throw anything but RtmpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (a) => {
        const b = Buffer.from(a);
        for (const decode of [decodeUserControl, decodeSetChunkSize, decodeAbort, decodeAcknowledgement, decodeWindowAckSize, decodeSetPeerBandwidth]) {
          onlyRtmpErrors(() => decode(b));
        }
      }),
    );
  });
});
