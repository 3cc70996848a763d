// ICE candidate attribute codec (RFC 8839 §5.1, with tcptype from RFC 6544 §4.5):
//   candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
//             [raddr <addr>] [rport <port>] *(<ext-name> <ext-value>)
// Parsing tolerates runs of spaces/tabs and remembers where the address and port tokens sit, so
// a rewrite can change exactly those bytes and leave the rest of the line as the peer wrote it.
import { SdpError } from './sdp.js';

/** One candidate. Keywords are matched case-insensitively; values keep the case they were written in. */
export interface IceCandidate {
  /** 1..32 ice-chars. */
  foundation: string;
  /** 1..256 (1 = RTP, 2 = RTCP). */
  component: number;
  /** As written: `udp`, `UDP`, `tcp`, ... */
  transport: string;
  /** 0..2^32-1. */
  priority: number;
  /** IPv4, IPv6 or FQDN (e.g. an mDNS `.local` name). */
  address: string;
  /** 0..65535 (TCP active candidates use 9). */
  port: number;
  /** `host`, `srflx`, `prflx`, `relay` or an extension token. */
  type: string;
  relatedAddress?: string;
  relatedPort?: number;
  /** RFC 6544 `tcptype` (active, passive, so); serialized right after typ/raddr/rport. */
  tcpType?: string;
  /** Remaining extension pairs in order (`generation 0`, `network-id 1`, `ufrag abcd`, ...). */
  extensions: { name: string; value: string }[];
}

/** Character offsets [start, end) of a token within the text given to `parseCandidateWithSpans`. */
export type TextSpan = readonly [start: number, end: number];

/** A candidate plus where its address and port tokens were found. */
export interface LocatedIceCandidate {
  candidate: IceCandidate;
  addressSpan: TextSpan;
  portSpan: TextSpan;
}

const ICE_CHARS = /^[A-Za-z0-9+/]{1,32}$/;
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const DIGITS = /^[0-9]+$/;
const PREFIX = /^(?:a=)?candidate:/;

interface Token {
  text: string;
  start: number;
}

function fail(message: string): never {
  throw new SdpError('bad-candidate', message);
}

function tokenize(text: string, from: number): Token[] {
  const tokens: Token[] = [];
  const pattern = /[^ \t]+/g;
  pattern.lastIndex = from;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    tokens.push({ text: match[0], start: match.index });
  }
  return tokens;
}

function parseNumber(token: Token | undefined, maxDigits: number, max: number, what: string): number {
  if (!token || !DIGITS.test(token.text) || token.text.length > maxDigits) fail(`${what} must be 1..${maxDigits} digits`);
  const value = Number(token.text);
  if (value > max) fail(`${what} ${value} exceeds ${max}`);
  return value;
}

function keyword(token: Token | undefined, expected: string): boolean {
  return token !== undefined && token.text.toLowerCase() === expected;
}

/** Parses `candidate:...` or `a=candidate:...` and reports the address and port positions; throws SdpError. */
export function parseCandidateWithSpans(text: string): LocatedIceCandidate {
  const prefix = PREFIX.exec(text);
  if (!prefix) fail('candidate attribute must start with "candidate:"');
  if (/[\r\n]/.test(text)) fail('candidate attribute must be a single line');
  const tokens = tokenize(text, prefix[0].length);
  if (tokens.length < 8) fail(`candidate needs at least 8 fields, got ${tokens.length}`);

  const [foundation, component, transport, priority, address, port, typ, type] = tokens as [Token, Token, Token, Token, Token, Token, Token, Token];
  if (tokens[0]!.start !== prefix[0].length) fail('foundation must follow "candidate:" directly');
  if (!ICE_CHARS.test(foundation.text)) fail(`foundation "${foundation.text}" is not 1..32 ice-chars`);
  const componentId = parseNumber(component, 3, 256, 'component id');
  if (componentId < 1) fail('component id must be at least 1');
  if (!TOKEN.test(transport.text)) fail(`transport "${transport.text}" is not a token`);
  const candidate: IceCandidate = {
    foundation: foundation.text,
    component: componentId,
    transport: transport.text,
    priority: parseNumber(priority, 10, 0xffffffff, 'priority'),
    address: address.text,
    port: parseNumber(port, 5, 0xffff, 'port'),
    type: '',
    extensions: [],
  };
  if (!keyword(typ, 'typ')) fail(`expected "typ", got "${typ.text}"`);
  if (!TOKEN.test(type.text)) fail(`candidate type "${type.text}" is not a token`);
  candidate.type = type.text;

  let index = 8;
  if (keyword(tokens[index], 'raddr')) {
    const related = tokens[index + 1];
    if (!related) fail('raddr without an address');
    candidate.relatedAddress = related.text;
    index += 2;
  }
  if (keyword(tokens[index], 'rport')) {
    candidate.relatedPort = parseNumber(tokens[index + 1], 5, 0xffff, 'rport');
    index += 2;
  }
  while (index < tokens.length) {
    const name = tokens[index]!;
    const value = tokens[index + 1];
    if (!value) fail(`extension "${name.text}" has no value`);
    if (!TOKEN.test(name.text)) fail(`extension name "${name.text}" is not a token`);
    if (candidate.tcpType === undefined && keyword(name, 'tcptype')) candidate.tcpType = value.text;
    else candidate.extensions.push({ name: name.text, value: value.text });
    index += 2;
  }
  return {
    candidate,
    addressSpan: [address.start, address.start + address.text.length],
    portSpan: [port.start, port.start + port.text.length],
  };
}

/** True for a UDP candidate (transport compared case-insensitively). */
export function isUdpCandidate(candidate: IceCandidate): boolean {
  return candidate.transport.toLowerCase() === 'udp';
}

/** True for a TCP candidate (RFC 6544; transport compared case-insensitively). */
export function isTcpCandidate(candidate: IceCandidate): boolean {
  return candidate.transport.toLowerCase() === 'tcp';
}

/** True for a host candidate (type compared case-insensitively). */
export function isHostCandidate(candidate: IceCandidate): boolean {
  return candidate.type.toLowerCase() === 'host';
}
