// The ONE stream-key normaliser. Every protocol turns what its client sent into a StreamKey here,
// so that an SRT publish, an RTMP play and an HLS request for the same stream meet on the same origin.
//
// Key string: `<vhost>/<app>/<stream>` — byte-compatible with the SRS Go proxy's `<vhost><path>`.
// Rules (BEHAVIOUR.md §3.1, with the fixes of BEHAVIOUR.md §9.2 #12):
// - vhost = the host name, lower-cased, without port; `__defaultVhost__` when it has no dot or is an
//   IP literal. A `vhost=` (or `domain=`) query parameter overrides it, as SRS does.
// - queries never enter the key; the app may hold slashes (`live/sub`), the stream may not.

import { clip, hasControlCharacter } from './text.js';

export const DEFAULT_VHOST = '__defaultVhost__';
const MAX_KEY_LENGTH = 1024;

export class StreamKeyError extends Error {
  override readonly name = 'StreamKeyError';
}

export interface StreamKey {
  vhost: string;
  app: string;
  stream: string;
  /** `${vhost}/${app}/${stream}` */
  key: string;
}

export type SrtMode = 'publish' | 'request';

export interface SrtStreamId extends StreamKey {
  mode: SrtMode;
  /** Every key=value of the stream id (`r`, `h`, `m`, `u`, `s`, `t` and custom ones, plus query ones). */
  params: Map<string, string>;
}

/** vhost for a host name, per the SRS rule. */
export function normaliseVhost(host: string | undefined): string {
  if (!host) return DEFAULT_VHOST;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return DEFAULT_VHOST; // bracketed IPv6 literal
  const colon = h.lastIndexOf(':');
  if (colon !== -1) {
    if (h.indexOf(':') !== colon) return DEFAULT_VHOST; // bare IPv6 literal
    h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '' || h === DEFAULT_VHOST.toLowerCase() || !h.includes('.') || isIpv4(h)) return DEFAULT_VHOST;
  if (!/^[a-z0-9._-]+$/.test(h)) throw new StreamKeyError(`invalid vhost "${clip(host)}"`);
  return h;
}

function isIpv4(h: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h);
}

/** Builds a key from its parts, checking them. `app` may contain '/' but not empty segments. */
export function makeStreamKey(vhost: string, app: string, stream: string): StreamKey {
  const a = trimSlashes(app);
  const s = stream;
  if (a === '') throw new StreamKeyError('missing app');
  if (s === '') throw new StreamKeyError('missing stream name');
  if (s.includes('/')) throw new StreamKeyError(`stream name "${clip(s)}" contains '/'`);
  if (a.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw new StreamKeyError(`invalid app "${clip(a)}"`);
  }
  if (s === '.' || s === '..') throw new StreamKeyError(`invalid stream name "${s}"`);
  // Control characters never belong in a key (they would also corrupt logs and Redis key names).
  if (hasControlCharacter(a + s)) throw new StreamKeyError('control character in stream key');
  const key = `${vhost}/${a}/${s}`;
  if (key.length > MAX_KEY_LENGTH) throw new StreamKeyError(`stream key longer than ${MAX_KEY_LENGTH} characters`);
  return { vhost, app: a, stream: s, key };
}

/** Splits `app/.../stream` at its last slash. */
function fromPath(vhost: string, path: string): StreamKey {
  const p = trimSlashes(path);
  const slash = p.lastIndexOf('/');
  if (slash === -1) throw new StreamKeyError(p === '' ? 'missing app and stream' : `missing app in "${clip(p)}"`);
  return makeStreamKey(vhost, p.slice(0, slash), p.slice(slash + 1));
}

function vhostOverride(params: URLSearchParams | Map<string, string>, fallback: string): string {
  const v = params.get('vhost') || params.get('domain');
  return v ? normaliseVhost(v) : fallback;
}

/**
 * RTMP: tcUrl (`rtmp://host[:port]/app[?query]`) + stream name (`name[?query]`).
 * `app` (from the connect command) is used when the tcUrl is empty or unparsable.
 */
export function streamKeyFromRtmp(tcUrl: string, streamName: string, connectApp?: string): StreamKey {
  const [name = '', nameQuery = ''] = splitOnce(streamName, '?');
  let host: string | undefined;
  let app: string;
  let tcQuery: string;
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(tcUrl.trim());
  if (m) {
    host = stripUserInfo(m[1]!);
    app = decodeSafe(m[2]!);
    tcQuery = m[3] ?? '';
  } else {
    const [a = '', q = ''] = splitOnce(connectApp ?? '', '?');
    app = a;
    tcQuery = q;
  }
  if (trimSlashes(app) === '' && connectApp) app = splitOnce(connectApp, '?')[0] ?? '';
  const params = new URLSearchParams(tcQuery);
  for (const [k, v] of new URLSearchParams(nameQuery)) params.set(k, v);
  const vhost = vhostOverride(params, normaliseVhost(host));
  // A stream name may itself carry path segments (`rtmp://h/live` + `sub/s`): they belong to the app.
  return fromPath(vhost, `${trimSlashes(app)}/${name}`);
}

export interface HttpStreamRequest {
  /** Host header (with or without port). */
  host: string | undefined;
  /** Decoded path, e.g. `/live/livestream.flv`. */
  path: string;
  query: URLSearchParams;
}

