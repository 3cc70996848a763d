// The Redis key schema and value shapes of the SRS Go proxy (BEHAVIOUR.md §3.2, 3.5-3.7), byte-compatible so a
// fleet mixing origin-proxy and the Go proxy reads each other's servers, pins and sessions. Pure: strings
// in, values out, or a RedisRecordError.
import type { HlsSession, RtcSession } from './balancer.js';
import { parseRegistration, RegisterError, SERVICES, type Origin } from './origin.js';

export class RedisRecordError extends Error {
  override readonly name = 'RedisRecordError';
}

export const SERVER_KEY_PREFIX = 'srs-proxy-server:';
export const ALL_SERVERS_KEY = 'srs-proxy-all-servers';
export const URL_KEY_PREFIX = 'srs-proxy-url:';
export const HLS_KEY_PREFIX = 'srs-proxy-hls:';
export const SPBHID_KEY_PREFIX = 'srs-proxy-spbhid:';
export const RTC_KEY_PREFIX = 'srs-proxy-rtc:';
export const UFRAG_KEY_PREFIX = 'srs-proxy-ufrag:';
/** `SET srs-proxy-server:<id> … EX 300`, as the Go proxy (liveness itself is judged by `update_at`). */
export const SERVER_KEY_TTL_S = 300;

/** `srs-proxy-server:<server>-<service>-<pid>` */
export const serverKey = (originId: string): string => SERVER_KEY_PREFIX + originId;
/** `srs-proxy-url:<streamKey>`: holds a server key, no TTL. */
export const urlKey = (streamKey: string): string => URL_KEY_PREFIX + streamKey;
export const hlsKey = (streamKey: string): string => HLS_KEY_PREFIX + streamKey;
export const spbhidKey = (spbhid: string): string => SPBHID_KEY_PREFIX + spbhid;
export const rtcKey = (streamKey: string): string => RTC_KEY_PREFIX + streamKey;
export const ufragKey = (ufrag: string): string => UFRAG_KEY_PREFIX + ufrag;

/** The origin id inside a server key (`srs-proxy-server:a-b-1` → `a-b-1`). */
export function originIdOfKey(key: string): string {
  return key.startsWith(SERVER_KEY_PREFIX) ? key.slice(SERVER_KEY_PREFIX.length) : key;
}

/**
 * JSON as Go's encoding/json writes it: no spaces, and `<`, `>`, `&`, U+2028, U+2029 escaped
 * (Go escapes them for HTML safety; JSON.stringify does not).
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `update_at`: RFC 3339 with nanoseconds. JS clocks have milliseconds, so the last six digits are
 * zeros: `2026-11-21T06:58:39.123000000Z`. Go reads any fraction length and zone.
 */
