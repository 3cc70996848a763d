// The origin record: what an origin told us in its heartbeat, validated once, with its endpoints parsed.
import { EndpointError, endpointHost, parseEndpoint, type Endpoint, type Transport } from './endpoint.js';
import { clip, hasControlCharacter } from '../text.js';
import { LoadReportError, parseSummaries, parseWeight, type ReportedLoad } from '../health/load.js';

export const SERVICES = ['rtmp', 'http', 'api', 'srt', 'rtc', 'rtsp'] as const;
export type Service = (typeof SERVICES)[number];

/** Transport assumed for an endpoint without a scheme, per service. */
const DEFAULT_TRANSPORT: Record<Service, Transport> = {
  rtmp: 'tcp',
  http: 'tcp',
  api: 'tcp',
  srt: 'udp',
  rtc: 'udp',
  rtsp: 'tcp',
};

export interface Origin {
  /** `<server>-<service>-<pid>`, the Go proxy's record id. */
  id: string;
  serverId: string;
  serviceId: string;
  pid: string;
  ip: string;
  deviceId: string;
  /** Endpoint strings exactly as registered (kept for display and the Redis record). */
  endpoints: Partial<Record<Service, string[]>>;
  /** The same endpoints, parsed. */
  parsed: Partial<Record<Service, Endpoint[]>>;
  /** Last heartbeat, ms since the epoch. */
  updatedAt: number;
  /** Load from the heartbeat's `summaries` (SRS with `summaries on`), when sent and readable. */
  load?: ReportedLoad;
  /** Share of new streams relative to other origins (default 1), from the heartbeat's `weight`. */
  weight?: number;
  /** The origin server's version (SRS: `summaries.data.self.version`, or its User-Agent), for display only. */
  version?: string;
}

export interface DialTarget {
  host: string;
  port: number;
  transport: Transport;
}

export class RegisterError extends Error {
  override readonly name = 'RegisterError';
}

const MAX_ID = 256;
const MAX_ENDPOINTS = 16;
/** A version is a short token such as `7.0.48` or `5.0-r3`: anything else is ignored. */
const VERSION = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,31}$/;

/**
 * Validates a register body (the SRS heartbeat, or the manual curl form of the SRS docs).
 * Order and texts of the first checks match the Go proxy (`empty ip`, `empty server`, …).
 */
