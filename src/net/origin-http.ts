// HTTP towards origins, shared by every HTTP-borne protocol (HTTP-FLV/TS, HLS, DASH, WHIP/WHEP).
// The ONE header policy for forwarded HTTP lives here: which client headers go to the origin, which
// origin headers come back, and the X-Forwarded-* headers. Connections are pooled with keep-alive,
// with a connect timeout (PROXY_DIAL_TIMEOUT) and a response-headers timeout.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { loadAgent, type Agent, type Dispatcher } from './undici.js';
import { hostPort } from '../balancer/endpoint.js';
import { normaliseVhost, DEFAULT_VHOST } from '../stream-key.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus ones the proxy sets itself; never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

export interface OriginHttpOptions {
  dialMs: number;
  /** Time to the origin's response headers; 0 = none (LL-HLS blocking reloads wait on the origin's own hold). */
  headersMs: number;
  /** Max idle keep-alive connections per origin. */
  connectionsPerOrigin?: number;
}

/**
 * The keep-alive connection pool for all origins, created at the first HTTP request to an origin (HLS,
 * DASH, HTTP-FLV/TS, WebRTC signalling): until then undici is not loaded (see src/net/undici.ts).
 */
export class OriginAgent {
  private agent: Agent | undefined;

  constructor(private readonly opts: OriginHttpOptions) {}

  /** The pool (created now if this is the first request). */
  get(): Agent {
    return (this.agent ??= createOriginAgent(this.opts));
  }

  /** Closes every pooled connection; nothing to do when no request was ever made. */
  async destroy(): Promise<void> {
    await this.agent?.destroy();
  }
}

/** A keep-alive connection pool for all origins. */
export function createOriginAgent(opts: OriginHttpOptions): Agent {
  const Agent = loadAgent();
  return new Agent({
    connect: { timeout: opts.dialMs },
    headersTimeout: opts.headersMs,
    // Live bodies (FLV/TS) flow for hours; idleness is policed by the relay, not by the pool.
    bodyTimeout: 0,
    keepAliveTimeout: 4_000,
    connections: opts.connectionsPerOrigin ?? 256,
  });
}

/** `http://host:port` for an origin endpoint, IPv6 bracketed. */
export function originBaseUrl(host: string, port: number): string {
  return `http://${hostPort(host, port)}`;
}

/**
 * Request headers for the origin: every end-to-end client header (User-Agent, Range, Accept, cookies,
 * Authorization, If-None-Match, Content-Type, …), X-Forwarded-For/Proto/Host appended, and Host kept
 * when the client named a vhost (so named vhosts work on the origin); otherwise Host is the origin's.
 */
export function forwardRequestHeaders(req: IncomingMessage, originHost: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = connectionListed(req.headers);
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  const clientIp = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${clientIp}` : clientIp;
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  out['x-forwarded-proto'] = (req.headers['x-forwarded-proto'] as string | undefined) ?? scheme;
  const host = req.headers.host;
  if (host) out['x-forwarded-host'] = (req.headers['x-forwarded-host'] as string | undefined) ?? host;
  out.host = host && isNamedVhost(host) ? host : originHost;
  return out;
}

/**
 * The same request headers as forwardRequestHeaders, as a flat `[name, value, …]` list (what undici's
 * dispatch takes without copying): `set` replaces or adds headers, `drop` names client headers not to send.
 */
export function forwardRequestHeaderList(
  req: IncomingMessage,
  originHost: string,
  set: readonly (readonly [string, string])[] = [],
  drop: readonly string[] = [],
): string[] {
  const headers = req.headers;
  const c = headers.connection;
  // `keep-alive` and `close` (nearly every client's) list only hop-by-hop headers: nothing more to drop.
  const listed = c && !ONLY_HOP_BY_HOP.test(c) ? connectionListed(headers) : undefined;
  const host = headers.host;
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name) || drop.includes(name)) continue;
    // Set below (a client's X-Forwarded-Host passes unchanged when there is no Host to put in it).
    if (name === 'x-forwarded-for' || name === 'x-forwarded-proto' || (name === 'x-forwarded-host' && host)) continue;
    if (set.some((h) => h[0] === name)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  const clientIp = req.socket.remoteAddress ?? '';
  const prior = headers['x-forwarded-for'];
  out.push('x-forwarded-for', prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${clientIp}` : clientIp);
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  out.push('x-forwarded-proto', (headers['x-forwarded-proto'] as string | undefined) ?? scheme);
  if (host) out.push('x-forwarded-host', (headers['x-forwarded-host'] as string | undefined) ?? host);
  out.push('host', host && isNamedVhost(host) ? host : originHost);
  for (const [name, value] of set) out.push(name, value);
  return out;
}

