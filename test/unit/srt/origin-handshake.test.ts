import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admitConclusion } from '../../../src/srt/admission.js';
import { ExtensionType } from '../../../src/srt/extensions.js';
import { AccessRejectionCode, RejectionCode, encodeHandshake, parseHandshake } from '../../../src/srt/handshake.js';
import { OriginHandshake } from '../../../src/srt/origin-handshake.js';
import { CONCLUSION_REQUEST, INDUCTION_REQUEST, hex } from './vectors.js';
import { rawExtension, streamIdExtension } from '../../fixtures/srt-codec.js';

const CALLER_ID = 0x1a2b3c4d;

function machine(): OriginHandshake {
  return new OriginHandshake({
    callerConclusion: CONCLUSION_REQUEST,
    caller: parseHandshake(CONCLUSION_REQUEST),
    callerAddress: '192.0.2.7',
    originAddress: '10.0.0.9',
  });
}

/** The origin's INDUCTION response, written out field by field (draft §4.3.1.1). */
const ORIGIN_INDUCTION_RESPONSE = hex(
  '80000000 00000000 00000010', // handshake, tsi, timestamp
  '1A2B3C4D', // to the caller's socket id (which the proxy used)
  '00000005 00004A17', // version 5, encryption 0, SRT magic
  '2E5C3A1B 000005DC 00002000', // ISN, MTU, flow window echoed
  '00000001', // INDUCTION
  '1A2B3C4D', // libsrt 1.5 echoes the caller's id
  'C0C0C0C0', // the origin's cookie
  '0900000A 00000000 00000000 00000000', // 10.0.0.9 as the origin saw us
);

/** The origin's CONCLUSION response: socket id 0x0ABCDEF1, HSRSP and KMRSP blocks. */
const ORIGIN_CONCLUSION_RESPONSE = hex(
  '80000000 00000000 00000020',
  '1A2B3C4D',
  '00000005 00000003', // version 5, extension HSRSP|KMRSP
  '2E5C3A1B 000005DC 00002000',
  'FFFFFFFF', // CONCLUSION
  '0ABCDEF1', // the origin's socket id
  'C0C0C0C0', // the origin's cookie
  '0100007F 00000000 00000000 00000000', // the proxy's address as the origin saw it
  '0002 0003 00010501 000000BF 00780078', // HSRSP
  '0004 0001 00000000', // KMRSP (one word, opaque)
);

void describe('OriginHandshake', () => {
  void test('starts with an HSv4-style induction carrying the caller socket id, ISN, MTU and flow window', () => {
    const induction = machine().request(0x10)!;
    assert.deepEqual(
      induction,
      hex(
        '80000000 00000000 00000010 00000000',
        '00000004 00000002', // version 4, UDT_DGRAM
        '2E5C3A1B 000005DC 00002000',
        '00000001 1A2B3C4D 00000000',
        '0900000A 00000000 00000000 00000000', // the origin's address, words reversed
      ),
    );
    // Same field layout as a caller's induction vector apart from ids/addresses.
    assert.equal(induction.length, INDUCTION_REQUEST.length);
  });

  void test('sends the caller conclusion with the origin cookie and origin address, extensions untouched', () => {
    const m = machine();
    const step = m.onPacket(ORIGIN_INDUCTION_RESPONSE);
    assert.equal(step.kind, 'send');
    assert.equal(m.phase, 'conclusion');
    const expected = Buffer.from(CONCLUSION_REQUEST);
    hex('C0C0C0C0').copy(expected, 44);
    hex('0900000A').copy(expected, 48);
    assert.deepEqual(step.kind === 'send' && step.packet, expected);
    assert.deepEqual(m.request(999), expected, 'retransmissions send the same conclusion');
    assert.equal(m.onPacket(ORIGIN_INDUCTION_RESPONSE).kind, 'ignore', 'a duplicate induction response changes nothing');
  });

  void test('hands the origin conclusion response to the caller with our cookie and the caller address', () => {
    const m = machine();
    m.onPacket(ORIGIN_INDUCTION_RESPONSE);
    const step = m.onPacket(ORIGIN_CONCLUSION_RESPONSE);
    assert.equal(step.kind, 'accepted');
    if (step.kind !== 'accepted') return;
    assert.equal(step.originSocketId, 0x0abcdef1);
    const expected = Buffer.from(ORIGIN_CONCLUSION_RESPONSE);
    hex('418D5E4E').copy(expected, 44); // the cookie the caller got from us
    hex('070200C0').copy(expected, 48); // 192.0.2.7
    assert.deepEqual(step.response, expected);
    assert.equal(m.phase, 'done');
    assert.equal(m.request(1), undefined);
    assert.equal(m.onPacket(ORIGIN_CONCLUSION_RESPONSE).kind, 'ignore');
  });

  void test('passes an origin rejection on, with our cookie', () => {
    const m = machine();
    m.onPacket(ORIGIN_INDUCTION_RESPONSE);
    const rejection = Buffer.from(ORIGIN_CONCLUSION_RESPONSE.subarray(0, 64));
    rejection.writeUInt32BE(AccessRejectionCode.Forbidden, 36);
    const step = m.onPacket(rejection);
    assert.equal(step.kind, 'rejected');
    if (step.kind !== 'rejected') return;
    assert.equal(step.reason, AccessRejectionCode.Forbidden);
    assert.equal(step.response.readUInt32BE(36), 2403);
    assert.equal(step.response.readUInt32BE(44), 0x418d5e4e);
    assert.equal(step.response.readUInt32BE(12), CALLER_ID);
  });

  void test('refuses an HSv4-only origin with a version rejection for the caller', () => {
    const m = machine();
    const v4 = Buffer.from(ORIGIN_INDUCTION_RESPONSE);
    hex('00000004 00000002').copy(v4, 16);
    const step = m.onPacket(v4);
    assert.equal(step.kind, 'rejected');
    if (step.kind !== 'rejected') return;
    assert.equal(step.reason, RejectionCode.Version);
    const answer = parseHandshake(step.response);
    assert.equal(answer.handshakeType, 1008);
    assert.equal(answer.destinationSocketId, CALLER_ID);
    assert.equal(answer.synCookie, 0x418d5e4e);
  });

  void test('ignores foreign ids, non-handshakes, malformed handshakes and out-of-phase answers', () => {
    const m = machine();
    const foreign = Buffer.from(ORIGIN_INDUCTION_RESPONSE);
    foreign.writeUInt32BE(0x99, 12);
    assert.equal(m.onPacket(foreign).kind, 'ignore');
    assert.equal(m.onPacket(hex('00000001 00000000 00000000 1A2B3C4D 00')).kind, 'ignore');
    assert.equal(m.onPacket(Buffer.concat([ORIGIN_INDUCTION_RESPONSE, hex('0001')])).kind, 'ignore');
    assert.equal(m.onPacket(ORIGIN_CONCLUSION_RESPONSE).kind, 'ignore', 'a conclusion before the induction response');
    assert.equal(m.phase, 'induction');
  });

  void test('arbitrary datagrams never throw and never finish the handshake unless they are well-formed answers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const m = machine();
        const step = m.onPacket(Buffer.from(bytes));
        if (step.kind !== 'ignore') assert.equal(Buffer.from(bytes).readUInt32BE(12), CALLER_ID);
      }),
      { numRuns: 500 },
    );
  });
});