export function formatUpdateAt(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-21T06:58:39.123Z
  return `${iso.slice(0, -1)}000000Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses Go's `update_at` (any fraction length, `Z` or `±hh:mm`) to ms since the epoch (sub-ms dropped). */
export function parseUpdateAt(text: string): number {
  const m = RFC3339.exec(text);
  if (!m) throw new RedisRecordError(`update_at "${text.slice(0, 40)}" is not RFC 3339`);
  const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) {
    throw new RedisRecordError(`update_at "${text}" is out of range`);
  }
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999 (Go's zero time is year 1).
  const date = new Date(0);
  date.setUTCFullYear(Number(y), month - 1, day);
  date.setUTCHours(Number(h), Number(mi), Number(s), frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0);
  let ms = date.getTime();
  if (sign) ms -= (sign === '+' ? 1 : -1) * (Number(oh) * 60 + Number(om)) * 60_000;
  return ms;
}

/**
 * The server record (BEHAVIOUR.md §3.2): the Go field order, empty fields omitted except `update_at`.
 * `rtsp` and `version` are our additions (Go ignores unknown fields).
 */
export function encodeServerRecord(o: Origin): string {
  const out: Record<string, unknown> = {};
  if (o.ip) out.ip = o.ip;
  if (o.deviceId) out.device_id = o.deviceId;
  if (o.serverId) out.server_id = o.serverId;
  if (o.serviceId) out.service_id = o.serviceId;
  if (o.pid) out.pid = o.pid;
  for (const s of ['rtmp', 'http', 'api', 'srt', 'rtc', 'rtsp'] as const) {
    const list = o.endpoints[s];
    if (list && list.length > 0) out[s] = list;
  }
  out.update_at = formatUpdateAt(o.updatedAt);
  if (o.version) out.version = o.version;
  return goJson(out);
}

/** A server record written by us or by the Go proxy, validated as a heartbeat would be. */
export function decodeServerRecord(raw: string): Origin {
  const r = parseObject(raw, 'server record');
  const body: Record<string, unknown> = {
    ip: r.ip,
    server: r.server_id,
    service: r.service_id,
    pid: r.pid,
    device_id: r.device_id,
    version: r.version,
  };
  for (const s of SERVICES) if (r[s] !== undefined) body[s] = r[s];
  // A record without a time (or Go's zero time) is as old as it gets: usable only as the stale fallback.
  const updatedAt = typeof r.update_at === 'string' ? parseUpdateAt(r.update_at) : 0;
  try {
    return parseRegistration(body, updatedAt);
  } catch (err) {
    if (err instanceof RegisterError) throw new RedisRecordError(`server record: ${err.message}`, { cause: err });
    throw err;
  }
}

/** `srs-proxy-all-servers`: a JSON array of server keys. */
export function encodeServerList(keys: readonly string[]): string {
  return goJson(keys);
}

export function decodeServerList(raw: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new RedisRecordError('server list is not JSON');
  }
  if (!Array.isArray(v)) throw new RedisRecordError('server list is not a JSON array');
  return [...new Set(v.filter((k): k is string => typeof k === 'string'))];
}

/** HLS record (BEHAVIOUR.md §3.5): `{"spbhid":…,"stream_url":…,"full_url":…}`. */
export function encodeHlsRecord(s: HlsSession): string {
  return goJson({ spbhid: s.spbhid, stream_url: s.streamKey, full_url: s.fullUrl });
}

export function decodeHlsRecord(raw: string): HlsSession {
  const r = parseObject(raw, 'HLS record');
  if (typeof r.spbhid !== 'string' || r.spbhid === '') throw new RedisRecordError('HLS record without spbhid');
  if (typeof r.stream_url !== 'string' || r.stream_url === '') throw new RedisRecordError('HLS record without stream_url');
  return { spbhid: r.spbhid, streamKey: r.stream_url, fullUrl: typeof r.full_url === 'string' ? r.full_url : '' };
}

/**
 * WebRTC record (BEHAVIOUR.md §3.6): `{"stream_url":…,"ufrag":…}`, then every other field of the session as
 * plain JSON under its own name, so fields added to RtcSession later round-trip unchanged.
 */
export function encodeRtcRecord(s: RtcSession): string {
  const { streamKey, ufrag, ...rest } = s;
  return goJson({ stream_url: streamKey, ufrag, ...rest });
}

export function decodeRtcRecord(raw: string): RtcSession {
  const r = parseObject(raw, 'WebRTC record');
  const { stream_url: streamKey, ufrag, ...rest } = r;
  if (typeof streamKey !== 'string' || streamKey === '') throw new RedisRecordError('WebRTC record without stream_url');
  if (typeof ufrag !== 'string' || ufrag === '') throw new RedisRecordError('WebRTC record without ufrag');
  // The fields the relay dials with must have their types; a mistyped one is dropped, not trusted.
  for (const [k, type] of [
    ['serverId', 'string'],
    ['mediaHost', 'string'],
    ['mediaPort', 'number'],
    ['icePwd', 'string'],
    ['role', 'string'],
    ['offeredAt', 'number'],
  ] as const) {
    if (k in rest && typeof rest[k] !== type) delete rest[k];
  }
  return { ...rest, ufrag, streamKey } as RtcSession;
}

function parseObject(raw: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new RedisRecordError(`${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RedisRecordError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}
