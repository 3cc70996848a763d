import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isHostCandidate, isTcpCandidate, isUdpCandidate, parseCandidateWithSpans } from '../../../src/webrtc/ice-candidate.js';
import { parseCandidate, serializeCandidate } from '../../fixtures/webrtc-codec.js';
import { SdpError } from '../../../src/webrtc/sdp.js';
import { CHROME_OFFER_LINES, SRS_ANSWER_LINES, candidateArb } from './sdp-fixtures.js';

function assertBadCandidate(text: string): void {
  assert.throws(
    () => parseCandidate(text),
    (error: unknown) => error instanceof SdpError && error.code === 'bad-candidate',
    text,
  );
}

describe('parseCandidate known answers', () => {
  test('SRS UDP host candidate (scenario 57 input)', () => {
    const candidate = parseCandidate('a=candidate:0 1 udp 2130706431 1.2.3.4 8001 typ host generation 0');
    assert.deepEqual(candidate, {
      foundation: '0',
      component: 1,
      transport: 'udp',
      priority: 2130706431,
      address: '1.2.3.4',
      port: 8001,
      type: 'host',
      extensions: [{ name: 'generation', value: '0' }],
    });
    assert.ok(isUdpCandidate(candidate) && isHostCandidate(candidate) && !isTcpCandidate(candidate));
  });

  test('SRS TCP passive candidate', () => {
    const candidate = parseCandidate('candidate:1 1 tcp 2130706431 1.2.3.4 8001 typ host tcptype passive');
    assert.equal(candidate.transport, 'tcp');
    assert.equal(candidate.tcpType, 'passive');
    assert.deepEqual(candidate.extensions, []);
    assert.ok(isTcpCandidate(candidate));
  });

  test('Chrome srflx with raddr/rport and extensions', () => {
    const candidate = parseCandidate(
      'candidate:1853887674 1 udp 1686052607 203.0.113.7 46243 typ srflx raddr 192.168.1.20 rport 46243 generation 0 network-id 1 network-cost 10',
    );
    assert.equal(candidate.foundation, '1853887674');
    assert.equal(candidate.type, 'srflx');
    assert.equal(candidate.relatedAddress, '192.168.1.20');
    assert.equal(candidate.relatedPort, 46243);
    assert.deepEqual(candidate.extensions, [
      { name: 'generation', value: '0' },
      { name: 'network-id', value: '1' },
      { name: 'network-cost', value: '10' },
    ]);
  });

  test('IPv6, mDNS, TCP active with port 9, upper-case Firefox form, limits', () => {
    assert.equal(parseCandidate('candidate:3 1 udp 2122262783 2001:db8::1 56143 typ host').address, '2001:db8::1');
    assert.equal(parseCandidate('candidate:3 1 udp 2122194687 9f1c2d3e.local 51234 typ host').address, '9f1c2d3e.local');
    const active = parseCandidate('candidate:435653019 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0');
    assert.equal(active.port, 9);
    assert.equal(active.tcpType, 'active');
    assert.deepEqual(active.extensions, [{ name: 'generation', value: '0' }]);
    const firefox = parseCandidate('candidate:0 2 UDP 2122252542 10.0.0.5 60001 typ host');
    assert.equal(firefox.component, 2);
    assert.ok(isUdpCandidate(firefox));
    const limits = parseCandidate(`candidate:${'a/+9'.repeat(8)} 256 udp 4294967295 h 65535 TYP relay RADDR 0.0.0.0 RPORT 0`);
    assert.equal(limits.priority, 4294967295);
    assert.equal(limits.component, 256);
    assert.equal(limits.port, 65535);
    assert.equal(limits.relatedPort, 0);
  });

  test('runs of spaces and tabs are tolerated, and spans point at the original bytes', () => {
    const text = 'a=candidate:0  1 udp\t2130706431 1.2.3.4   8001 typ host';
    const { candidate, addressSpan, portSpan } = parseCandidateWithSpans(text);
    assert.equal(candidate.port, 8001);
    assert.equal(text.slice(...addressSpan), '1.2.3.4');
    assert.equal(text.slice(...portSpan), '8001');
  });

  test('every candidate in the fixtures parses', () => {
    const lines = [...SRS_ANSWER_LINES, ...CHROME_OFFER_LINES].filter((l) => l.startsWith('a=candidate:'));
    assert.equal(lines.length, 10);
    for (const line of lines) {
      assert.equal('a=' + serializeCandidate(parseCandidate(line)), line);
    }
  });
});

