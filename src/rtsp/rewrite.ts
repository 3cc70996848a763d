// What the proxy changes in messages it relays, and nothing more: the `rtsp://host:port` of URLs
// (client → origin: the origin's address; origin → client: the address the client used), in the
// request line, the URL-carrying headers and SDP's absolute `a=control`/`a=content-base`. Auth
// headers, CSeq, Session and everything else pass unchanged; Content-Length follows a rewritten body.
import { header, setHeader, type RtspMessage } from './message.js';

const URL_PREFIX = /^rtsp[su]?:\/\/[^/?#\s]*/i;
/** Headers whose value holds URLs of the server (RTP-Info: `url=` items). */
const URL_HEADERS = ['content-base', 'content-location', 'rtp-info', 'location'];
const SDP_URL_LINE = /^(a=(?:control|content-base):)(.*)$/i;

/** `host:port` as it appears in a URL (IPv6 in brackets). */
export function urlAuthority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The `rtsp://authority` a request URI starts with (undefined for `*` or a relative URI). */
export function uriAuthority(uri: string): string | undefined {
  const m = URL_PREFIX.exec(uri);
  if (!m) return undefined;
  return m[0].slice(m[0].indexOf('//') + 2);
}

/** Points a URL at `authority` (`rtsp://origin:554/live/s` from `rtsp://proxy:18554/live/s`); other URIs unchanged. */
export function retarget(uri: string, authority: string): string {
  return URL_PREFIX.test(uri) ? uri.replace(URL_PREFIX, `rtsp://${authority}`) : uri;
}

/** Replaces every `rtsp://from` (case-insensitive scheme and host) by `rtsp://to` in `text`. */
function replaceAuthority(text: string, from: string, to: string): string {
  const pattern = new RegExp(`rtsp://${escapeRegExp(from)}(?=[/?#;,"\\s]|$)`, 'gi');
  return text.replace(pattern, `rtsp://${to}`);
}

/** Rewrites absolute URL lines of an SDP body with `map`; undefined when nothing changed. */
function rewriteSdp(body: Buffer, map: (url: string) => string): Buffer | undefined {
  const text = body.toString('utf8');
  let changed = false;
  const out = text
    .split('\n')
    .map((line) => {
      const cr = line.endsWith('\r') ? '\r' : '';
      const m = SDP_URL_LINE.exec(cr ? line.slice(0, -1) : line);
      if (!m) return line;
      const next = map(m[2]!);
      if (next === m[2]) return line;
      changed = true;
      return m[1] + next + cr;
    })
    .join('\n');
  return changed ? Buffer.from(out, 'utf8') : undefined;
}

function isSdp(msg: RtspMessage): boolean {
  return msg.body.length > 0 && (header(msg, 'content-type') ?? '').toLowerCase().startsWith('application/sdp');
}

function replaceBody(msg: RtspMessage, body: Buffer | undefined): void {
  if (!body) return;
  msg.body = body;
  setHeader(msg, 'Content-Length', String(body.length));
}

/** Client → origin: the request URI and any absolute URL in an SDP body (ANNOUNCE) point at the origin. */
export function towardOrigin(msg: RtspMessage, origin: string): void {
  if (msg.kind === 'request') msg.uri = retarget(msg.uri, origin);
  if (isSdp(msg))
    replaceBody(
      msg,
      rewriteSdp(msg.body, (url) => retarget(url, origin)),
    );
}

/** Origin → client: URLs naming the origin name the proxy as the client addressed it. */
export function towardClient(msg: RtspMessage, origin: string, client: string): void {
  if (origin === client) return;
  for (const h of msg.headers) {
    if (URL_HEADERS.includes(h.name.toLowerCase())) h.value = replaceAuthority(h.value, origin, client);
  }
  if (msg.kind === 'request') msg.uri = replaceAuthority(msg.uri, origin, client);
  if (isSdp(msg))
    replaceBody(
      msg,
      rewriteSdp(msg.body, (url) => replaceAuthority(url, origin, client)),
    );
}

/**
 * Only interleaved transport is relayed. Keeps the TCP options of a SETUP's Transport header
 * (`RTP/AVP/TCP;interleaved=0-1`); undefined when it offers none (the proxy answers 461).
 */
export function interleavedOnly(transport: string): string | undefined {
  const options = transport
    .split(',')
    .map((o) => o.trim())
    .filter((o) => {
      const spec = (o.split(';')[0] ?? '').toUpperCase();
      return /^RTP\/AVPF?\/TCP$|^RTP\/SAVPF?\/TCP$/.test(spec) || /(^|;)\s*interleaved=/i.test(o);
    });
  return options.length > 0 ? options.join(',') : undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
