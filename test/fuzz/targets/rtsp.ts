// RTSP listener inputs: a whole client session as a player or encoder sends it (OPTIONS, DESCRIBE or
// ANNOUNCE with SDP, SETUP, PLAY or RECORD, interleaved frames, a keep-alive, TEARDOWN) with one mutation:
// text edits of one message, odd header values (Content-Length, CSeq, Transport), raw byte edits of the
// whole session, oversized heads or bodies, or frames with lying lengths.
import { mutateBytes, mutateText, splitWrites } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzInput, FuzzTarget } from '../target.js';
import { deliverTcp } from '../target.js';

const SDP = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:streamid=0\r\n';

function frame(rng: Rng): Buffer {
  const payload = rng.bytes(rng.pick([0, 1, 12, 200, 1400]));
  const h = Buffer.from([0x24, rng.int(4), 0, 0]);
  h.writeUInt16BE(rng.chance(0.9) ? payload.length : rng.int(0x10000), 2);
  return Buffer.concat([h, payload]);
}

function session(rng: Rng, port: number): string[] {
  const path = rng.pick(['/live/livestream', '/live/fuzz', '/a/b/c', '/x', '/live/s?vhost=v.example', '']);
  const url = `rtsp://127.0.0.1:${port}${path}`;
  const publish = rng.chance(0.4);
  const msgs = [`OPTIONS ${url} RTSP/1.0\r\nCSeq: 1\r\n\r\n`];
  if (publish) msgs.push(`ANNOUNCE ${url} RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`);
  else msgs.push(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n`);
  const transport = rng.pick([
    'RTP/AVP/TCP;unicast;interleaved=0-1',
    'RTP/AVP;unicast;client_port=5000-5001',
    'RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;interleaved=0-1',
    '',
  ]);
  msgs.push(`SETUP ${url}/streamid=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: ${transport}\r\n\r\n`);
  msgs.push(`${publish ? 'RECORD' : 'PLAY'} ${url} RTSP/1.0\r\nCSeq: 4\r\nSession: 1\r\n\r\n`);
  msgs.push(`GET_PARAMETER ${url} RTSP/1.0\r\nCSeq: 5\r\nSession: 1\r\n\r\n`, `TEARDOWN ${url} RTSP/1.0\r\nCSeq: 6\r\nSession: 1\r\n\r\n`);
  return msgs;
}

export function rtspTarget(port: number): FuzzTarget {
  return {
    name: 'rtsp',
    transport: 'tcp',
    port,
    concurrency: 32,
    generate(rng: Rng): FuzzInput {
      const msgs = session(rng, port);
      const kind = rng.int(6);
      let label: string;
      if (kind === 0) {
        const i = rng.int(msgs.length);
        msgs[i] = mutateText(rng, msgs[i]!);
        label = `text edit of message ${i}`;
      } else if (kind === 1) {
        const i = rng.int(msgs.length);
        const value = rng.pick(['-1', '99999999999', '4294967296', '1e3', ' ', '0x10', String(rng.u32())]);
        const name = rng.pick(['Content-Length', 'CSeq', 'Transport', 'Session', 'Authorization']);
        msgs[i] = msgs[i]!.replace('\r\n', `\r\n${name}: ${value}\r\n`);
        label = `${name}: ${value} in message ${i}`;
      } else if (kind === 2) {
        const big = rng.pick([65_000, 65_536, 70_000]);
        msgs.splice(1, 0, `OPTIONS * RTSP/1.0\r\nCSeq: 9\r\nX-Pad: ${'a'.repeat(big)}\r\n\r\n`);
        label = `head of ${big} bytes`;
      } else if (kind === 3) {
        label = 'raw byte edits';
      } else {
        label = 'frames between messages';
      }
      const parts: Buffer[] = [];
      for (const m of msgs) {
        parts.push(Buffer.from(m, 'latin1'));
        if (kind >= 4 && rng.chance(0.5)) for (let f = 0, n = rng.range(1, 5); f < n; f++) parts.push(frame(rng));
      }
      let data: Buffer = Buffer.concat(parts);
      if (kind === 3) data = mutateBytes(rng, data, { maxLength: 80_000 });
      return { label, parts: splitWrites(rng, data) };
    },
    async deliver(input) {
      await deliverTcp(port, input.parts, { lingerMs: 30 });
    },
  };
}
