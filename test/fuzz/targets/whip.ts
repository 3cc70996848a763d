// WHIP/WHEP signalling inputs on the HTTP API listener: browser-shaped SDP offers mutated line by line
// (ICE credentials, candidates, media sections, line endings, sizes), SRS's JSON API bodies, and
// DELETE/PATCH/OPTIONS on resource URLs with forged or odd session parameters.
import { fakeOffer } from '../../fixtures/webrtc-fake-origin.js';
import { mutateBytes, mutateText, splitWrites } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzInput, FuzzTarget } from '../target.js';
import { deliverTcp } from '../target.js';

const EXTRA_LINES = [
  'a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host',
  'a=candidate:x',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=ice-ufrag:',
  'a=ice-pwd:',
  'a=ice-ufrag:a:b',
  'c=IN IP6 ::',
  'a=end-of-candidates',
  'a=ice-options:trickle',
  'a=extmap:1 urn:x',
  'a=ssrc:1 cname:x',
  'b=AS:-1',
  'm=',
];

/** A browser-shaped offer with a few line-level edits. */
export function mutatedOffer(rng: Rng): string {
  const lines = fakeOffer(rng.chance(0.9) ? rng.word(rng.pick([4, 8, 256])) : undefined, rng.chance(0.9) ? rng.word(24) : undefined).split('\r\n');
  for (let i = 0, n = rng.range(0, 4); i < n; i++) {
    const at = rng.int(lines.length);
    switch (rng.int(5)) {
      case 0:
        lines[at] = mutateText(rng, lines[at]!);
        break;
      case 1:
        lines.splice(at, 0, rng.pick(EXTRA_LINES));
        break;
      case 2:
        lines.splice(at, 1);
        break;
      case 3:
        for (let k = 0, m = rng.pick([100, 5000]); k < m; k++) lines.splice(at, 0, rng.pick(EXTRA_LINES));
        break;
      default:
        lines.splice(at, 0, lines[at]!);
    }
  }
  return lines.join(rng.pick(['\r\n', '\r\n', '\n', '\r']));
}

function post(path: string, contentType: string, body: string, extra: string[] = []): string {
  return [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Type: ${contentType}`, `Content-Length: ${Buffer.byteLength(body)}`, ...extra, '', body].join(
    '\r\n',
  );
}

export function whipTarget(port: number): FuzzTarget {
  return {
    name: 'whip',
    transport: 'tcp',
    port,
    concurrency: 32,
    generate(rng: Rng): FuzzInput {
      const stream = `fz${rng.int(40)}`;
      const kind = rng.int(10);
      let text: string;
      let label: string;
      if (kind < 6) {
        const endpoint = rng.pick(['whip', 'whep', 'whip-play']);
        const query = rng.chance(0.8) ? `app=live&stream=${stream}` : mutateText(rng, `app=live&stream=${stream}&eip=127.0.0.1&codec=h264`);
        text = post(`/rtc/v1/${endpoint}/?${query}`, rng.pick(['application/sdp', 'application/sdp', 'text/plain', 'application/json', '']), mutatedOffer(rng));
        label = `${endpoint} offer`;
      } else if (kind < 8) {
        const api = rng.pick(['publish', 'play']);
        const body: Record<string, unknown> = {
          api: `http://127.0.0.1/rtc/v1/${api}/`,
          streamurl: `webrtc://127.0.0.1/live/${stream}`,
          clientip: null,
          sdp: mutatedOffer(rng),
          tid: rng.word(7),
        };
        if (rng.chance(0.3)) body[rng.pick(Object.keys(body))] = rng.pick([null, 1, [], {}, 'x'.repeat(70_000), mutateText(rng, 'webrtc://a/b/c')]);
        text = post(`/rtc/v1/${api}/`, 'application/json', JSON.stringify(body));
        label = `json ${api}`;
      } else {
        const method = rng.pick(['DELETE', 'PATCH', 'OPTIONS', 'GET', 'PUT']);
        const path = mutateText(
          rng,
          rng.pick([
            `/rtc/v1/whip/?app=live&stream=${stream}&proxy_session=${rng.word(8)}&proxy_origin=${rng.word(8)}`,
            `/rtc/v1/resource/${rng.word(6)}?proxy_session=${rng.word(16)}&proxy_origin=fuzz-origin`,
            '/rtc/v1/resource/../../api/v1/origins',
            `/rtc/v1/whep/${rng.word(4)}`,
          ]),
        );
        const body = method === 'PATCH' ? `a=ice-ufrag:${rng.word(4)}\r\na=ice-pwd:${rng.word(22)}\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n` : '';
        text = [
          `${method} ${path} HTTP/1.1`,
          'Host: 127.0.0.1',
          'Content-Type: application/trickle-ice-sdpfrag',
          `Content-Length: ${body.length}`,
          '',
          body,
        ].join('\r\n');
        label = `${method} resource`;
      }
      let bytes: Buffer = Buffer.from(text, 'utf8');
      if (rng.chance(0.15)) {
        bytes = mutateBytes(rng, bytes, { maxLength: 1 << 20 });
        label += ', bytes edited';
      }
      return { label, parts: splitWrites(rng, bytes) };
    },
    async deliver(input) {
      await deliverTcp(port, input.parts, { lingerMs: 40 });
    },
  };
}
