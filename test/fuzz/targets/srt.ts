// SRT listener inputs: conclusions carrying a valid SYN cookie for the sending socket (so they reach the
// stream-id, extension and origin-handshake code) with mutated HSREQ/SID/KMREQ/unknown extensions and
// fields, inductions with odd versions and types, keepalive/ACK/NAK/shutdown/user control packets, data
// packets to random socket ids, and byte edits of any of them.
import { createSocket, type Socket } from 'node:dgram';
import { type HandshakeExtension } from '../../../src/srt/extensions.js';
import { HandshakeType, buildInductionRequest, encodeHandshake, parseHandshake } from '../../../src/srt/handshake.js';
import { isHandshakePacket } from '../../../src/srt/packet.js';
import { encodePeerIp } from '../../../src/srt/peer-ip.js';
import { mutateBytes, mutateText } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzInput, FuzzTarget } from '../target.js';
import { hsExtension, rawExtension, streamIdExtension, congestionExtension, encodePacket } from '../../fixtures/srt-codec.js';

const SOCKETS = 8;
/** SYN cookies rotate every minute; fetch fresh ones well before. */
const COOKIE_REFRESH_MS = 20_000;

interface CookieSocket {
  socket: Socket;
  cookie: number;
}

function streamId(rng: Rng): string {
  const base = rng.pick([
    `#!::r=live/fz${rng.int(40)},m=${rng.pick(['publish', 'request', 'bidirectional', 'x'])}`,
    `#!::h=live/fz${rng.int(40)}`,
    `live/fz${rng.int(40)}`,
    `#!::r=live/fz1,m=publish,u=user,s=${rng.word(8)},h=${rng.word(4)}`,
    '#!::',
    '#!::r=,m=',
    `#!::${'k=v,'.repeat(100)}`,
  ]);
  const mutated = rng.chance(0.5) ? mutateText(rng, base) : base;
  // The builder refuses over 512 bytes; longer ones come from byte edits of the whole datagram.
  return Buffer.byteLength(mutated) <= 512 ? mutated : base;
}

function extensions(rng: Rng): HandshakeExtension[] {
  const list: HandshakeExtension[] = [];
  if (rng.chance(0.9)) {
    list.push(
      hsExtension({
        response: rng.chance(0.05),
        srtVersion: rng.pick([0x010501, 0x010300, 0x010000, 0, 0xffffffff]),
        srtFlags: rng.pick([0xbf, 0, 0xffffffff, rng.u32()]),
        receiverTsbpdDelay: rng.int(0x10000),
        senderTsbpdDelay: rng.int(0x10000),
      }),
    );
  }
  if (rng.chance(0.9)) list.push(streamIdExtension(streamId(rng)));
  if (rng.chance(0.15)) list.push(rawExtension(3, rng.bytes(4 * rng.range(0, 20))));
  if (rng.chance(0.1)) list.push(congestionExtension(rng.pick(['live', 'file', 'x'])));
  if (rng.chance(0.15)) list.push(rawExtension(rng.pick([0, 4, 6, 7, 8, 9, 0xffff, 0x100 + rng.int(0xff00)]), rng.bytes(4 * rng.range(0, 8))));
  return rng.chance(0.2) ? list.reverse() : list;
}

function control(rng: Rng, type: number, cifLength: number): Buffer {
  return encodePacket({
    kind: 'control',
    controlType: type,
    subtype: rng.chance(0.9) ? 0 : rng.int(0x10000),
    typeSpecificInfo: rng.u32(),
    timestamp: rng.u32(),
    destinationSocketId: rng.chance(0.5) ? 0 : rng.u32(),
    cif: rng.bytes(cifLength),
  });
}

