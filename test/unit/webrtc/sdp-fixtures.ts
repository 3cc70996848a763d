// Hand-written session descriptions shaped like what the proxy really carries: an SRS answer to a
// WHIP publish (ice-lite, one UDP and one TCP host candidate per section) and a Chrome WHIP offer
// (host candidates over IPv4, IPv6 and mDNS, a TCP active candidate, srflx and relay candidates),
// plus a fast-check generator of candidates.
import fc from 'fast-check';
import type { IceCandidate } from '../../../src/webrtc/ice-candidate.js';

const FINGERPRINT_SRS = 'sha-256 3C:4A:5B:6D:7E:8F:90:A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:A1:B2:C3:D4:E5:F6:07:18:29';
const FINGERPRINT_CHROME = 'sha-256 A8:17:3F:E2:5D:90:4C:B1:6E:08:F3:27:9A:D4:C5:61:0B:7E:E9:32:48:AD:1F:C6:90:5B:73:E4:2D:86:0F:BA';

/** The lines of an SRS answer; the SRS RTC port is 8001 and its candidate IP 1.2.3.4. */
export const SRS_ANSWER_LINES = [
  'v=0',
  'o=SRS/6.0.166(Bee) 107091648 2 IN IP4 0.0.0.0',
  's=SRSPublishSession',
  't=0 0',
  'a=ice-lite',
  'a=group:BUNDLE 0 1',
  'a=msid-semantic: WMS live/livestream',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:k52u8e1x',
  'a=ice-pwd:3l1592q4v9d3w5f4s5e01b6j9886q1ym',
  `a=fingerprint:${FINGERPRINT_SRS}`,
  'a=setup:passive',
  'a=mid:0',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=recvonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=candidate:0 1 udp 2130706431 1.2.3.4 8001 typ host generation 0',
  'a=candidate:1 1 tcp 2130706431 1.2.3.4 8001 typ host tcptype passive',
  'm=video 9 UDP/TLS/RTP/SAVPF 106 107',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:k52u8e1x',
  'a=ice-pwd:3l1592q4v9d3w5f4s5e01b6j9886q1ym',
  `a=fingerprint:${FINGERPRINT_SRS}`,
  'a=setup:passive',
  'a=mid:1',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=recvonly',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:106 H264/90000',
  'a=rtcp-fb:106 transport-cc',
  'a=rtcp-fb:106 nack',
  'a=rtcp-fb:106 nack pli',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:107 rtx/90000',
  'a=fmtp:107 apt=106',
  'a=candidate:0 1 udp 2130706431 1.2.3.4 8001 typ host generation 0',
  'a=candidate:1 1 tcp 2130706431 1.2.3.4 8001 typ host tcptype passive',
];

/** The SRS answer as sent: CRLF line endings, final CRLF included. */
export const SRS_ANSWER = SRS_ANSWER_LINES.map((line) => line + '\r\n').join('');

const MSID = '7f3c9a52-0d4e-4b1a-9c3e-1a2b3c4d5e6f';

