import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignallingSdpError, iceSessionId, offerCredentials, proxyAnswer } from '../../../src/webrtc/answer.js';
import { CHROME_OFFER, SRS_ANSWER, SRS_ANSWER_LINES } from './sdp-fixtures.js';

describe('offerCredentials', () => {
  test('reads the first ufrag and pwd of a browser offer', () => {
    assert.deepEqual(offerCredentials(CHROME_OFFER), { ufrag: 'EsAw', pwd: 'bP+XJMM09aR8AiX1jdukzR6Y' });
  });

  test('scenario 68: an offer without ufrag or pwd is refused with the typed error', () => {
    const noUfrag = CHROME_OFFER.split('\r\n')
      .filter((l) => !l.startsWith('a=ice-ufrag'))
      .join('\r\n');
    const noPwd = CHROME_OFFER.split('\r\n')
      .filter((l) => !l.startsWith('a=ice-pwd'))
      .join('\r\n');
    for (const offer of [noUfrag, noPwd, '', 'not sdp at all', 'a=ice-ufrag:\r\na=ice-pwd:\r\n']) {
      assert.throws(() => offerCredentials(offer), SignallingSdpError);
    }
  });

  test('arbitrary text gives credentials or SignallingSdpError, nothing else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          const c = offerCredentials(text);
          assert.ok(text.includes(`a=ice-ufrag:${c.ufrag}`) && text.includes(`a=ice-pwd:${c.pwd}`));
        } catch (err) {
          assert.ok(err instanceof SignallingSdpError);
        }
      }),
    );
  });
});

describe('proxyAnswer', () => {
  test('scenario 57 on a real SRS answer: port rewritten, TCP removed, every other byte kept', () => {
    const { sdp, credentials } = proxyAnswer(SRS_ANSWER, { udpPort: 18000, address: undefined });
    assert.deepEqual(credentials, { ufrag: 'k52u8e1x', pwd: '3l1592q4v9d3w5f4s5e01b6j9886q1ym' });
    const expected = SRS_ANSWER_LINES.filter((l) => !l.includes(' tcp '))
      .map((l) => l.replace(' 1.2.3.4 8001 typ host', ' 1.2.3.4 18000 typ host') + '\r\n')
      .join('');
    assert.equal(sdp, expected);
  });

  test('PROXY_WEBRTC_CANDIDATE replaces the address of UDP host candidates', () => {
    const { sdp } = proxyAnswer(SRS_ANSWER, { udpPort: 18000, address: 'rtc.example.com' });
    assert.ok(sdp.includes('a=candidate:0 1 udp 2130706431 rtc.example.com 18000 typ host generation 0\r\n'));
    assert.ok(!sdp.includes('1.2.3.4'));
  });

  test('an answer without credentials is refused (the relay could never route it)', () => {
    const bare = SRS_ANSWER.split('\r\n')
      .filter((l) => !l.startsWith('a=ice-pwd'))
      .join('\r\n');
    assert.throws(() => proxyAnswer(bare, { udpPort: 18000, address: undefined }), SignallingSdpError);
  });

  test('arbitrary text never throws anything but SignallingSdpError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.integer({ min: 1, max: 65535 }), (text, port) => {
        try {
          proxyAnswer(`a=ice-ufrag:u\na=ice-pwd:p\n${text}`, { udpPort: port, address: undefined });
          proxyAnswer(text, { udpPort: port, address: undefined });
        } catch (err) {
          assert.ok(err instanceof SignallingSdpError, String(err));
        }
      }),
    );
  });

  test('the session id is the STUN USERNAME the client sends: answer ufrag first', () => {
    assert.equal(iceSessionId({ ufrag: 'srs1', pwd: 'x' }, { ufrag: 'chr1', pwd: 'y' }), 'srs1:chr1');
  });
});
