import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SrtError } from '../../../src/srt/errors.js';
import { ExtensionFlag, decodeExtension, decodeSrtString, parseExtensions } from '../../../src/srt/extensions.js';
import { SID_CONTENTS, hex } from './vectors.js';
import {
  congestionExtension,
  encodeSrtString,
  extensionFlagsFor,
  formatSrtVersion,
  hsExtension,
  MAX_STREAM_ID_BYTES,
  rawExtension,
  streamIdExtension,
} from '../../fixtures/srt-codec.js';

function assertSrtError(fn: () => unknown, code?: string): void {
  assert.throws(fn, (error: unknown) => error instanceof SrtError && (code === undefined || error.code === code));
}

void describe('SRT strings (SID, congestion)', () => {
  void test('the stream id is sent as little-endian words (hand-reversed vector)', () => {
    assert.deepEqual(encodeSrtString('#!::r=live/livestream,m=publish'), SID_CONTENTS);
    assert.equal(decodeSrtString(SID_CONTENTS), '#!::r=live/livestream,m=publish');
  });

  void test("libsrt's own example: STREAM is padded to STREAM@@ and sent as ERTS@@MA", () => {
    assert.deepEqual(encodeSrtString('STREAM'), Buffer.from('ERTS\0\0MA', 'latin1'));
    assert.equal(decodeSrtString(Buffer.from('ERTS\0\0MA', 'latin1')), 'STREAM');
  });

  void test('congestion names use the same encoding', () => {
    const block = congestionExtension('file');
    assert.deepEqual(block.contents, Buffer.from('elif', 'latin1'));
    assert.equal(block.congestion, 'file');
    assert.equal(decodeExtension(6, Buffer.from('evil', 'latin1')).kind, 'congestion');
  });

  void test('a length that is already a multiple of 4 gets no padding word', () => {
    assert.equal(encodeSrtString('live').length, 4);
    assert.equal(encodeSrtString('').length, 0);
    assert.equal(streamIdExtension('').streamId, '');
  });

  void test('decoding a partial last word never throws', () => {
    assert.equal(decodeSrtString(Buffer.from('dcbaef', 'latin1')), 'abcdef');
  });

  void test('the stream id is capped at 512 bytes', () => {
    assert.equal(streamIdExtension('x'.repeat(MAX_STREAM_ID_BYTES)).contents.length, 512);
    assertSrtError(() => streamIdExtension('x'.repeat(MAX_STREAM_ID_BYTES + 1)), 'invalid-argument');
    assertSrtError(() => streamIdExtension('é'.repeat(257)), 'invalid-argument'); // 514 UTF-8 bytes
  });

  void test('any text without trailing NULs round-trips', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }).filter((text) => !text.endsWith('\0')),
        (text) => {
          const encoded = encodeSrtString(text);
          assert.equal(encoded.length % 4, 0);
          assert.equal(decodeSrtString(encoded), Buffer.from(text, 'utf8').toString('utf8'));
        },
      ),
    );
  });
});

void describe('extension blocks', () => {
  void test('HSREQ/HSRSP builders write the draft layout', () => {
    const hsreq = hsExtension({ response: false, srtVersion: 0x010503, srtFlags: 0x3f, receiverTsbpdDelay: 200, senderTsbpdDelay: 20 });
    assert.equal(hsreq.kind, 'hsreq');
    assert.equal(hsreq.type, 1);
    assert.deepEqual(hsreq.contents, hex('00010503 0000003F 00C80014'));
    const hsrsp = hsExtension({ response: true, srtVersion: 0x010300, srtFlags: 0, receiverTsbpdDelay: 0, senderTsbpdDelay: 0 });
    assert.equal(hsrsp.kind, 'hsrsp');
    assert.equal(hsrsp.type, 2);
    assertSrtError(() => hsExtension({ response: true, srtVersion: 1, srtFlags: 0, receiverTsbpdDelay: 0x10000, senderTsbpdDelay: 0 }), 'invalid-argument');
  });

  void test('an HSREQ longer than 3 words decodes the first three and keeps the rest', () => {
    const block = decodeExtension(1, hex('00010402 000000BF 00780078 FFFFFFFF'));
    assert.ok(block.kind === 'hsreq');
    assert.equal(block.srtVersion, 0x010402);
    assert.equal(block.contents.length, 16);
  });

  void test('KMRSP error form (one word) is kept raw', () => {
    const block = decodeExtension(4, hex('00000003'));
    assert.equal(block.kind, 'kmrsp');
    assert.deepEqual(block.contents, hex('00000003'));
  });

  void test('parseExtensions walks blocks and refuses lying lengths', () => {
    assert.deepEqual(parseExtensions(Buffer.alloc(0)), []);
    const region = hex('0005 0001 6576696C', '0006 0001 6576696C');
    const blocks = parseExtensions(region);
    assert.deepEqual(
      blocks.map((block) => block.kind),
      ['sid', 'congestion'],
    );
    assertSrtError(() => parseExtensions(hex('0005 0002 6576696C')), 'bad-extension');
    assertSrtError(() => parseExtensions(hex('0005 0001 6576696C 00')), 'bad-extension');
    assertSrtError(() => parseExtensions(hex('0005 0001 6576696C 0000')), 'bad-extension');
    assertSrtError(() => parseExtensions(hex('0005 0001 6576696C 000000')), 'bad-extension');
  });

  void test('extensionFlagsFor maps blocks to HSREQ / KMREQ / CONFIG', () => {
    const hsrsp = hsExtension({ response: true, srtVersion: 0, srtFlags: 0, receiverTsbpdDelay: 0, senderTsbpdDelay: 0 });
    assert.equal(extensionFlagsFor([]), 0);
    assert.equal(extensionFlagsFor([hsrsp]), ExtensionFlag.HsReq);
    assert.equal(extensionFlagsFor([hsrsp, rawExtension(4, hex('00000000'))]), ExtensionFlag.HsReq | ExtensionFlag.KmReq);
    assert.equal(extensionFlagsFor([hsrsp, streamIdExtension('a')]), ExtensionFlag.HsReq | ExtensionFlag.Config);
  });

  void test('formatSrtVersion reads major.minor.patch', () => {
    assert.equal(formatSrtVersion(0x010503), '1.5.3');
    assert.equal(formatSrtVersion(0x010300), '1.3.0');
  });

  void test('arbitrary extension regions only ever raise SrtError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (array) => {
        try {
          for (const block of parseExtensions(Buffer.from(array))) assert.equal(block.contents.length % 4, 0);
        } catch (error) {
          assert.ok(error instanceof SrtError, `unexpected ${String(error)}`);
        }
      }),
    );
  });
});
