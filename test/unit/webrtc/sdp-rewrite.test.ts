import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isHostCandidate, isTcpCandidate, isUdpCandidate } from '../../../src/webrtc/ice-candidate.js';
import { parseCandidate, serializeCandidate } from '../../fixtures/webrtc-codec.js';
import { rewriteCandidates, rewriteSdpCandidates } from '../../../src/webrtc/sdp-rewrite.js';
import { SdpError, parseSdp, serializeSdp } from '../../../src/webrtc/sdp.js';
import { CHROME_OFFER, CHROME_OFFER_LINES, SRS_ANSWER, SRS_ANSWER_LINES, candidateArb } from './sdp-fixtures.js';

const SRS_UDP = 'a=candidate:0 1 udp 2130706431 1.2.3.4 8001 typ host generation 0';
const SRS_TCP = 'a=candidate:1 1 tcp 2130706431 1.2.3.4 8001 typ host tcptype passive';

describe('rewriteCandidates on the SRS answer', () => {
  test('scenario 57: the port becomes the proxy port and nothing else changes', () => {
    const rewritten = rewriteCandidates(SRS_ANSWER, { udpPort: 18000, keepTcp: true });
    const expected = SRS_ANSWER.replaceAll(SRS_UDP, 'a=candidate:0 1 udp 2130706431 1.2.3.4 18000 typ host generation 0');
    assert.equal(rewritten, expected);
    assert.ok(rewritten.includes('a=candidate:0 1 udp 2130706431 1.2.3.4 18000 typ host generation 0\r\n'));
    assert.ok(rewritten.includes(SRS_TCP + '\r\n'), 'TCP candidate kept byte for byte');
  });

  test('TCP candidates are removed unless kept (BEHAVIOUR.md §9.2 #14 leaves them alone when kept)', () => {
    const rewritten = rewriteCandidates(SRS_ANSWER, { udpPort: 18000, keepTcp: false });
    const expected = SRS_ANSWER_LINES.filter((l) => l !== SRS_TCP)
      .map((l) => (l === SRS_UDP ? l.replace(' 8001 ', ' 18000 ') : l) + '\r\n')
      .join('');
    assert.equal(rewritten, expected);
    assert.ok(!rewritten.includes(' tcp '));
  });

  test('an address override replaces the address token only', () => {
    const rewritten = rewriteCandidates(SRS_ANSWER, { udpPort: 18000, address: '203.0.113.10', keepTcp: true });
    assert.ok(rewritten.includes('a=candidate:0 1 udp 2130706431 203.0.113.10 18000 typ host generation 0\r\n'));
    assert.ok(rewritten.includes(SRS_TCP + '\r\n'));
    assert.ok(rewritten.includes('o=SRS/6.0.166(Bee) 107091648 2 IN IP4 0.0.0.0\r\n'));
    assert.ok(rewritten.includes('c=IN IP4 0.0.0.0\r\n'));
    const ipv6 = rewriteCandidates(SRS_ANSWER, { udpPort: 18000, address: '2001:db8::10', keepTcp: false });
    assert.ok(ipv6.includes('a=candidate:0 1 udp 2130706431 2001:db8::10 18000 typ host generation 0\r\n'));
  });

  test('fromPort restricts the rewrite to candidates on the origin port', () => {
    assert.equal(rewriteCandidates(SRS_ANSWER, { udpPort: 18000, keepTcp: true, fromPort: 8000 }), SRS_ANSWER);
    assert.notEqual(rewriteCandidates(SRS_ANSWER, { udpPort: 18000, keepTcp: true, fromPort: 8001 }), SRS_ANSWER);
  });

  test('LF bodies and a missing final newline keep their shape', () => {
    const lf = SRS_ANSWER_LINES.join('\n');
    const rewritten = rewriteCandidates(lf, { udpPort: 18000, keepTcp: true });
    assert.equal(rewritten, lf.replaceAll(' 8001 typ host generation', ' 18000 typ host generation'));
    assert.ok(!rewritten.includes('\r'));
    assert.ok(!rewritten.endsWith('\n'));
  });

  test('the model form returns a description that serializes to the same text', () => {
    const options = { udpPort: 18000, keepTcp: false };
    assert.equal(serializeSdp(rewriteSdpCandidates(parseSdp(SRS_ANSWER), options)), rewriteCandidates(SRS_ANSWER, options));
  });
});