void describe('admitConclusion', () => {
  const withSid = (sid: string | undefined, version = 5) => {
    const base = parseHandshake(CONCLUSION_REQUEST);
    const extensions = base.extensions.filter((e) => e.type !== ExtensionType.StreamId);
    if (sid !== undefined) extensions.push(streamIdExtension(sid));
    return parseHandshake(encodeHandshake({ ...base, version, extensions }));
  };

  void test('admits every stream id form of BEHAVIOUR.md §7.5 with the shared key', () => {
    const cases: [string, string, string][] = [
      ['#!::r=live/livestream,m=publish', '__defaultVhost__/live/livestream', 'publish'],
      ['#!::h=srs.example.com,r=live/x', 'srs.example.com/live/x', 'request'],
      ['#!::r=live/livestream?secret=1,m=request', '__defaultVhost__/live/livestream', 'request'],
      ['#!::h=live/livestream', '__defaultVhost__/live/livestream', 'request'],
      ['#!::h=vhost.example/live/livestream', 'vhost.example/live/livestream', 'request'],
      ['live/livestream', '__defaultVhost__/live/livestream', 'request'],
      ['livestream', '__defaultVhost__/live/livestream', 'request'],
      ['#!::user=bob,r=live/x', '__defaultVhost__/live/x', 'request'],
      ['#!::u=bob,s=abc,r=live/x,m=publish', '__defaultVhost__/live/x', 'publish'],
    ];
    for (const [sid, key, mode] of cases) {
      const admission = admitConclusion(withSid(sid));
      assert.equal(admission.kind, 'admit', sid);
      if (admission.kind !== 'admit') continue;
      assert.equal(admission.streamId, sid);
      assert.equal(admission.stream.key, key, sid);
      assert.equal(admission.stream.mode, mode, sid);
    }
  });

  void test('the vector conclusion is admitted as live/livestream', () => {
    const admission = admitConclusion(parseHandshake(CONCLUSION_REQUEST));
    assert.equal(admission.kind === 'admit' && admission.stream.key, '__defaultVhost__/live/livestream');
  });

  void test('refuses HSv4, a missing SID and unparsable SIDs with the right codes', () => {
    assert.deepEqual(pick(admitConclusion(withSid('live/x', 4))), ['reject', RejectionCode.Version]);
    assert.deepEqual(pick(admitConclusion(withSid(undefined))), ['reject', AccessRejectionCode.BadRequest]);
    assert.deepEqual(pick(admitConclusion(withSid(''))), ['reject', AccessRejectionCode.BadRequest]);
    assert.deepEqual(pick(admitConclusion(withSid('#!::m=publish'))), ['reject', AccessRejectionCode.BadRequest]);
    assert.deepEqual(pick(admitConclusion(withSid('#!::r=live/x,m=bogus'))), ['reject', AccessRejectionCode.BadRequest]);
  });

  void test('never throws for any stream id bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
        const padded = Buffer.alloc(Math.ceil(bytes.length / 4) * 4);
        Buffer.from(bytes).copy(padded);
        const base = parseHandshake(CONCLUSION_REQUEST);
        const hs = parseHandshake(encodeHandshake({ ...base, extensions: [rawExtension(ExtensionType.StreamId, padded)] }));
        const admission = admitConclusion(hs);
        assert.ok(admission.kind === 'admit' || admission.reason === AccessRejectionCode.BadRequest);
      }),
      { numRuns: 500 },
    );
  });
});

function pick(a: ReturnType<typeof admitConclusion>): [string, number | undefined] {
  return [a.kind, a.kind === 'reject' ? a.reason : undefined];
}
