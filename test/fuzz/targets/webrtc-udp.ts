// WebRTC media-port inputs: STUN binding requests for live sessions (valid USERNAME and MESSAGE-INTEGRITY,
// then mutated attributes or bytes) and for unknown ones, DTLS records with odd headers (types, versions,
// epochs, lengths, several per datagram), RTP/RTCP after a valid check bound the sender, and bytes from
// every RFC 7983 range.
import { randomBytes } from 'node:crypto';
import { StunAttributeType, type StunMessageClass } from '../../../src/webrtc/stun.js';
import { encodeStunBindingRequest, encodeStunMessage } from '../../fixtures/stun-encode.js';
import { fakeOffer } from '../../fixtures/webrtc-fake-origin.js';
import { UdpSender, type FuzzInput, type FuzzTarget } from '../target.js';
import { mutateBytes, mutateText } from '../mutate.js';
import type { Rng } from '../rng.js';

interface Session {
  username: string;
  password: string;
}

const SOCKETS = 8;
const SESSION_REFRESH_INPUTS = 5000;

/** Opens a WHIP session through the proxy; returns the ICE username/password a client would use. */
export async function openWhipSession(httpApi: string, stream: string): Promise<Session | undefined> {
  const offerUfrag = randomBytes(4).toString('hex');
  const res = await fetch(`${httpApi}/rtc/v1/whip/?app=live&stream=${stream}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: fakeOffer(offerUfrag, 'p'.repeat(24)),
  });
  const sdp = await res.text();
  if (res.status !== 201) return undefined;
  const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
  const pwd = /a=ice-pwd:(\S+)/.exec(sdp)?.[1];
  return ufrag && pwd ? { username: `${ufrag}:${offerUfrag}`, password: pwd } : undefined;
}

function dtlsRecords(rng: Rng): Buffer {
  const records: Buffer[] = [];
  for (let i = 0, n = rng.range(1, 3); i < n; i++) {
    const body = rng.bytes(rng.pick([0, 1, 2, 12, 100, 1200]));
    const h = Buffer.alloc(13);
    // close_notify/fatal alerts end sessions; keep them rare so sessions live long enough to be fuzzed.
    h[0] = rng.chance(0.97) ? rng.pick([20, 22, 22, 23, 24, 25, 19, 26, 255]) : 21;
    h.writeUInt16BE(rng.pick([0xfefd, 0xfeff, 0x0303, 0xffff, 0]), 1);
    h.writeUInt16BE(rng.pick([0, 1, 0xffff]), 3);
    h.writeUIntBE(rng.int(0x1000000), 5, 6);
    h.writeUInt16BE(rng.chance(0.8) ? body.length : rng.pick([0, 1, 0xffff, body.length + 1]), 11);
    records.push(h, body);
  }
  return Buffer.concat(records);
}

function rtpOrRtcp(rng: Rng): Buffer {
  const b = rng.bytes(rng.pick([1, 4, 8, 12, 13, 200, 1200]));
  b[0] = 0x80 | rng.int(0x40);
  if (b.length > 1) b[1] = rng.chance(0.5) ? rng.pick([96, 111, 0x80 | 96]) : rng.range(192, 223);
  return b;
}

export function webrtcUdpTarget(port: number, httpApi: string): FuzzTarget {
  let sender: UdpSender | undefined;
  let sessions: Session[] = [];
  let delivered = 0;
  let refreshing: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    const fresh = await Promise.all(Array.from({ length: 4 }, (_, i) => openWhipSession(httpApi, `fzrtc${i}`)));
    const ok = fresh.filter((s): s is Session => s !== undefined);
    if (ok.length) sessions = ok;
  }

  return {
    name: 'webrtc',
    transport: 'udp',
    port,
    concurrency: 16,
    async prepare() {
      sender = await UdpSender.open(SOCKETS);
      await refresh();
    },
    generate(rng: Rng, index: number): FuzzInput {
      const session = sessions.length ? sessions[index % sessions.length]! : { username: 'x:y', password: 'z' };
      const valid = encodeStunBindingRequest({
        transactionId: rng.bytes(12),
        username: session.username,
        priority: rng.u32(),
        iceControlling: 1n,
        useCandidate: rng.chance(0.5),
        integrityKey: session.password,
        fingerprint: true,
      });
      const kind = rng.int(8);
      let datagrams: Buffer[];
      let label: string;
      if (kind < 2) {
        datagrams = [mutateBytes(rng, valid, { maxLength: 2048 })];
        label = 'stun check, bytes edited';
      } else if (kind < 4) {
        const attributes = Array.from({ length: rng.range(0, 6) }, () => ({
          type: rng.pick([
            StunAttributeType.Username,
            StunAttributeType.Priority,
            StunAttributeType.MessageIntegrity,
            StunAttributeType.Fingerprint,
            StunAttributeType.UseCandidate,
            StunAttributeType.IceControlling,
            StunAttributeType.XorMappedAddress,
            StunAttributeType.ErrorCode,
            rng.int(0x10000),
          ]),
          value: rng.chance(0.3) ? Buffer.from(mutateText(rng, session.username)).subarray(0, 2000) : rng.bytes(rng.pick([0, 1, 4, 8, 20, 32, 600])),
        }));
        const messageClass: StunMessageClass = rng.pick(['request', 'request', 'indication', 'success-response', 'error-response']);
        datagrams = [
          encodeStunMessage({
            method: rng.chance(0.9) ? 1 : rng.int(0x1000),
            messageClass,
            transactionId: rng.bytes(12),
            attributes,
            integrityKey: rng.chance(0.5) ? session.password : undefined,
            fingerprint: rng.chance(0.5),
          }),
        ];
        label = `stun ${messageClass} with mutated attributes`;
      } else if (kind < 6) {
        datagrams = [valid, dtlsRecords(rng)];
        label = 'dtls records after a valid check';
      } else if (kind < 7) {
        datagrams = [valid, ...Array.from({ length: rng.range(1, 4) }, () => rtpOrRtcp(rng))];
        label = 'rtp/rtcp after a valid check';
      } else {
        const first = rng.pick([0, 3, 4, 19, 20, 63, 64, 79, 80, 127, 128, 191, 192, 255]);
        const b = rng.bytes(rng.pick([0, 1, 19, 20, 21, 100, 1500]));
        if (b.length) b[0] = first;
        datagrams = [b];
        label = `raw datagram starting ${first}`;
      }
      return { label: `${label} (socket ${index % SOCKETS})`, parts: datagrams };
    },
    async deliver(input) {
      if (++delivered % SESSION_REFRESH_INPUTS === 0) {
        refreshing ??= refresh().finally(() => (refreshing = undefined));
        await refreshing;
      }
      const socket = Number(/socket (\d+)/.exec(input.label)?.[1] ?? 0);
      await sender!.send(port, input.parts, socket);
    },
    async close() {
      sender?.close();
    },
  };
}