export function srtTarget(port: number): FuzzTarget {
  const sockets: CookieSocket[] = [];
  let cookiesAt = 0;
  let refreshing: Promise<void> | undefined;
  let sent = 0;

  async function refreshCookies(): Promise<void> {
    await Promise.all(sockets.map((s) => induce(s, port)));
    cookiesAt = Date.now();
  }

  return {
    name: 'srt',
    transport: 'udp',
    port,
    concurrency: 16,
    async prepare() {
      for (let i = 0; i < SOCKETS; i++) {
        const socket = createSocket('udp4');
        socket.on('error', () => undefined);
        await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
        sockets.push({ socket, cookie: 0 });
      }
      await refreshCookies();
    },
    generate(rng: Rng, index: number): FuzzInput {
      const from = index % SOCKETS;
      const cookie = sockets[from]?.cookie ?? 0;
      const socketId = 1 + rng.int(0x7ffffffe);
      let datagram: Buffer;
      let label: string;
      const kind = rng.int(10);
      if (kind < 5) {
        datagram = encodeHandshake({
          typeSpecificInfo: 0,
          timestamp: rng.u32(),
          destinationSocketId: rng.chance(0.9) ? 0 : rng.u32(),
          version: rng.chance(0.9) ? 5 : rng.pick([0, 4, 6, 0xffffffff]),
          encryption: rng.chance(0.8) ? 0 : rng.pick([2, 3, 4, 1, 0xffff]),
          extension: rng.chance(0.8) ? 5 : rng.int(0x10000),
          initialSequenceNumber: rng.u32() & 0x7fffffff,
          mtu: rng.pick([1500, 0, 1, 65_536, 0xffffffff]),
          flowWindow: rng.pick([8192, 0, 0xffffffff]),
          handshakeType: rng.chance(0.9) ? HandshakeType.Conclusion : rng.pick([0, 1, 2, 0xffffffff, 1003]),
          socketId,
          synCookie: rng.chance(0.9) ? cookie : rng.u32(),
          peerIp: encodePeerIp('127.0.0.1'),
          extensions: extensions(rng),
        });
        label = 'conclusion';
      } else if (kind === 5) {
        datagram = buildInductionRequest({
          socketId,
          initialSequenceNumber: rng.u32() & 0x7fffffff,
          timestamp: rng.u32(),
          peerAddress: rng.pick(['127.0.0.1', '::1', '0.0.0.0']),
          mtu: rng.pick([1500, 0, 76]),
          flowWindow: rng.pick([8192, 0]),
        });
        label = 'induction';
      } else if (kind < 8) {
        const type = rng.pick([1, 1, 2, 3, 4, 5, 6, 7, 8, 0x7fff, rng.int(0x8000)]);
        datagram = control(rng, type, rng.pick([0, 4, 16, 28, 64, 1500]));
        label = `control type ${type}`;
      } else {
        datagram = encodePacket({
          kind: 'data',
          sequenceNumber: rng.u32() & 0x7fffffff,
          packetPosition: rng.int(4) as 0 | 1 | 2 | 3,
          inOrder: rng.chance(0.5),
          encryptionKey: rng.int(4) as 0 | 1 | 2 | 3,
          retransmitted: rng.chance(0.1),
          messageNumber: rng.int(0x4000000),
          timestamp: rng.u32(),
          destinationSocketId: rng.u32(),
          payload: rng.bytes(rng.pick([0, 188, 1316, 1456, 9000])),
        });
        label = 'data';
      }
      if (rng.chance(0.35)) {
        datagram = mutateBytes(rng, datagram, { maxLength: 65_507 });
        label += ', bytes edited';
      }
      return { label: `${label} from socket ${from}`, parts: [datagram] };
    },
    async deliver(input) {
      if (Date.now() - cookiesAt > COOKIE_REFRESH_MS) {
        refreshing ??= refreshCookies().finally(() => (refreshing = undefined));
        await refreshing;
      }
      const from = Number(/socket (\d+)/.exec(input.label)?.[1] ?? 0);
      const s = sockets[from % SOCKETS]!.socket;
      sent++;
      for (const d of input.parts) await new Promise<void>((resolve) => s.send(d, port, '127.0.0.1', () => resolve()));
      // Pace a little so the kernel buffer does not drop most of a burst.
      if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
    },
    async close() {
      for (const s of sockets) s.socket.close();
    },
  };
}

/** Sends an induction from `s` and stores the cookie of the answer (0 when none came within 1 s). */
async function induce(s: CookieSocket, port: number): Promise<void> {
  const socketId = 1 + Math.floor(Math.random() * 0x7ffffffe);
  const request = buildInductionRequest({ socketId, initialSequenceNumber: 1, timestamp: 1, peerAddress: '127.0.0.1' });
  s.cookie = await new Promise<number>((resolve) => {
    const onMessage = (d: Buffer) => {
      if (!isHandshakePacket(d)) return;
      try {
        const hs = parseHandshake(d);
        if (hs.socketId !== socketId && d.readUInt32BE(12) !== socketId) return;
        done(hs.synCookie);
      } catch {
        // not the answer
      }
    };
    const timer = setTimeout(() => done(0), 1000);
    const retry = setInterval(() => s.socket.send(request, port, '127.0.0.1'), 250);
    function done(cookie: number) {
      clearTimeout(timer);
      clearInterval(retry);
      s.socket.off('message', onMessage);
      resolve(cookie);
    }
    s.socket.on('message', onMessage);
    s.socket.send(request, port, '127.0.0.1');
  });
}