/**
 * The same response headers as forwardResponseHeaders, from raw `[name, value, …]` (as the origin sent them:
 * strings from the origin client, or undici's buffers) to a flat `[name, value, …]` list with lower-case names (what writeHead takes): no header object built.
 */
export function forwardResponseHeaderList(raw: readonly (string | Buffer)[], opts: { keepLength: boolean }): string[] {
  const out: string[] = [];
  // Names a Connection header lists beyond the hop-by-hop ones (rare: `keep-alive` and `close` list nothing more).
  let listed: Set<string> | undefined;
  // One pass: each name is lower-cased once; Connection itself is hop-by-hop and never passes.
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = latin1(raw[i]!).toLowerCase();
    if (name === 'connection') {
      const v = latin1(raw[i + 1]!);
      if (!ONLY_HOP_BY_HOP.test(v)) {
        listed ??= new Set();
        for (const t of v.split(',')) if (t.trim()) listed.add(t.trim().toLowerCase());
      }
      continue;
    }
    if (!COMMON_NAMES.has(name) && !TOKEN.test(name)) continue;
    if (HOP_BY_HOP.has(name) && !(opts.keepLength && name === 'content-length')) continue;
    const value = latin1(raw[i + 1]!);
    if (!hasInvalidValueCharacter(value)) out.push(name, value);
  }
  if (listed) for (let i = out.length - 2; i >= 0; i -= 2) if (listed.has(out[i]!)) out.splice(i, 2);
  return out;
}

function latin1(v: string | Buffer): string {
  return typeof v === 'string' ? v : v.toString('latin1');
}

/** A Connection value that names no header beyond the hop-by-hop ones. */
const ONLY_HOP_BY_HOP = /^\s*(keep-alive|close)\s*$/i;

/**
 * Names origins send on nearly every answer, known to be tokens: the name check is skipped for them.
 * Which of them pass is still decided by HOP_BY_HOP.
 */
const COMMON_NAMES = new Set([
  'server',
  'date',
  'content-type',
  'content-length',
  'last-modified',
  'connection',
  'keep-alive',
  'etag',
  'accept-ranges',
  'cache-control',
  'access-control-allow-origin',
  'expires',
  'vary',
]);

/** A header field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters other than horizontal tab are never valid in a field value. */
function hasInvalidValueCharacter(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * Response headers for the client: the origin's end-to-end headers, hop-by-hop ones dropped, and any
 * header whose name is not a token or whose value holds a control character dropped too (a value
 * with CR/LF could split the response; Node would refuse to send others and fail the request).
 */
export function forwardResponseHeaders(headers: Dispatcher.ResponseData['headers'], opts: { keepLength: boolean }): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = connectionListed(headers as IncomingHttpHeaders);
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || listed.has(name) || !TOKEN.test(name)) continue;
    if (HOP_BY_HOP.has(name) && !(opts.keepLength && name === 'content-length')) continue;
    if (Array.isArray(value)) {
      const clean = value.filter((v) => !hasInvalidValueCharacter(v));
      if (clean.length > 0) out[name] = clean;
    } else if (!hasInvalidValueCharacter(value)) {
      out[name] = value;
    }
  }
  return out;
}

function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const c = headers.connection;
  if (!c) return new Set();
  return new Set(
    (Array.isArray(c) ? c.join(',') : c)
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

function isNamedVhost(host: string): boolean {
  try {
    return normaliseVhost(host) !== DEFAULT_VHOST;
  } catch {
    return false;
  }
}