describe('rewriteCandidates on the Chrome offer', () => {
  test('UDP host candidates (IPv4, IPv6, mDNS) move; srflx, relay and the rest stay; TCP goes', () => {
    const rewritten = rewriteCandidates(CHROME_OFFER, { udpPort: 18000, keepTcp: false });
    const lines = rewritten.split('\r\n');
    assert.equal(lines.pop(), '');
    const expected = CHROME_OFFER_LINES.filter((l) => !l.includes(' tcp ')).map((line) => {
      if (!line.startsWith('a=candidate:') || !line.includes(' typ host')) return line;
      const candidate = parseCandidate(line);
      return 'a=' + serializeCandidate({ ...candidate, port: 18000 });
    });
    assert.deepEqual(lines, expected);
    assert.ok(rewritten.includes(' 192.168.1.20 18000 typ host '));
    assert.ok(rewritten.includes(' 2001:db8:85a3::8a2e:370:7334 18000 typ host '));
    assert.ok(rewritten.includes('.local 18000 typ host '));
    assert.ok(rewritten.includes(' 203.0.113.7 46243 typ srflx raddr 192.168.1.20 rport 46243 '));
    assert.ok(rewritten.includes('m=audio 46243 UDP/TLS/RTP/SAVPF'));
  });
});

describe('rewriteCandidates edge cases', () => {
  test('a candidate that does not parse is passed on unchanged', () => {
    const text = 'v=0\r\nm=audio 9 X 0\r\na=candidate:0 1 udp 2130706431 1.2.3.4 8001 typo host\r\na=candidate:x\r\n';
    assert.equal(rewriteCandidates(text, { udpPort: 18000, keepTcp: false }), text);
  });

  test('session-level candidates and upper-case transports are handled', () => {
    const text = 'v=0\na=candidate:0 1 UDP 1 10.0.0.1 5000 typ HOST\na=candidate:1 1 TCP 1 10.0.0.1 5000 typ host tcptype so\n';
    assert.equal(rewriteCandidates(text, { udpPort: 18000, keepTcp: false }), 'v=0\na=candidate:0 1 UDP 1 10.0.0.1 18000 typ HOST\n');
  });

  test('a removed last line without a newline leaves the previous line as it was', () => {
    const text = 'v=0\r\n' + SRS_UDP + '\r\n' + SRS_TCP;
    assert.equal(rewriteCandidates(text, { udpPort: 18000, keepTcp: false }), 'v=0\r\n' + SRS_UDP.replace('8001', '18000') + '\r\n');
  });

  test('unusable options are refused with SdpError', () => {
    for (const options of [
      { udpPort: 0, keepTcp: true },
      { udpPort: 65536, keepTcp: true },
      { udpPort: 1.5, keepTcp: true },
      { udpPort: 18000, keepTcp: true, address: '' },
      { udpPort: 18000, keepTcp: true, address: '1.2.3.4 5' },
      { udpPort: 18000, keepTcp: true, fromPort: -1 },
    ]) {
      assert.throws(
        () => rewriteCandidates(SRS_ANSWER, options),
        (error: unknown) => error instanceof SdpError && error.code === 'invalid-argument',
      );
    }
  });
});

describe('rewriteCandidates properties', () => {
  const otherLineArb = fc.constantFrom(
    'a=rtcp-mux',
    'a=mid:0',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:abcd',
    'a=rtpmap:111 opus/48000/2',
    'a=candidate:garbage',
    '',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
  );
  const lineArb = fc.oneof(
    candidateArb.map((c) => ({ candidate: c, text: 'a=' + serializeCandidate(c) })),
    otherLineArb.map((text) => ({ candidate: undefined, text })),
  );

  test('only candidate lines change, as specified, and rewriting is idempotent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(lineArb, fc.constantFrom('\r\n', '\n')), { maxLength: 20 }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.option(fc.ipV4(), { nil: undefined }),
        fc.boolean(),
        (lines, udpPort, address, keepTcp) => {
          const text = 'v=0\r\n' + lines.map(([line, eol]) => line.text + eol).join('');
          const options = { udpPort, address, keepTcp };
          const rewritten = rewriteCandidates(text, options);
          const expected =
            'v=0\r\n' +
            lines
              .filter(([{ candidate }]) => !(candidate && isTcpCandidate(candidate) && !keepTcp))
              .map(([{ candidate, text: line }, eol]) => {
                if (!candidate || !isUdpCandidate(candidate) || !isHostCandidate(candidate)) return line + eol;
                const moved = { ...candidate, port: udpPort, address: address ?? candidate.address };
                return 'a=' + serializeCandidate(moved) + eol;
              })
              .join('');
          assert.equal(rewritten, expected);
          assert.equal(rewriteCandidates(rewritten, options), rewritten);
        },
      ),
    );
  });
});
