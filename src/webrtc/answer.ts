// The SDP side of signalling through the proxy (BEHAVIOUR.md §6.3, 6.4, BEHAVIOUR.md §9.2 #14): an offer must carry ICE
// credentials (else its media could never be routed), and an origin's answer is given to the client
// with its UDP host candidates pointing at the proxy. Pure: strings in, strings out, typed errors.
import { rewriteCandidates } from './sdp-rewrite.js';
import { extractIceCredentials, parseSdp, type IceCredentials } from './sdp.js';

/** An offer or answer the proxy cannot route (no a=ice-ufrag / a=ice-pwd). */
export class SignallingSdpError extends Error {
  override readonly name = 'SignallingSdpError';
}

/** Where clients must send media: the proxy's UDP port and, optionally, its public address. */
export interface MediaRewrite {
  udpPort: number;
  /** IP or host name for the candidates; undefined keeps the origin's (as SRS does). */
  address: string | undefined;
}

/** The ICE credentials of an offer; SignallingSdpError without them. */
export function offerCredentials(offer: string): IceCredentials {
  const credentials = extractIceCredentials(offer);
  if (!credentials) throw new SignallingSdpError('offer has no a=ice-ufrag and a=ice-pwd');
  return credentials;
}

/** The answer as the client gets it, and its ICE credentials. */
export interface ProxiedAnswer {
  sdp: string;
  credentials: IceCredentials;
}

/**
 * Rewrites an origin's answer for the client: UDP host candidates get the proxy's port (and address),
 * TCP candidates are removed (the relay is UDP only). SignallingSdpError when it has no ICE credentials.
 */
export function proxyAnswer(answer: string, media: MediaRewrite): ProxiedAnswer {
  const description = parseSdp(answer);
  const credentials = extractIceCredentials(description);
  if (!credentials) throw new SignallingSdpError('origin answer has no a=ice-ufrag and a=ice-pwd');
  return { sdp: rewriteCandidates(answer, { udpPort: media.udpPort, address: media.address, keepTcp: false }), credentials };
}

/** The ICE session id: the STUN USERNAME the client puts in its checks, `<answerUfrag>:<offerUfrag>`. */
export function iceSessionId(answer: IceCredentials, offer: IceCredentials): string {
  return `${answer.ufrag}:${offer.ufrag}`;
}
