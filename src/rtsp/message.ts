// RTSP 1.0 messages (RFC 2326; the 2.0 framing of RFC 7826 is the same): a start line, header lines,
// an empty line, then Content-Length bytes of body. Pure codec: parsing checks every length and
// refuses what it cannot represent faithfully; serialising writes headers back in their order and case.

/** Bytes of start line + headers (up to the empty line) one message may take. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Bytes of body (SDP, GET_PARAMETER text) one message may carry. */
export const MAX_BODY_BYTES = 256 * 1024;

/** A message that cannot be parsed; `status` is what a client that sent it is told (400, 413…). */
export class RtspParseError extends Error {
  override readonly name = 'RtspParseError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RtspHeader {
  name: string;
  value: string;
}

export interface RtspRequest {
  kind: 'request';
  method: string;
  uri: string;
  version: string;
  headers: RtspHeader[];
  body: Buffer;
}

export interface RtspResponse {
  kind: 'response';
  version: string;
  status: number;
  reason: string;
  headers: RtspHeader[];
  body: Buffer;
}

export type RtspMessage = RtspRequest | RtspResponse;

const METHOD = /^[A-Za-z_-]{1,32}$/;
const VERSION = /^RTSP\/\d\.\d$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

/**
 * Parses a message head (start line and headers, without the final empty line). Line ends are CRLF
 * or a lone LF (tolerated, as many servers do). Throws RtspParseError for anything malformed.
 */
export function parseHead(head: string): Omit<RtspRequest, 'body'> | Omit<RtspResponse, 'body'> {
  const lines = head.split(/\r?\n/);
  const start = lines[0] ?? '';
  const headers: RtspHeader[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RtspParseError(400, 'malformed header line');
    const name = line.slice(0, colon).trim();
    if (!HEADER_NAME.test(name)) throw new RtspParseError(400, 'malformed header name');
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw new RtspParseError(400, 'control character in header value');
    headers.push({ name, value });
  }
  const parts = start.split(' ');
  if (start.startsWith('RTSP/')) {
    // RTSP/1.0 200 OK (the reason phrase may hold spaces or be empty)
    const version = parts[0]!;
    const code = parts[1] ?? '';
    if (!VERSION.test(version) || !/^\d{3}$/.test(code)) throw new RtspParseError(400, 'malformed status line');
    return { kind: 'response', version, status: Number(code), reason: parts.slice(2).join(' '), headers };
  }
  if (parts.length !== 3) throw new RtspParseError(400, 'malformed request line');
  const [method, uri, version] = parts as [string, string, string];
  if (!METHOD.test(method) || !VERSION.test(version) || uri === '' || uri.length > 8192 || /[\0-\x20\x7f]/.test(uri)) {
    throw new RtspParseError(400, 'malformed request line');
  }
  return { kind: 'request', method: method.toUpperCase(), uri, version, headers };
}

/** The declared body length (0 without Content-Length); throws when it is malformed or too large. */
export function contentLength(headers: readonly RtspHeader[]): number {
  let found: number | undefined;
  for (const h of headers) {
    if (h.name.toLowerCase() !== 'content-length') continue;
    if (!/^\d{1,10}$/.test(h.value)) throw new RtspParseError(400, 'malformed Content-Length');
    const n = Number(h.value);
    if (found !== undefined && found !== n) throw new RtspParseError(400, 'conflicting Content-Length');
    found = n;
  }
  if (found !== undefined && found > MAX_BODY_BYTES) throw new RtspParseError(413, `body over ${MAX_BODY_BYTES} bytes`);
  return found ?? 0;
}

export function header(msg: { headers: readonly RtspHeader[] }, name: string): string | undefined {
  const lower = name.toLowerCase();
  return msg.headers.find((h) => h.name.toLowerCase() === lower)?.value;
}

/** Sets a header in place (replacing the first of that name, appending otherwise). */
export function setHeader(msg: { headers: RtspHeader[] }, name: string, value: string): void {
  const lower = name.toLowerCase();
  const h = msg.headers.find((x) => x.name.toLowerCase() === lower);
  if (h) h.value = value;
  else msg.headers.push({ name, value });
}

export function serialize(msg: RtspMessage): Buffer {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.uri} ${msg.version}` : `${msg.version} ${msg.status} ${msg.reason}`;
  let head = start + '\r\n';
  for (const h of msg.headers) head += `${h.name}: ${h.value}\r\n`;
  head += '\r\n';
  const headBytes = Buffer.from(head, 'latin1');
  return msg.body.length === 0 ? headBytes : Buffer.concat([headBytes, msg.body]);
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Request Entity Too Large',
  455: 'Method Not Valid in This State',
  461: 'Unsupported Transport',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * A response the proxy writes itself. Errors carry a JSON body `{code, error}` naming what is wrong;
 * `cseq` is echoed when the request had one (a client matches answers by it).
 */
export function proxyResponse(status: number, cseq: string | undefined, opts: { error?: string; headers?: RtspHeader[]; close?: boolean } = {}): Buffer {
  const headers: RtspHeader[] = [];
  if (cseq !== undefined) headers.push({ name: 'CSeq', value: cseq });
  headers.push({ name: 'Server', value: 'origin-proxy' });
  headers.push(...(opts.headers ?? []));
  let body = Buffer.alloc(0);
  if (opts.error !== undefined) {
    body = Buffer.from(JSON.stringify({ code: status, error: opts.error }));
    headers.push({ name: 'Content-Type', value: 'application/json' }, { name: 'Content-Length', value: String(body.length) });
  }
  if (opts.close) headers.push({ name: 'Connection', value: 'close' });
  return serialize({ kind: 'response', version: 'RTSP/1.0', status, reason: REASONS[status] ?? 'Error', headers, body });
}
