import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyDatagram, isRtcp } from '../../fixtures/webrtc-demux.js';
import type { DatagramKind } from '../../fixtures/webrtc-demux.js';

/** The RFC 7983 §7 table, written out as ranges. */
const TABLE: [number, number, DatagramKind][] = [
  [0, 3, 'stun'],
  [4, 15, 'unknown'],
  [16, 19, 'zrtp'],
  [20, 63, 'dtls'],
  [64, 79, 'turn-channel'],
  [80, 127, 'unknown'],
  [128, 191, 'rtp'],
  [192, 255, 'unknown'],
];

function expectedKind(first: number): DatagramKind {
  return TABLE.find(([low, high]) => first >= low && first <= high)![2];
}

describe('classifyDatagram', () => {
  test('range boundaries of RFC 7983', () => {
    for (const [low, high, kind] of TABLE) {
      assert.equal(classifyDatagram(Buffer.from([low])), kind, `byte ${low}`);
      assert.equal(classifyDatagram(Buffer.from([high, 0, 0])), kind, `byte ${high}`);
    }
  });

  test('real first bytes', () => {
    assert.equal(classifyDatagram(Buffer.from([0x00, 0x01])), 'stun'); // binding request
    assert.equal(classifyDatagram(Buffer.from([0x01, 0x01])), 'stun'); // binding success
    assert.equal(classifyDatagram(Buffer.from([0x16, 0xfe, 0xfd])), 'dtls'); // handshake
    assert.equal(classifyDatagram(Buffer.from([0x17, 0xfe, 0xfd])), 'dtls'); // application data
    assert.equal(classifyDatagram(Buffer.from([0x2f])), 'dtls'); // DTLS 1.3 unified header
    assert.equal(classifyDatagram(Buffer.from([0x40, 0x00])), 'turn-channel'); // channel 0x4000
    assert.equal(classifyDatagram(Buffer.from([0x80, 0x60])), 'rtp'); // V=2, PT 96
    assert.equal(classifyDatagram(Buffer.from([0x90, 0xe0])), 'rtp'); // X bit, marker + PT 96
    assert.equal(classifyDatagram(Buffer.from([0x81, 0xc9])), 'rtp'); // RTCP RR
  });

  test('empty datagram is unknown', () => {
    assert.equal(classifyDatagram(Buffer.alloc(0)), 'unknown');
  });

  test('property: agrees with the table and never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), (bytes) => {
        const kind = classifyDatagram(bytes);
        assert.equal(kind, bytes.length === 0 ? 'unknown' : expectedKind(bytes[0]!));
      }),
    );
  });
});

describe('isRtcp', () => {
  test('RTCP packet types 192..223 in the second byte', () => {
    assert.equal(isRtcp(Buffer.from([0x80, 200, 0, 6])), true); // SR
    assert.equal(isRtcp(Buffer.from([0x81, 201, 0, 7])), true); // RR
    assert.equal(isRtcp(Buffer.from([0x8f, 206])), true); // PSFB
    assert.equal(isRtcp(Buffer.from([0x80, 192])), true);
    assert.equal(isRtcp(Buffer.from([0x80, 223])), true);
  });

  test('RTP and non-RTP bytes are not RTCP', () => {
    assert.equal(isRtcp(Buffer.from([0x80, 191])), false);
    assert.equal(isRtcp(Buffer.from([0x80, 224])), false); // marker + PT 96
    assert.equal(isRtcp(Buffer.from([0x80, 0x6f])), false); // PT 111
    assert.equal(isRtcp(Buffer.from([0x00, 200])), false); // STUN first byte
    assert.equal(isRtcp(Buffer.from([0xc0, 200])), false); // version 3
    assert.equal(isRtcp(Buffer.from([0x80])), false);
    assert.equal(isRtcp(Buffer.alloc(0)), false);
  });

  test('property: RTCP implies the rtp kind', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), (bytes) => {
        if (isRtcp(bytes)) assert.equal(classifyDatagram(bytes), 'rtp');
      }),
    );
  });
});
