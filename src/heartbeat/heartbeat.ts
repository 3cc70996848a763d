// Heartbeat sidecar for origins that cannot register themselves (nginx-rtmp, Node-Media-Server, …):
// POSTs the same body an SRS origin sends (BEHAVIOUR.md §2.3) to the proxy's register API on an interval.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.js';
import { redactUrl, type Logger } from '../log.js';
import { clip } from '../text.js';
import { LoadReportError, MAX_WEIGHT, MIN_WEIGHT, parseWeight } from '../health/load.js';

export interface HeartbeatOptions {
  url: string;
  ip: string;
  server: string;
  service: string;
  deviceId: string;
  rtmp: string[];
  http: string[];
  api: string[];
  srt: string[];
  rtc: string[];
  rtsp: string[];
  intervalMs: number;
  token: string | undefined;
  timeoutMs: number;
  /** Share of new streams relative to other origins (default 1 at the proxy). */
  weight?: number;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const HEARTBEAT_USAGE = `usage: origin-proxy heartbeat --url http://proxy:12025/api/v1/srs/register --ip ORIGIN_IP --rtmp PORT
        [--http PORT] [--api PORT] [--srt udp://0.0.0.0:PORT] [--rtc udp://0.0.0.0:PORT] [--rtsp PORT]
        [--interval 10s] [--timeout 5s] [--server ID] [--device-id LABEL] [--token SECRET] [--weight N] [--once]
--weight (${MIN_WEIGHT}..${MAX_WEIGHT}, default 1) scales the share of new streams this origin gets.
Endpoint flags may repeat. --server defaults to an id derived from --ip and the endpoints, stable across restarts.
--rtsp PORT is where the proxy's RTSP listener (PROXY_RTSP_SERVER) sends RTSP clients.`;

export function parseHeartbeatArgs(argv: string[]): HeartbeatOptions & { once: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        url: { type: 'string' },
        ip: { type: 'string' },
        server: { type: 'string' },
        'device-id': { type: 'string' },
        rtmp: { type: 'string', multiple: true },
        http: { type: 'string', multiple: true },
        api: { type: 'string', multiple: true },
        srt: { type: 'string', multiple: true },
        rtc: { type: 'string', multiple: true },
        rtsp: { type: 'string', multiple: true },
        interval: { type: 'string' },
        timeout: { type: 'string' },
        token: { type: 'string' },
        weight: { type: 'string' },
        once: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  if (!values.url) throw new UsageError('--url is required');
  try {
    const u = new URL(values.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`--url ${redactUrl(values.url)} is not an http(s) URL`);
  }
  if (!values.ip) throw new UsageError('--ip is required');
  if (!values.rtmp?.length) throw new UsageError('--rtmp is required (the proxy needs an RTMP endpoint)');
  const duration = (flag: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    try {
      const ms = parseDuration(text);
      if (ms <= 0) throw new Error('must be greater than zero');
      return ms;
    } catch (err) {
      throw new UsageError(`--${flag}: ${(err as Error).message}`, { cause: err });
    }
  };
  const lists = {
    rtmp: values.rtmp,
    http: values.http ?? [],
    api: values.api ?? [],
    srt: values.srt ?? [],
    rtc: values.rtc ?? [],
    rtsp: values.rtsp ?? [],
  };
  let weight: number | undefined;
  try {
    weight = parseWeight(values.weight);
  } catch (err) {
    if (err instanceof LoadReportError) throw new UsageError(`--weight: ${err.message}`);
    throw err;
  }
  const stableId = createHash('sha256')
    .update(JSON.stringify([values.ip, lists]))
    .digest('hex')
    .slice(0, 7);
  return {
    url: values.url,
    ip: values.ip,
    server: values.server ?? `hb-${stableId}`,
    service: randomBytes(4).toString('hex'),
    deviceId: values['device-id'] ?? '',
    ...lists,
    intervalMs: duration('interval', values.interval, 10_000),
    timeoutMs: duration('timeout', values.timeout, 5_000),
    token: values.token,
    once: values.once ?? false,
    ...(weight !== undefined ? { weight } : {}),
  };
}

/** The register body, field order as SRS writes it. */
export function heartbeatBody(o: HeartbeatOptions, pid = process.pid): Record<string, unknown> {
  const body: Record<string, unknown> = { device_id: o.deviceId, ip: o.ip, server: o.server, service: o.service, pid: String(pid) };
  for (const k of ['rtmp', 'http', 'api', 'srt', 'rtc', 'rtsp'] as const) if (o[k].length) body[k] = o[k];
  if (o.weight !== undefined) body.weight = o.weight;
  return body;
}

/** Sends one heartbeat; resolves true on 200, false (after logging why) otherwise. */
export async function sendHeartbeat(o: HeartbeatOptions, log: Logger): Promise<boolean> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  try {
    const res = await fetch(o.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(heartbeatBody(o)),
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    const text = await res.text();
    if (res.status !== 200) {
      const reason = refusalReason(res.status, text);
      log.warn({ url: redactUrl(o.url), status: res.status, reason }, `heartbeat refused: ${reason}`);
      return false;
    }
    log.debug({ server: o.server }, 'heartbeat sent');
    return true;
  } catch (err) {
    const { reason, code } = failureReason(err, o.url, o.timeoutMs);
    log.warn({ url: redactUrl(o.url), code, reason }, `heartbeat failed: ${reason}`);
    return false;
  }
}

/** `HTTP <status>: <the error the proxy named>` from its `{code, error}` body, or the start of any other body. */
export function refusalReason(status: number, body: string): string {
  let detail = clip(body.trim(), 200);
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string' && parsed.error !== '') detail = clip(parsed.error, 200);
  } catch {
    // not JSON: the text itself says what went wrong
  }
  return detail === '' ? `HTTP ${status}` : `HTTP ${status}: ${detail}`;
}

/**
 * Why a request never got an answer, in words an operator can act on. fetch only says "fetch failed";
 * the socket or DNS error that caused it is its `cause` (for several addresses, an AggregateError).
 */
export function failureReason(err: unknown, url: string, timeoutMs: number): { reason: string; code: string | undefined } {
  const e = err as Error & { cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return { reason: `no answer within ${timeoutMs} ms`, code: 'TIMEOUT' };
  let cause = e?.cause as (Error & { code?: string; errors?: unknown[] }) | undefined;
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0] as typeof cause;
  const code = cause?.code;
  let target = url;
  try {
    target = new URL(url).host;
  } catch {
    // keep the text as given
  }
  const host = target.replace(/:\d+$/, '');
  switch (code) {
    case 'ECONNREFUSED':
      return { reason: `connection refused by ${target} (nothing listens there)`, code };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return { reason: `cannot resolve ${host} (${code})`, code };
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { reason: `connecting to ${target} timed out`, code };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { reason: `${target} is unreachable (${code})`, code };
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return { reason: `${target} closed the connection before answering (${code})`, code };
  }
  if (cause instanceof Error) return { reason: code ? `${cause.message} (${code})` : cause.message, code };
  return { reason: e instanceof Error ? e.message : String(err), code };
}

/** Sends heartbeats every intervalMs until stop() is called. */
export function runHeartbeat(o: HeartbeatOptions, log: Logger): { stop(): void; first: Promise<boolean> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async (): Promise<boolean> => {
    const ok = await sendHeartbeat(o, log);
    if (!stopped) timer = setTimeout(() => void loop(), o.intervalMs);
    return ok;
  };
  const first = loop();
  return {
    first,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
