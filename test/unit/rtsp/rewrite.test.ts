import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { header, proxyResponse, serialize, type RtspMessage } from '../../../src/rtsp/message.js';
import { interleavedOnly, retarget, towardClient, towardOrigin, uriAuthority, urlAuthority } from '../../../src/rtsp/rewrite.js';
import { streamKeyFromRtsp } from '../../../src/stream-key.js';

const SDP =
  'v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\na=control:rtsp://10.0.0.5:8554/live/s/\r\nm=video 0 RTP/AVP 96\r\na=control:rtsp://10.0.0.5:8554/live/s/stream=0\r\n';

function response(headers: [string, string][], body = ''): RtspMessage {
  return {
    kind: 'response',
    version: 'RTSP/1.0',
    status: 200,
    reason: 'OK',
    headers: headers.map(([name, value]) => ({ name, value })),
    body: Buffer.from(body),
  };
}

describe('RTSP rewriting', () => {
  test('request URIs point at the origin, the path and query unchanged', () => {
    assert.equal(retarget('rtsp://proxy.example:18554/live/s?vhost=v&token=x', '10.0.0.5:8554'), 'rtsp://10.0.0.5:8554/live/s?vhost=v&token=x');
    assert.equal(retarget('RTSP://user@proxy/live/s/trackID=1', '[::1]:8554'), 'rtsp://[::1]:8554/live/s/trackID=1');
    assert.equal(retarget('*', '10.0.0.5:8554'), '*');
    assert.equal(urlAuthority('::1', 8554), '[::1]:8554');
    assert.equal(uriAuthority('rtsp://proxy:18554/live/s'), 'proxy:18554');
    assert.equal(uriAuthority('*'), undefined);
  });

  test('answers name the proxy as the client addressed it; Content-Length follows the SDP', () => {
    const msg = response(
      [
        ['CSeq', '2'],
        ['Content-Base', 'rtsp://10.0.0.5:8554/live/s/'],
        ['RTP-Info', 'url=rtsp://10.0.0.5:8554/live/s/stream=0;seq=1,url=rtsp://10.0.0.5:85540/x'],
        ['WWW-Authenticate', 'Digest realm="rtsp://10.0.0.5:8554", nonce="n"'],
        ['Content-Type', 'application/sdp'],
        ['Content-Length', String(Buffer.byteLength(SDP))],
      ],
      SDP,
    );
    towardClient(msg, '10.0.0.5:8554', 'proxy.example:18554');
    assert.equal(header(msg, 'content-base'), 'rtsp://proxy.example:18554/live/s/');
    // Another port that merely starts with the same digits is not the origin.
    assert.equal(header(msg, 'rtp-info'), 'url=rtsp://proxy.example:18554/live/s/stream=0;seq=1,url=rtsp://10.0.0.5:85540/x');
    // Authentication headers are never touched.
    assert.equal(header(msg, 'www-authenticate'), 'Digest realm="rtsp://10.0.0.5:8554", nonce="n"');
    const body = msg.body.toString();
    assert.match(body, /a=control:rtsp:\/\/proxy\.example:18554\/live\/s\/stream=0\r\n/);
    assert.match(body, /o=- 1 1 IN IP4 10\.0\.0\.5/);
    assert.equal(header(msg, 'content-length'), String(msg.body.length));
  });

  test('an ANNOUNCE SDP with absolute controls is pointed at the origin; relative controls stay', () => {
    const sdp = 'v=0\r\na=control:streamid=0\r\na=control:rtsp://proxy:18554/live/p/streamid=1\r\n';
    const msg: RtspMessage = {
      kind: 'request',
      method: 'ANNOUNCE',
      uri: 'rtsp://proxy:18554/live/p',
      version: 'RTSP/1.0',
      headers: [
        { name: 'Content-Type', value: 'application/sdp' },
        { name: 'Authorization', value: 'Digest username="u", uri="rtsp://proxy:18554/live/p", response="r"' },
        { name: 'Content-Length', value: String(sdp.length) },
      ],
      body: Buffer.from(sdp),
    };
    towardOrigin(msg, '127.0.0.1:8554');
    assert.equal(msg.kind === 'request' && msg.uri, 'rtsp://127.0.0.1:8554/live/p');
    assert.equal(msg.body.toString(), 'v=0\r\na=control:streamid=0\r\na=control:rtsp://127.0.0.1:8554/live/p/streamid=1\r\n');
    assert.equal(header(msg, 'content-length'), String(msg.body.length));
    assert.equal(header(msg, 'authorization'), 'Digest username="u", uri="rtsp://proxy:18554/live/p", response="r"');
    const wire = serialize(msg).toString();
    assert.ok(wire.startsWith('ANNOUNCE rtsp://127.0.0.1:8554/live/p RTSP/1.0\r\nContent-Type: application/sdp\r\n'));
  });

  test('transport: only interleaved TCP options are kept', () => {
    assert.equal(interleavedOnly('RTP/AVP;unicast;client_port=5000-5001'), undefined);
    assert.equal(interleavedOnly(''), undefined);
    assert.equal(interleavedOnly('RTP/AVP/TCP;unicast;interleaved=0-1'), 'RTP/AVP/TCP;unicast;interleaved=0-1');
    assert.equal(interleavedOnly('RTP/AVP;unicast;client_port=5000-5001, RTP/AVP/TCP;interleaved=2-3'), 'RTP/AVP/TCP;interleaved=2-3');
    assert.equal(interleavedOnly('RTP/AVP/UDP;multicast'), undefined);
  });

  test('proxy answers carry CSeq and a JSON {code, error} body', () => {
    const text = proxyResponse(503, '4', { error: 'no origin available', close: true }).toString();
    assert.match(text, /^RTSP\/1\.0 503 Service Unavailable\r\nCSeq: 4\r\n/);
    assert.match(text, /Connection: close\r\n/);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.deepEqual(JSON.parse(body), { code: 503, error: 'no origin available' });
    assert.match(text, new RegExp(`Content-Length: ${body.length}\r\n`));
  });

  test('stream key from an RTSP URL: same key as the other protocols', () => {
    assert.equal(streamKeyFromRtsp('rtsp://127.0.0.1:18554/live/livestream').key, '__defaultVhost__/live/livestream');
    assert.equal(streamKeyFromRtsp('rtsp://cam.example.com/live/sub/s1/').key, 'cam.example.com/live/sub/s1');
    assert.equal(streamKeyFromRtsp('rtsp://127.0.0.1/live/s?vhost=v.example').key, 'v.example/live/s');
    assert.throws(() => streamKeyFromRtsp('rtsp://h/onlyone'), /missing app/);
    assert.throws(() => streamKeyFromRtsp('http://h/live/s'), /not an rtsp/);
    assert.throws(() => streamKeyFromRtsp('rtsp://h/live/%zz'), /percent-encoding/);
  });
});
