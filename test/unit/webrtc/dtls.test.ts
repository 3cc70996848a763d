import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DTLS_RECORD_HEADER_LENGTH,
  DtlsAlertDescription,
  DtlsAlertLevel,
  DtlsContentType,
  DtlsError,
  findPlaintextDtlsAlert,
  isDtlsAlertRecord,
  isDtlsTeardownAlert,
  parseDtlsRecordHeader,
} from '../../../src/webrtc/dtls.js';
import { parseDtlsRecords } from '../../fixtures/webrtc-codec.js';
import type { DtlsErrorCode } from '../../../src/webrtc/dtls.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function assertDtlsError(fn: () => unknown, code?: DtlsErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DtlsError, `expected DtlsError, got ${String(error)}`);
    if (code) assert.equal(error.code, code);
    return true;
  });
}

interface RecordFields {
  contentType: number;
  version: number;
  epoch: number;
  sequenceNumber: number;
  fragment: Buffer;
}

/** Builds one record from the RFC 6347 §4.1 layout: type, version, epoch, 48-bit sequence, length. */
function record(fields: RecordFields): Buffer {
  const header = Buffer.alloc(DTLS_RECORD_HEADER_LENGTH);
  header[0] = fields.contentType;
  header.writeUInt16BE(fields.version, 1);
  header.writeUInt16BE(fields.epoch, 3);
  header.writeUIntBE(fields.sequenceNumber, 5, 6);
  header.writeUInt16BE(fields.fragment.length, 11);
  return Buffer.concat([header, fields.fragment]);
}

// close_notify (warning, 0) in epoch 0, DTLS 1.2, sequence 5.
const PLAINTEXT_CLOSE_NOTIFY = hex('15 fefd 0000 000000000005 0002 01 00');
// A fatal handshake_failure (2, 40) in epoch 0, DTLS 1.0.
const PLAINTEXT_HANDSHAKE_FAILURE = hex('15 feff 0000 000000000001 0002 02 28');
// An encrypted alert in epoch 1: 8-byte explicit nonce + 2 bytes + 16-byte tag = 26 bytes of ciphertext.
const ENCRYPTED_ALERT = Buffer.concat([hex('15 fefd 0001 000000000003 001a'), Buffer.alloc(26, 0xa5)]);

describe('parseDtlsRecordHeader', () => {
  test('known answer: a ClientHello record header', () => {
    const datagram = Buffer.concat([hex('16 feff 0000 000000000000 0003'), hex('010203')]);
    const header = parseDtlsRecordHeader(datagram);
    assert.equal(header.contentType, DtlsContentType.Handshake);
    assert.equal(header.version, 0xfeff);
    assert.equal(header.epoch, 0);
    assert.equal(header.sequenceNumber, 0);
    assert.equal(header.length, 3);
    assert.equal(header.offset, 0);
    assert.deepEqual(header.fragment, hex('010203'));
    assert.equal(header.fragment.buffer, datagram.buffer);
  });

  test('the 48-bit sequence number and epoch are read in full', () => {
    const header = parseDtlsRecordHeader(hex('17 fefd fffe ffffffffffff 0000'));
    assert.equal(header.epoch, 0xfffe);
    assert.equal(header.sequenceNumber, 2 ** 48 - 1);
    assert.equal(header.length, 0);
  });

  test('truncated headers, overrunning lengths and unparseable headers', () => {
    assertDtlsError(() => parseDtlsRecordHeader(Buffer.alloc(0)), 'truncated');
    assertDtlsError(() => parseDtlsRecordHeader(PLAINTEXT_CLOSE_NOTIFY.subarray(0, 12)), 'truncated');
    assertDtlsError(() => parseDtlsRecordHeader(PLAINTEXT_CLOSE_NOTIFY.subarray(0, 14)), 'overrun');
    assertDtlsError(() => parseDtlsRecordHeader(hex('16 fefd 0000 000000000000 ffff 00')), 'overrun');
    assertDtlsError(() => parseDtlsRecordHeader(PLAINTEXT_CLOSE_NOTIFY, 1), 'unsupported-header');
    assertDtlsError(() => parseDtlsRecordHeader(PLAINTEXT_CLOSE_NOTIFY, 5), 'truncated');
    assertDtlsError(() => parseDtlsRecordHeader(PLAINTEXT_CLOSE_NOTIFY, -1), 'truncated');
    for (const first of [0x00, 0x13, 0x19, 0x1b, 0x20, 0x2f, 0x3f, 0x80]) {
      const bytes = Buffer.from(PLAINTEXT_CLOSE_NOTIFY);
      bytes[0] = first;
      assertDtlsError(() => parseDtlsRecordHeader(bytes), 'unsupported-header');
    }
  });
});

