// Candidate rewriting for an answer that passes through the proxy: the client must send its media
// to the proxy's UDP port (and, optionally, public address), not to the origin's. Only the address
// and port tokens of UDP host candidates change; TCP candidates are dropped unless kept (the UDP
// relay cannot carry them); every other byte, line ending included, stays as the origin wrote it.
import { isHostCandidate, isTcpCandidate, isUdpCandidate, parseCandidateWithSpans } from './ice-candidate.js';
import type { LocatedIceCandidate } from './ice-candidate.js';
import { SdpError, makeSdpLine, parseSdp, parseSdpAttribute, serializeSdp } from './sdp.js';
import type { SdpLine, SessionDescription } from './sdp.js';

/** What `rewriteCandidates` changes. */
export interface CandidateRewriteOptions {
  /** The proxy's UDP port, written into every UDP host candidate. */
  udpPort: number;
  /** When given, also replaces the address of those candidates (a public IP or hostname). */
  address?: string;
  /** Keep TCP candidates untouched (true) or remove their lines (false). */
  keepTcp: boolean;
  /** When given, only UDP host candidates currently on this port are rewritten (the origin's RTC port). */
  fromPort?: number;
}

function checkOptions(options: CandidateRewriteOptions): void {
  const { udpPort, address, fromPort } = options;
  if (!Number.isInteger(udpPort) || udpPort < 1 || udpPort > 0xffff) {
    throw new SdpError('invalid-argument', `udpPort must be an integer in [1, 65535], got ${udpPort}`);
  }
  if (fromPort !== undefined && (!Number.isInteger(fromPort) || fromPort < 0 || fromPort > 0xffff)) {
    throw new SdpError('invalid-argument', `fromPort must be an integer in [0, 65535], got ${fromPort}`);
  }
  if (address !== undefined && !/^[^\s]+$/.test(address)) {
    throw new SdpError('invalid-argument', `address must be one non-empty token, got "${address}"`);
  }
}

function locate(line: SdpLine): LocatedIceCandidate | undefined {
  if (parseSdpAttribute(line)?.name !== 'candidate') return undefined;
  try {
    return parseCandidateWithSpans(line.text);
  } catch (error) {
    // A candidate we cannot read is passed on as written rather than failing the whole answer.
    if (error instanceof SdpError) return undefined;
    throw error;
  }
}

/** The replacement for one line: the same line, a rewritten one, or null to drop it. */
function rewriteLine(line: SdpLine, options: CandidateRewriteOptions): SdpLine | null {
  const located = locate(line);
  if (!located) return line;
  const { candidate, addressSpan, portSpan } = located;
  if (isTcpCandidate(candidate)) return options.keepTcp ? line : null;
  if (!isUdpCandidate(candidate) || !isHostCandidate(candidate)) return line;
  if (options.fromPort !== undefined && candidate.port !== options.fromPort) return line;
  // The address token precedes the port token, so splice from the end to keep offsets valid.
  let text = line.text.slice(0, portSpan[0]) + String(options.udpPort) + line.text.slice(portSpan[1]);
  if (options.address !== undefined) {
    text = text.slice(0, addressSpan[0]) + options.address + text.slice(addressSpan[1]);
  }
  return makeSdpLine(text, line.eol);
}

function rewriteLines(lines: readonly SdpLine[], options: CandidateRewriteOptions): SdpLine[] {
  const out: SdpLine[] = [];
  for (const line of lines) {
    const replacement = rewriteLine(line, options);
    if (replacement) out.push(replacement);
  }
  return out;
}

/** Model form of `rewriteCandidates`; throws SdpError on unusable options. */
export function rewriteSdpCandidates(description: SessionDescription, options: CandidateRewriteOptions): SessionDescription {
  checkOptions(options);
  return {
    session: rewriteLines(description.session, options),
    media: description.media.map((section) => ({ lines: rewriteLines(section.lines, options) })),
  };
}

/**
 * Points every UDP host candidate at `udpPort` (and `address` if given), removes TCP candidates
 * unless `keepTcp`, and leaves every other byte unchanged; throws SdpError on unusable options.
 */
export function rewriteCandidates(sdp: string, options: CandidateRewriteOptions): string {
  return serializeSdp(rewriteSdpCandidates(parseSdp(sdp), options));
}