/** The lines of a Chrome WHIP offer (sendonly audio + video). */
export const CHROME_OFFER_LINES = [
  'v=0',
  'o=- 8421739571849202384 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=extmap-allow-mixed',
  `a=msid-semantic: WMS ${MSID}`,
  'm=audio 46243 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 203.0.113.7',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1467250027 1 udp 2122260223 192.168.1.20 46243 typ host generation 0 network-id 1 network-cost 10',
  'a=candidate:3043532045 1 udp 2122262783 2001:db8:85a3::8a2e:370:7334 56143 typ host generation 0 network-id 2 network-cost 10',
  'a=candidate:2999745851 1 udp 2122194687 9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f.local 51234 typ host generation 0 network-id 3',
  'a=candidate:435653019 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0 network-id 1 network-cost 10',
  'a=candidate:1853887674 1 udp 1686052607 203.0.113.7 46243 typ srflx raddr 192.168.1.20 rport 46243 generation 0 network-id 1 network-cost 10',
  'a=candidate:2157334355 1 udp 41885439 198.51.100.9 3478 typ relay raddr 203.0.113.7 rport 46243 generation 0 network-id 1 network-cost 10',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  'a=ice-options:trickle',
  `a=fingerprint:${FINGERPRINT_CHROME}`,
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendonly',
  `a=msid:${MSID} 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`,
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=fmtp:63 111/111',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:1001 cname:Wq0bq1s3V5x7Z9aB',
  `a=ssrc:1001 msid:${MSID} 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`,
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  'a=ice-options:trickle',
  `a=fingerprint:${FINGERPRINT_CHROME}`,
  'a=setup:actpass',
  'a=mid:1',
  'a=extmap:14 urn:ietf:params:rtp-hdrext:toffset',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:13 urn:3gpp:video-orientation',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendonly',
  `a=msid:${MSID} 5e6f7081-92a3-4b4c-8d9e-afb0c1d2e3f4`,
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 goog-remb',
  'a=rtcp-fb:96 transport-cc',
  'a=rtcp-fb:96 ccm fir',
  'a=rtcp-fb:96 nack',
  'a=rtcp-fb:96 nack pli',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 goog-remb',
  'a=rtcp-fb:102 transport-cc',
  'a=rtcp-fb:102 ccm fir',
  'a=rtcp-fb:102 nack',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=ssrc-group:FID 2001 2002',
  'a=ssrc:2001 cname:Wq0bq1s3V5x7Z9aB',
  `a=ssrc:2001 msid:${MSID} 5e6f7081-92a3-4b4c-8d9e-afb0c1d2e3f4`,
  'a=ssrc:2002 cname:Wq0bq1s3V5x7Z9aB',
  `a=ssrc:2002 msid:${MSID} 5e6f7081-92a3-4b4c-8d9e-afb0c1d2e3f4`,
];

/** The Chrome offer as sent: CRLF line endings, final CRLF included. */
export const CHROME_OFFER = CHROME_OFFER_LINES.map((line) => line + '\r\n').join('');

const iceCharArb = fc.constantFrom(...'abcXYZ019+/'.split(''));
const tokenArb = fc.string({ unit: fc.constantFrom(..."abz09-._!%*+`'~".split('')), minLength: 1, maxLength: 8 });
const valueArb = fc.string({ unit: fc.constantFrom(...'ab01.:-/'.split('')), minLength: 1, maxLength: 8 });

/** Generated candidates, restricted to what serializeCandidate writes canonically. */
export const candidateArb: fc.Arbitrary<IceCandidate> = fc
  .record({
    foundation: fc.string({ unit: iceCharArb, minLength: 1, maxLength: 32 }),
    component: fc.integer({ min: 1, max: 256 }),
    transport: fc.constantFrom('udp', 'UDP', 'tcp', 'TCP', 'dtls'),
    priority: fc.integer({ min: 0, max: 0xffffffff }),
    address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()),
    port: fc.integer({ min: 0, max: 0xffff }),
    type: fc.constantFrom('host', 'srflx', 'prflx', 'relay'),
    relatedAddress: fc.option(fc.ipV4(), { nil: undefined }),
    relatedPort: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
    tcpType: fc.option(fc.constantFrom('active', 'passive', 'so'), { nil: undefined }),
    extensions: fc.array(
      fc.record({
        name: tokenArb.filter((n) => !['raddr', 'rport', 'tcptype'].includes(n.toLowerCase())),
        value: valueArb,
      }),
      { maxLength: 4 },
    ),
  })
  .map((c) => {
    // Optional keys are absent rather than undefined, as parseCandidate leaves them.
    const candidate: IceCandidate = {
      foundation: c.foundation,
      component: c.component,
      transport: c.transport,
      priority: c.priority,
      address: c.address,
      port: c.port,
      type: c.type,
      extensions: c.extensions.map((e) => ({ name: e.name, value: e.value })),
    };
    if (c.relatedAddress !== undefined) candidate.relatedAddress = c.relatedAddress;
    if (c.relatedPort !== undefined) candidate.relatedPort = c.relatedPort;
    if (c.tcpType !== undefined) candidate.tcpType = c.tcpType;
    return candidate;
  });