describe('parseDtlsRecords', () => {
  test('several records in one datagram (ChangeCipherSpec + encrypted Finished)', () => {
    const datagram = Buffer.concat([
      record({ contentType: 20, version: 0xfefd, epoch: 0, sequenceNumber: 4, fragment: hex('01') }),
      record({ contentType: 22, version: 0xfefd, epoch: 1, sequenceNumber: 0, fragment: Buffer.alloc(40, 7) }),
    ]);
    const records = parseDtlsRecords(datagram);
    assert.deepEqual(
      records.map((r) => [r.contentType, r.epoch, r.sequenceNumber, r.length, r.offset]),
      [
        [20, 0, 4, 1, 0],
        [22, 1, 0, 40, 14],
      ],
    );
    assertDtlsError(() => parseDtlsRecords(Buffer.concat([datagram, hex('16fe')])), 'truncated');
    assert.deepEqual(parseDtlsRecords(Buffer.alloc(0)), []);
  });

  test('property: records built from the field layout parse back', () => {
    const recordArb = fc.record({
      contentType: fc.constantFrom(20, 21, 22, 23, 24, 26),
      version: fc.constantFrom(0xfeff, 0xfefd),
      epoch: fc.integer({ min: 0, max: 0xffff }),
      sequenceNumber: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
      fragment: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    });
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 4 }), (fields) => {
        const datagram = Buffer.concat(fields.map(record));
        const parsed = parseDtlsRecords(datagram);
        assert.deepEqual(
          parsed.map((r) => ({
            contentType: r.contentType,
            version: r.version,
            epoch: r.epoch,
            sequenceNumber: r.sequenceNumber,
            fragment: Buffer.from(r.fragment),
          })),
          fields.map((f) => ({ ...f })),
        );
      }),
    );
  });

  test('property: every strict truncation of a one-record datagram is a DtlsError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(), (fragment, cutSeed) => {
        const datagram = record({ contentType: 23, version: 0xfefd, epoch: 1, sequenceNumber: 9, fragment: Buffer.from(fragment) });
        const cut = 1 + (cutSeed % (datagram.length - 1));
        assertDtlsError(() => parseDtlsRecords(datagram.subarray(0, cut)));
      }),
    );
  });

  test('property: arbitrary bytes throw only DtlsError; the alert helpers never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const datagram = Buffer.from(bytes);
        try {
          parseDtlsRecords(datagram);
        } catch (error) {
          if (!(error instanceof DtlsError)) throw error;
        }
        assert.equal(typeof isDtlsAlertRecord(datagram), 'boolean');
        const alert = findPlaintextDtlsAlert(datagram);
        if (alert) assert.equal(alert.epoch, 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('DTLS alerts', () => {
  test('a plaintext close_notify is found and means teardown', () => {
    assert.equal(isDtlsAlertRecord(PLAINTEXT_CLOSE_NOTIFY), true);
    const alert = findPlaintextDtlsAlert(PLAINTEXT_CLOSE_NOTIFY);
    assert.deepEqual(alert, { level: DtlsAlertLevel.Warning, description: DtlsAlertDescription.CloseNotify, epoch: 0 });
    assert.equal(isDtlsTeardownAlert(alert!), true);
  });

  test('a plaintext fatal alert means teardown; a warning other than close_notify does not', () => {
    const fatal = findPlaintextDtlsAlert(PLAINTEXT_HANDSHAKE_FAILURE);
    assert.deepEqual(fatal, { level: 2, description: DtlsAlertDescription.HandshakeFailure, epoch: 0 });
    assert.equal(isDtlsTeardownAlert(fatal!), true);
    assert.equal(isDtlsTeardownAlert({ level: 1, description: 90, epoch: 0 }), false); // user_canceled
  });

  test('an encrypted alert is recognised as an alert record but not readable', () => {
    assert.equal(isDtlsAlertRecord(ENCRYPTED_ALERT), true);
    assert.equal(findPlaintextDtlsAlert(ENCRYPTED_ALERT), undefined);
  });

  test('an alert after other records in the same datagram is found', () => {
    const datagram = Buffer.concat([
      record({ contentType: 22, version: 0xfefd, epoch: 0, sequenceNumber: 1, fragment: Buffer.alloc(12) }),
      PLAINTEXT_HANDSHAKE_FAILURE,
    ]);
    assert.equal(isDtlsAlertRecord(datagram), false);
    assert.equal(findPlaintextDtlsAlert(datagram)?.description, 40);
  });

  test('malformed or non-alert datagrams give no alert', () => {
    assert.equal(findPlaintextDtlsAlert(Buffer.alloc(0)), undefined);
    assert.equal(findPlaintextDtlsAlert(PLAINTEXT_CLOSE_NOTIFY.subarray(0, 14)), undefined);
    assert.equal(isDtlsAlertRecord(PLAINTEXT_CLOSE_NOTIFY.subarray(0, 14)), false);
    assert.equal(isDtlsAlertRecord(PLAINTEXT_CLOSE_NOTIFY.subarray(0, 12)), false);
    assert.equal(findPlaintextDtlsAlert(hex('16 fefd 0000 000000000000 0002 0100')), undefined);
  });
});