describe('parseCandidate refuses malformed attributes with SdpError', () => {
  test('grammar violations', () => {
    for (const text of [
      '',
      'candidate:',
      '0 1 udp 2130706431 1.2.3.4 8001 typ host',
      'a=candidat:0 1 udp 2130706431 1.2.3.4 8001 typ host',
      'candidate: 0 1 udp 2130706431 1.2.3.4 8001 typ host',
      'candidate:0 1 udp 2130706431 1.2.3.4 8001 host',
      'candidate:0 1 udp 2130706431 1.2.3.4 8001 typ',
      'candidate:0 1 udp 2130706431 1.2.3.4 8001 type host',
      'candidate:0 0 udp 2130706431 1.2.3.4 8001 typ host',
      'candidate:0 1000 udp 2130706431 1.2.3.4 8001 typ host',
      'candidate:0 257 udp 2130706431 1.2.3.4 8001 typ host',
      'candidate:0 1 udp 4294967296 1.2.3.4 8001 typ host',
      'candidate:0 1 udp 12345678901 1.2.3.4 8001 typ host',
      'candidate:0 1 udp -1 1.2.3.4 8001 typ host',
      'candidate:0 1 udp 1 1.2.3.4 65536 typ host',
      'candidate:0 1 udp 1 1.2.3.4 80a typ host',
      'candidate:0 1 udp 1 1.2.3.4 8001 typ host raddr',
      'candidate:0 1 udp 1 1.2.3.4 8001 typ host rport x',
      'candidate:0 1 udp 1 1.2.3.4 8001 typ host generation',
      'candidate:0 1 u(dp 1 1.2.3.4 8001 typ host',
      'candidate:0 1 udp 1 1.2.3.4 8001 typ ho@st',
      `candidate:${'a'.repeat(33)} 1 udp 1 1.2.3.4 8001 typ host`,
      'candidate:ab-c 1 udp 1 1.2.3.4 8001 typ host',
      'candidate:0 1 udp 1 1.2.3.4 8001 typ host\r\na=x',
    ]) {
      assertBadCandidate(text);
    }
  });

  test('property: arbitrary strings throw nothing but SdpError', () => {
    const unit = fc.constantFrom('candidate:', 'a=', ' ', '0', '1', '9', 'udp', 'typ', 'host', 'raddr', 'rport', '.', 'x', '\t', ':');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit })), (text) => {
        try {
          parseCandidate(text);
        } catch (error) {
          if (!(error instanceof SdpError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('candidate round trips', () => {
  test('property: parse(serialize(c)) deep-equals c', () => {
    fc.assert(
      fc.property(candidateArb, (candidate) => {
        assert.deepEqual(parseCandidate(serializeCandidate(candidate)), candidate);
        assert.deepEqual(parseCandidate('a=' + serializeCandidate(candidate)), candidate);
      }),
    );
  });

  test('property: serialize(parse(s)) === s for canonical text', () => {
    fc.assert(
      fc.property(candidateArb, (candidate) => {
        const text = serializeCandidate(candidate);
        assert.equal(serializeCandidate(parseCandidate(text)), text);
      }),
    );
  });

  test('property: spans locate the address and port of serialized candidates', () => {
    fc.assert(
      fc.property(candidateArb, (candidate) => {
        const text = 'a=' + serializeCandidate(candidate);
        const { addressSpan, portSpan } = parseCandidateWithSpans(text);
        assert.equal(text.slice(...addressSpan), candidate.address);
        assert.equal(text.slice(...portSpan), String(candidate.port));
      }),
    );
  });
});
