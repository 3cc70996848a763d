// Structured logging (pino). JSON lines by default; human-readable text on a TTY or with
// PROXY_LOG_FORMAT=text. Every connection or request gets its own 7-hex context id (`cid`),
// carried by a child logger, so one grep follows one client across both legs of a relay.
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type pinoPretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger };

export interface LoggerOptions {
  level: LogLevel;
  /** undefined = text when the destination is a TTY, JSON otherwise */
  format: LogFormat | undefined;
  /** Defaults to stdout. */
  destination?: DestinationStream;
  isTty?: boolean;
}

/** Log fields that hold URLs (or request targets); the logger redacts them itself. */
const URL_FIELDS = ['url', 'tcUrl', 'location', 'target'];

/** Query parameter names whose values are credentials: token, password, secret, any *key, auth, signature. */
const SECRET_PARAM = /token|pass(word|wd)?|pwd|secret|key|auth|sig(nature)?|credential|session/i;
const CENSOR = '******';

/**
 * A URL (absolute, or a request target such as `/api?x=1`) fit for a log line: the userinfo and the
 * values of credential-like query parameters are replaced by ******. Never throws; works on
 * malformed input too (an attacker's URL is logged as well).
 */
export function redactUrl(text: string): string {
  let out = text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#@]*)@/, (_m, scheme: string) => `${scheme}${CENSOR}@`);
  const q = out.indexOf('?');
  if (q === -1) return out;
  const hash = out.indexOf('#', q);
  const query = out.slice(q + 1, hash === -1 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // keep the raw name
      }
      return SECRET_PARAM.test(decoded) && eq !== -1 ? `${name}=${CENSOR}` : pair;
    })
    .join('&');
  out = `${out.slice(0, q + 1)}${redacted}${hash === -1 ? '' : out.slice(hash)}`;
  return out;
}

export function createLogger(opts: LoggerOptions): Logger {
  const isTty = opts.isTty ?? process.stdout.isTTY === true;
  const format = opts.format ?? (isTty ? 'text' : 'json');
  const base = {
    level: opts.level,
    // Process-level lines carry no cid; each connection's child logger adds its own (no duplicate keys).
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // Belt and braces: secrets never reach a log line, whatever object is logged.
    redact: { paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization'], censor: '******' },
    // URL-shaped fields (also in child bindings) lose their credentials wherever they are logged.
    serializers: Object.fromEntries(URL_FIELDS.map((f) => [f, (v: unknown) => (typeof v === 'string' ? redactUrl(v) : v)])),
  };
  if (format === 'text') {
    // pino-pretty (~30 modules) is loaded only when text logs are asked for.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
    return pino(base, pretty({ sync: true, colorize: isTty, destination: opts.destination ?? 1, ignore: 'hostname' }));
  }
  return pino(base, opts.destination ?? pino.destination({ sync: false }));
}

/**
 * A fresh 7-hex-character context id (the same shape SRS uses for its cids). Not a secret, so
 * Math.random: crypto.randomBytes per request showed up at 9% of a register benchmark's CPU.
 */
export function newContextId(): string {
  return Math.floor(Math.random() * 0x10000000)
    .toString(16)
    .padStart(7, '0');
}

/** A child logger for one connection or request. */
export function contextLogger(log: Logger, bindings: Record<string, unknown> = {}): Logger {
  return log.child({ cid: newContextId(), ...bindings });
}

const LEVEL_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const noop = () => undefined;

/**
 * A context logger made on first real use: a level method the parent has disabled answers with a no-op
 * and makes nothing, anything else (a line to write, bindings(), child()) makes the child once, with
 * `bindings()` evaluated then. Requests that log nothing at the configured level cost no child logger
 * (a child per request was a visible share of a playlist request's CPU).
 */
export function lazyContextLogger(log: Logger, bindings: () => Record<string, unknown>): Logger {
  let child: Logger | undefined;
  let bound: Map<PropertyKey, unknown> | undefined;
  // The target is a plain object, so no proxy invariant ties what get returns to the parent's properties.
  return new Proxy({} as Logger, {
    get(_target, prop) {
      if (child === undefined) {
        if (typeof prop === 'string' && LEVEL_METHODS.has(prop) && !log.isLevelEnabled(prop)) return noop;
        child = contextLogger(log, bindings());
        bound = new Map();
      }
      const cached = bound!.get(prop);
      if (cached !== undefined) return cached;
      const value: unknown = Reflect.get(child, prop, child);
      if (typeof value !== 'function') return value;
      const fn = (value as (...args: unknown[]) => unknown).bind(child);
      bound!.set(prop, fn);
      return fn;
    },
  });
}
