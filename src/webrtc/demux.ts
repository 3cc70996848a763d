// Demultiplexing of one UDP datagram on a WebRTC port (RFC 7983 §7, with the RFC 5761 §4 RTP/RTCP
// split). Only the first one or two bytes are looked at: deciding what a packet is must cost nothing,
// and deeper validation belongs to the codec of the kind that was found. Never throws.

/** What the first byte of a datagram says it carries (RFC 7983 §7). `rtp` covers RTCP too; see `isRtcp`. */
export type DatagramKind = 'stun' | 'zrtp' | 'dtls' | 'turn-channel' | 'rtp' | 'unknown';

/** Classifies a datagram by its first byte: 0..3 STUN, 16..19 ZRTP, 20..63 DTLS, 64..79 TURN channel, 128..191 RTP/RTCP. */
export function classifyDatagram(datagram: Uint8Array): DatagramKind {
  if (datagram.length === 0) return 'unknown';
  const first = datagram[0]!;
  if (first <= 3) return 'stun';
  if (first >= 16 && first <= 19) return 'zrtp';
  if (first >= 20 && first <= 63) return 'dtls';
  if (first >= 64 && first <= 79) return 'turn-channel';
  if (first >= 128 && first <= 191) return 'rtp';
  return 'unknown';
}

/**
 * True when an RTP-range datagram is RTCP: its second byte (the RTCP packet type) is in 192..223
 * (RFC 5761 §4). RTP payload types 64..95 are what would collide there, so they must not be used.
 */
export function isRtcp(datagram: Uint8Array): boolean {
  if (datagram.length < 2) return false;
  const first = datagram[0]!;
  const second = datagram[1]!;
  return first >= 128 && first <= 191 && second >= 192 && second <= 223;
}