export function parseRegistration(body: unknown, now: number, userAgent?: string): Origin {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RegisterError('body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  const ip = requiredString(b, 'ip');
  const serverId = requiredString(b, 'server');
  const serviceId = requiredString(b, 'service');
  const pid = requiredPid(b.pid);
  if (!/^[A-Za-z0-9.:_%-]+$/.test(ip) || ip.length > 253) throw new RegisterError(`invalid ip "${clip(ip)}"`);
  const deviceId = optionalString(b, 'device_id');
  const endpoints: Partial<Record<Service, string[]>> = {};
  const parsed: Partial<Record<Service, Endpoint[]>> = {};
  for (const service of SERVICES) {
    const list = endpointList(b, service);
    if (list === undefined) continue;
    endpoints[service] = list;
    parsed[service] = list.map((text, i) => {
      try {
        return parseEndpoint(text, DEFAULT_TRANSPORT[service]);
      } catch (err) {
        if (err instanceof EndpointError) throw new RegisterError(`invalid ${service}[${i}]: ${err.message}`, { cause: err });
        throw err;
      }
    });
  }
  if (!endpoints.rtmp || endpoints.rtmp.length === 0) throw new RegisterError('empty rtmp');
  const origin: Origin = { id: `${serverId}-${serviceId}-${pid}`, serverId, serviceId, pid, ip, deviceId, endpoints, parsed, updatedAt: now };
  const weight = optionalWeight(b.weight);
  if (weight !== undefined) origin.weight = weight;
  const load = optionalSummaries(b.summaries);
  if (load !== undefined) origin.load = load;
  const version = reportedVersion(b) ?? versionFromUserAgent(userAgent);
  if (version !== undefined) origin.version = version;
  return origin;
}

/**
 * The version an origin reports: a top-level `version` (our Redis record, manual registrations) or
 * SRS's `summaries.data.self.version`. Advisory: a missing or malformed one is ignored.
 */
function reportedVersion(b: Record<string, unknown>): string | undefined {
  if (validVersion(b.version)) return b.version;
  const s = b.summaries;
  if (typeof s !== 'object' || s === null) return undefined;
  const data = (s as Record<string, unknown>).data;
  const holder = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : (s as Record<string, unknown>);
  const self = holder.self;
  if (typeof self !== 'object' || self === null) return undefined;
  const v = (self as Record<string, unknown>).version;
  return validVersion(v) ? v : undefined;
}

/** SRS's heartbeat User-Agent is `SRS/<version>(<codename>)`. */
export function versionFromUserAgent(userAgent: string | undefined): string | undefined {
  const m = userAgent === undefined ? null : /^SRS\/([0-9A-Za-z._+-]{1,32})(?:[ (]|$)/.exec(userAgent);
  return m && validVersion(m[1]) ? m[1] : undefined;
}

function validVersion(v: unknown): v is string {
  return typeof v === 'string' && VERSION.test(v);
}

function optionalWeight(v: unknown): number | undefined {
  try {
    return parseWeight(v);
  } catch (err) {
    if (err instanceof LoadReportError) throw new RegisterError(err.message);
    throw err;
  }
}

/** Statistics are advisory: unreadable ones are ignored, never a reason to refuse the heartbeat. */
function optionalSummaries(v: unknown): ReportedLoad | undefined {
  try {
    return parseSummaries(v);
  } catch (err) {
    if (err instanceof LoadReportError) return undefined;
    throw err;
  }
}

function requiredString(b: Record<string, unknown>, field: string): string {
  const v = b[field];
  if (v === undefined || v === null || v === '') throw new RegisterError(`empty ${field}`);
  if (typeof v !== 'string') throw new RegisterError(`${field} must be a string`);
  if (v.length > MAX_ID) throw new RegisterError(`${field} longer than ${MAX_ID} characters`);
  if (hasControlCharacter(v)) throw new RegisterError(`${field} contains a control character`);
  // A lone surrogate cannot be written as UTF-8: such an id could never be named in a DELETE URL or a Redis key.
  if (/[\ud800-\udfff]/u.test(v)) throw new RegisterError(`${field} is not valid Unicode`);
  return v;
}

function optionalString(b: Record<string, unknown>, field: string): string {
  const v = b[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new RegisterError(`${field} must be a string`);
  if (v.length > MAX_ID) throw new RegisterError(`${field} longer than ${MAX_ID} characters`);
  return v;
}

/** SRS sends pid as a string; scripts often send a number. Both are accepted. */
function requiredPid(v: unknown): string {
  if (v === undefined || v === null || v === '') throw new RegisterError('empty pid');
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new RegisterError('pid must be a non-negative integer');
    return String(v);
  }
  if (typeof v !== 'string') throw new RegisterError('pid must be a string or a number');
  if (v.length > 32 || hasControlCharacter(v)) throw new RegisterError(`invalid pid "${clip(v)}"`);
  return v;
}

function endpointList(b: Record<string, unknown>, field: string): string[] | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new RegisterError(`${field} must be an array of strings`);
  if (v.length > MAX_ENDPOINTS) throw new RegisterError(`${field} has more than ${MAX_ENDPOINTS} endpoints`);
  return v.map((item, i) => {
    if (typeof item === 'number' && Number.isInteger(item)) return String(item);
    if (typeof item !== 'string') throw new RegisterError(`${field}[${i}] must be a string`);
    return item;
  });
}

/**
 * Where to dial an origin for a service, in preference order (first endpoint first; the rest are
 * fallbacks). `transport` filters, e.g. only the UDP entries of `rtc`.
 */
export function dialTargets(origin: Origin, service: Service, transport?: Transport): DialTarget[] {
  const list = origin.parsed[service] ?? [];
  const out: DialTarget[] = [];
  for (const ep of list) {
    if (transport && ep.transport !== transport) continue;
    out.push({ host: endpointHost(ep, origin.ip), port: ep.port, transport: ep.transport });
  }
  return out;
}
