import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { extractIceCredentials, makeSdpLine, parseSdp, parseSdpAttribute, sdpIcePwd, sdpIceUfrag, sdpLines, serializeSdp } from '../../../src/webrtc/sdp.js';
import { sdpAttributeValues, sdpLineEnding, sdpMediaKind } from '../../fixtures/webrtc-codec.js';
import { CHROME_OFFER, CHROME_OFFER_LINES, SRS_ANSWER, SRS_ANSWER_LINES } from './sdp-fixtures.js';

describe('parseSdp / serializeSdp', () => {
  test('the SRS answer: sections, lines and round trip', () => {
    const description = parseSdp(SRS_ANSWER);
    assert.equal(serializeSdp(description), SRS_ANSWER);
    assert.equal(description.session.length, 7);
    assert.deepEqual(
      description.session.map((l) => l.type),
      ['v', 'o', 's', 't', 'a', 'a', 'a'],
    );
    assert.equal(description.media.length, 2);
    assert.deepEqual(description.media.map(sdpMediaKind), ['audio', 'video']);
    assert.equal(description.media[0]!.lines[0]!.text, 'm=audio 9 UDP/TLS/RTP/SAVPF 111');
    assert.equal(description.media[0]!.lines.length, 15);
    assert.ok(sdpLines(description).every((l) => l.eol === '\r\n'));
    assert.deepEqual(
      sdpLines(description).map((l) => l.text),
      SRS_ANSWER_LINES,
    );
    assert.equal(sdpLineEnding(description), '\r\n');
  });

  test('the Chrome offer round-trips, with CRLF and LF endings', () => {
    assert.equal(serializeSdp(parseSdp(CHROME_OFFER)), CHROME_OFFER);
    const lf = CHROME_OFFER_LINES.join('\n') + '\n';
    const parsed = parseSdp(lf);
    assert.equal(serializeSdp(parsed), lf);
    assert.equal(sdpLineEnding(parsed), '\n');
    assert.ok(sdpLines(parsed).every((l) => !l.text.includes('\r')));
  });

  test('missing final newline, mixed endings, blank and untyped lines are kept verbatim', () => {
    const text = 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\n\nnot a line\r\nm=audio 9 RTP/AVP 0\r\r\na=x\r';
    const description = parseSdp(text);
    assert.equal(serializeSdp(description), text);
    const lines = sdpLines(description);
    assert.deepEqual(
      lines.map((l) => [l.type, l.text, l.eol]),
      [
        ['v', 'v=0', '\r\n'],
        ['o', 'o=- 1 1 IN IP4 0.0.0.0', '\n'],
        ['', '', '\n'],
        ['', 'not a line', '\r\n'],
        ['m', 'm=audio 9 RTP/AVP 0\r', '\r\n'],
        ['a', 'a=x\r', ''],
      ],
    );
    assert.equal(description.session.length, 4);
    assert.equal(description.media.length, 1);
  });

  test('empty input is an empty description', () => {
    const description = parseSdp('');
    assert.deepEqual(description, { session: [], media: [] });
    assert.equal(serializeSdp(description), '');
    assert.equal(sdpLineEnding(description), '\r\n');
  });

  test('property: serialize(parse(x)) === x for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'm', '=', 'v', '\r', '\n', ' ', ':', 'é', '0') }), (text) => {
        assert.equal(serializeSdp(parseSdp(text)), text);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        assert.equal(serializeSdp(parseSdp(text)), text);
      }),
    );
  });

  test('property: random typed line sets keep every line, its order and its ending', () => {
    const lineArb = fc.tuple(
      fc.constantFrom('v', 'o', 's', 'c', 't', 'a', 'm', 'b'),
      fc.string({ unit: fc.constantFrom('x', 'y', ' ', ':', '/', '1', '\r', '='), maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(lineArb, fc.constantFrom<'\r\n' | '\n'>('\r\n', '\n')), { maxLength: 30 }), fc.boolean(), (lines, dropLastEnding) => {
        let text = lines.map(([[type, value], eol]) => `${type}=${value}${eol}`).join('');
        if (dropLastEnding && text.endsWith('\n')) text = text.slice(0, text.endsWith('\r\n') ? -2 : -1);
        const description = parseSdp(text);
        assert.equal(serializeSdp(description), text);
        assert.equal(sdpLines(description).length, lines.length);
        assert.equal(description.media.length, lines.filter(([[type]]) => type === 'm').length);
        for (const section of description.media) assert.equal(section.lines[0]!.type, 'm');
        assert.ok(description.session.every((l) => l.type !== 'm'));
      }),
    );
  });
});

