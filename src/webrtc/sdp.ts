// A line-preserving SDP model (RFC 8866 §5): a session section followed by media sections, each a
// list of `<type>=<value>` lines. The proxy must change a few candidate lines and nothing else, so
// parsing keeps every line verbatim with its own line ending: serializeSdp(parseSdp(x)) === x for
// any string, including LF-only bodies, mixed endings, blank lines and a missing final newline.

/** The terminator a line had in the source ('' only for a last line without one). */
export type SdpLineEnding = '\r\n' | '\n' | '';

/** One line; `type`/`value` are derived from `text` (type '' when the line is not `<letter>=...`). */
export interface SdpLine {
  readonly text: string;
  readonly eol: SdpLineEnding;
  readonly type: string;
  readonly value: string;
}

/** A media section: `lines[0]` is its `m=` line. */
export interface SdpMediaSection {
  readonly lines: readonly SdpLine[];
}

/** A parsed session description. */
export interface SessionDescription {
  /** Lines before the first `m=` line (v=, o=, s=, t=, session-level a=, ...). */
  readonly session: readonly SdpLine[];
  readonly media: readonly SdpMediaSection[];
}

/** An `a=` line split at its first colon; `value` is undefined for a property attribute (`a=rtcp-mux`). */
export interface SdpAttribute {
  name: string;
  value: string | undefined;
}

/** ICE credentials of one side (RFC 8839 §5.4). */
export interface IceCredentials {
  ufrag: string;
  pwd: string;
}

/** Why SDP text or an argument was refused. */
export type SdpErrorCode =
  /** An a=candidate value does not follow the RFC 8839 §5.1 grammar. */
  | 'bad-candidate'
  /** A function was given an option that cannot be used. */
  | 'invalid-argument';

/** Malformed SDP input or an unusable argument; `code` says which. */
export class SdpError extends Error {
  override readonly name = 'SdpError';

  constructor(
    readonly code: SdpErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const TYPED_LINE = /^[A-Za-z]=/;

/** Builds a line from its text (without terminator) and ending, deriving type and value. */
export function makeSdpLine(text: string, eol: SdpLineEnding): SdpLine {
  if (TYPED_LINE.test(text)) return { text, eol, type: text[0]!, value: text.slice(2) };
  return { text, eol, type: '', value: text };
}

/** Parses any string into the model; never throws (unrecognised lines are kept with type ''). */
export function parseSdp(text: string): SessionDescription {
  const session: SdpLine[] = [];
  const media: { lines: SdpLine[] }[] = [];
  let position = 0;
  while (position < text.length) {
    const newline = text.indexOf('\n', position);
    let line: SdpLine;
    if (newline < 0) {
      line = makeSdpLine(text.slice(position), '');
      position = text.length;
    } else if (newline > position && text.charCodeAt(newline - 1) === 0x0d) {
      line = makeSdpLine(text.slice(position, newline - 1), '\r\n');
      position = newline + 1;
    } else {
      line = makeSdpLine(text.slice(position, newline), '\n');
      position = newline + 1;
    }
    if (line.type === 'm') media.push({ lines: [line] });
    else if (media.length > 0) media[media.length - 1]!.lines.push(line);
    else session.push(line);
  }
  return { session, media };
}

/** Every line in document order. */
export function sdpLines(description: SessionDescription): SdpLine[] {
  const lines = [...description.session];
  for (const section of description.media) lines.push(...section.lines);
  return lines;
}

/** Writes the model back; the exact inverse of parseSdp. */
export function serializeSdp(description: SessionDescription): string {
  let out = '';
  for (const line of sdpLines(description)) out += line.text + line.eol;
  return out;
}

/** Splits an `a=` line into name and value; undefined for other line types. */
export function parseSdpAttribute(line: SdpLine): SdpAttribute | undefined {
  if (line.type !== 'a') return undefined;
  const colon = line.value.indexOf(':');
  if (colon < 0) return { name: line.value, value: undefined };
  return { name: line.value.slice(0, colon), value: line.value.slice(colon + 1) };
}

/** First non-empty token of the first `a=<name>:` line, session level first, then media sections in order. */
function firstAttributeToken(description: SessionDescription, name: string): string | undefined {
  for (const line of sdpLines(description)) {
    const attribute = parseSdpAttribute(line);
    if (attribute?.name !== name || attribute.value === undefined) continue;
    const token = /^[^\s]+/.exec(attribute.value);
    if (token) return token[0];
  }
  return undefined;
}

/** The first a=ice-ufrag value (session or media level; the first one in document order wins). */
export function sdpIceUfrag(description: SessionDescription): string | undefined {
  return firstAttributeToken(description, 'ice-ufrag');
}

/** The first a=ice-pwd value (session or media level; the first one in document order wins). */
export function sdpIcePwd(description: SessionDescription): string | undefined {
  return firstAttributeToken(description, 'ice-pwd');
}

/** ufrag and pwd of an offer or answer, or undefined unless both are present. */
export function extractIceCredentials(sdp: string | SessionDescription): IceCredentials | undefined {
  const description = typeof sdp === 'string' ? parseSdp(sdp) : sdp;
  const ufrag = sdpIceUfrag(description);
  const pwd = sdpIcePwd(description);
  return ufrag !== undefined && pwd !== undefined ? { ufrag, pwd } : undefined;
}