/**
 * HTTP (FLV/TS/HLS/DASH): the path minus its extension, or the `app`/`stream` query parameters.
 * The vhost is the Host header's name with or without a port (BEHAVIOUR.md §9.2 #12).
 * `defaults` supplies a missing app/stream (WHIP/WHEP use live/livestream).
 */
export function streamKeyFromHttp(req: HttpStreamRequest, defaults?: { app: string; stream: string }): StreamKey {
  const vhost = vhostOverride(req.query, normaliseVhost(req.host));
  const qApp = req.query.get('app');
  const qStream = req.query.get('stream');
  if (qApp || qStream || defaults) {
    const app = qApp || defaults?.app || '';
    const stream = stripExtension(qStream || defaults?.stream || '');
    return makeStreamKey(vhost, app, stream);
  }
  const p = req.path;
  const slash = p.lastIndexOf('/');
  return fromPath(vhost, p.slice(0, slash + 1) + stripExtension(p.slice(slash + 1)));
}

/** WHIP/WHEP: `?app=&stream=` with SRS's defaults `live`/`livestream`. */
export function streamKeyFromWebrtc(host: string | undefined, query: URLSearchParams): StreamKey {
  return streamKeyFromHttp({ host, path: '/', query }, { app: 'live', stream: 'livestream' });
}

/** A stream URL such as SRS's JSON WebRTC API `streamurl` (`webrtc://host/app/stream?x=y`). */
export function streamKeyFromUrl(url: string): StreamKey {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(url.trim());
  if (!m) throw new StreamKeyError(`not a stream URL: "${clip(url)}"`);
  const params = new URLSearchParams(m[3] ?? '');
  const vhost = vhostOverride(params, normaliseVhost(stripUserInfo(m[1]!)));
  return fromPath(vhost, decodeSafe(m[2]!));
}

/**
 * RTSP: the request URI (`rtsp://host[:port]/app/stream[?vhost=…]`). A trailing slash is ignored
 * (`Content-Base` style URLs); the vhost follows the same rule as an RTMP tcUrl's host.
 */
export function streamKeyFromRtsp(uri: string): StreamKey {
  if (!/^rtsp[su]?:\/\//i.test(uri.trim())) throw new StreamKeyError(`not an rtsp:// URL: "${clip(uri)}"`);
  return streamKeyFromUrl(uri);
}

/**
 * SRT stream id, every form SRS accepts (BEHAVIOUR.md §7.5):
 * `#!::r=app/stream?k=v,m=publish,h=vhost,u=user,...` (parsed as key=value pairs, `?` acts like `,`),
 * legacy `#!::h=[vhost/]app/stream`, and plain `[app/]stream` (app defaults to `live`).
 */
export function streamKeyFromSrt(streamId: string): SrtStreamId {
  const sid = streamId.replace(/\0+$/, '').trim();
  if (sid === '') throw new StreamKeyError('empty SRT stream id');
  const params = new Map<string, string>();
  let resource: string;
  let host: string | undefined;
  if (sid.startsWith('#!::')) {
    for (const item of sid.slice(4).split(',')) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      if (eq <= 0) throw new StreamKeyError(`malformed SRT stream id item "${clip(item)}"`);
      const k = item.slice(0, eq).trim();
      let v = item.slice(eq + 1);
      if (k === 'r' || k === 'h') {
        // The resource may carry a query (`r=live/s?secret=x&k=v`): its pairs become params too.
        const [path = '', query = ''] = splitOnce(v, '?');
        v = path;
        for (const [qk, qv] of new URLSearchParams(query)) if (!params.has(qk)) params.set(qk, qv);
      }
      params.set(k, v);
    }
    const r = params.get('r');
    const h = params.get('h');
    if (r !== undefined && r !== '') {
      resource = r;
      host = h;
    } else if (h !== undefined && h.includes('/')) {
      // Legacy form: h carries [vhost/]app/stream.
      const parts = trimSlashes(h).split('/');
      if (parts.length >= 3) {
        host = parts[0];
        resource = parts.slice(1).join('/');
      } else resource = parts.join('/');
    } else throw new StreamKeyError('SRT stream id has no resource (r=)');
  } else {
    const [path = '', query = ''] = splitOnce(sid, '?');
    resource = path;
    for (const [qk, qv] of new URLSearchParams(query)) params.set(qk, qv);
  }
  const res = trimSlashes(resource);
  const withApp = res.includes('/') ? res : `live/${res}`;
  const vhost = vhostOverride(params, normaliseVhost(host));
  const key = fromPath(vhost, withApp);
  const m = (params.get('m') ?? 'request').toLowerCase();
  if (m !== 'publish' && m !== 'request') throw new StreamKeyError(`unknown SRT mode m=${clip(m)}`);
  return { ...key, mode: m, params };
}

/** Removes the last extension of a file name (`livestream.flv` → `livestream`). */
export function stripExtension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? name.slice(0, dot) : name;
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i === -1 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

function stripUserInfo(authority: string): string {
  const at = authority.lastIndexOf('@');
  return at === -1 ? authority : authority.slice(at + 1);
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new StreamKeyError(`invalid percent-encoding in "${clip(s)}"`);
  }
}