describe('SDP attributes', () => {
  test('parseSdpAttribute splits at the first colon', () => {
    assert.deepEqual(parseSdpAttribute(makeSdpLine('a=rtpmap:111 opus/48000/2', '\n')), { name: 'rtpmap', value: '111 opus/48000/2' });
    assert.deepEqual(parseSdpAttribute(makeSdpLine('a=fmtp:63 111/111', '\n')), { name: 'fmtp', value: '63 111/111' });
    assert.deepEqual(parseSdpAttribute(makeSdpLine('a=rtcp-mux', '\n')), { name: 'rtcp-mux', value: undefined });
    assert.deepEqual(parseSdpAttribute(makeSdpLine('a=x:y:z', '')), { name: 'x', value: 'y:z' });
    assert.equal(parseSdpAttribute(makeSdpLine('m=audio 9 RTP/AVP 0', '')), undefined);
  });

  test('sdpAttributeValues lists values in order', () => {
    const description = parseSdp(SRS_ANSWER);
    assert.deepEqual(sdpAttributeValues(description.media[1]!.lines, 'rtcp-fb'), ['106 transport-cc', '106 nack', '106 nack pli']);
    assert.deepEqual(sdpAttributeValues(description.session, 'ice-lite'), ['']);
    assert.equal(sdpAttributeValues(sdpLines(description), 'candidate').length, 4);
  });
});

describe('ICE credentials', () => {
  test('from the SRS answer and the Chrome offer', () => {
    assert.deepEqual(extractIceCredentials(SRS_ANSWER), { ufrag: 'k52u8e1x', pwd: '3l1592q4v9d3w5f4s5e01b6j9886q1ym' });
    assert.deepEqual(extractIceCredentials(parseSdp(CHROME_OFFER)), { ufrag: 'EsAw', pwd: 'bP+XJMM09aR8AiX1jdukzR6Y' });
  });

  test('session level comes first; otherwise the first media section wins', () => {
    const session = 'v=0\r\na=ice-ufrag:sess\r\na=ice-pwd:sesspwd\r\nm=audio 9 X 0\r\na=ice-ufrag:med1\r\na=ice-pwd:med1pwd\r\n';
    assert.deepEqual(extractIceCredentials(session), { ufrag: 'sess', pwd: 'sesspwd' });
    const media = 'v=0\nm=audio 9 X 0\na=ice-ufrag:med1\na=ice-pwd:p1\nm=video 9 X 0\na=ice-ufrag:med2\na=ice-pwd:p2\n';
    assert.deepEqual(extractIceCredentials(media), { ufrag: 'med1', pwd: 'p1' });
    const mixed = 'v=0\na=ice-pwd:sesspwd\nm=audio 9 X 0\na=ice-ufrag:med1\na=ice-pwd:p1\n';
    assert.deepEqual(extractIceCredentials(mixed), { ufrag: 'med1', pwd: 'sesspwd' });
  });

  test('values stop at whitespace; empty values are skipped', () => {
    const text = 'v=0\r\na=ice-ufrag:\r\na=ice-ufrag:abcd  \r\na=ice-pwd:secret\tx\r\n';
    const description = parseSdp(text);
    assert.equal(sdpIceUfrag(description), 'abcd');
    assert.equal(sdpIcePwd(description), 'secret');
  });

  test('scenario 68: an offer without ice-ufrag (or ice-pwd) gives undefined', () => {
    const withoutUfrag = CHROME_OFFER_LINES.filter((l) => !l.startsWith('a=ice-ufrag')).join('\r\n');
    assert.equal(extractIceCredentials(withoutUfrag), undefined);
    const withoutPwd = CHROME_OFFER_LINES.filter((l) => !l.startsWith('a=ice-pwd')).join('\r\n');
    assert.equal(extractIceCredentials(withoutPwd), undefined);
    assert.equal(extractIceCredentials(''), undefined);
    // Look-alikes that are not a=ice-ufrag attributes do not count.
    assert.equal(extractIceCredentials('v=0\nb=ice-ufrag:x\na=ice-ufragx:y\na=ice-pwd:z\n'), undefined);
  });
});
