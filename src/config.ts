// PROXY_* environment (+ .env) → one typed, validated Config. Every value is checked here, once;
// a bad value throws ConfigError naming the variable, and main.ts turns that into one log line and exit 255.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseDotenv } from './config/dotenv.js';
import { parseDuration } from './config/duration.js';
import { parseListenAddress, parsePort, type ListenAddress } from './config/listen.js';
import { parseCidrList, type Cidr } from './net/address-policy.js';
import { portZeroWarnings, quitTimeoutWarnings, unknownVariableWarnings } from './config/warnings.js';

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';

  constructor(
    readonly variable: string,
    readonly value: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`${variable}=${JSON.stringify(value)}: ${reason}`, options);
  }
}

export type LogFormat = 'json' | 'text';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface Listeners {
  rtmp: ListenAddress;
  httpServer: ListenAddress;
  httpApi: ListenAddress;
  webrtc: ListenAddress;
  srt: ListenAddress;
  systemApi: ListenAddress;
}

/** Which env variable configures each listener (for error messages naming the variable). */
export const LISTENER_VARIABLES: Record<keyof Listeners, string> = {
  rtmp: 'PROXY_RTMP_SERVER',
  httpServer: 'PROXY_HTTP_SERVER',
  httpApi: 'PROXY_HTTP_API',
  webrtc: 'PROXY_WEBRTC_SERVER',
  srt: 'PROXY_SRT_SERVER',
  systemApi: 'PROXY_SYSTEM_API',
};

export interface DefaultBackendConfig {
  ip: string;
  rtmp: string;
  http: string | undefined;
  api: string | undefined;
  rtc: string | undefined;
  srt: string | undefined;
}

export interface RedisConfig {
  host: string;
  port: number;
  password: string;
  db: number;
  /** ACL user name (from PROXY_REDIS_URL); undefined = the default user. */
  username: string | undefined;
  /** TLS to Redis (a `rediss://` PROXY_REDIS_URL). */
  tls: boolean;
  /** The variable(s) that named the Redis server, for error messages. */
  source: 'PROXY_REDIS_HOST/PROXY_REDIS_PORT' | 'PROXY_REDIS_URL' | 'PROXY_REDIS_SENTINELS' | 'PROXY_REDIS_CLUSTER_NODES';
  /** Sentinel mode: the sentinels to ask for the master named `sentinelName`. */
  sentinels: RedisNode[] | undefined;
  sentinelName: string;
  /** Redis Cluster mode: the seed nodes. */
  clusterNodes: RedisNode[] | undefined;
  /** While Redis is unreachable: fail new routing at once (`off`), or serve the last known pins and origins (`cache`). */
  fallback: 'off' | 'cache';
  /** How long the last known pins and origins may be served while Redis is unreachable. */
  fallbackTtlMs: number;
  /** Deadline of one Redis command (and of connecting). */
  timeoutMs: number;
}

export interface RedisNode {
  host: string;
  port: number;
}

export interface Config {
  listeners: Listeners;
  /** PROXY_RTSP_SERVER: the RTSP listener, undefined when turned off (empty or `off`). */
  rtsp: ListenAddress | undefined;
  /** Static root, or undefined when static serving is off. */
  staticFiles: string | undefined;
  loadBalancer: 'memory' | 'redis';
  redis: RedisConfig;
  /** Synthetic always-registered origin (BEHAVIOUR.md §3.8), or undefined when off. */
  defaultBackend: DefaultBackendConfig | undefined;
  graceQuitMs: number;
  forceQuitMs: number;
  logLevel: LogLevel;
  /** undefined = text on a TTY, JSON otherwise */
  logFormat: LogFormat | undefined;
  /** How long after its last heartbeat an origin counts as dead. */
  originExpireMs: number;
  /** Idle lifetime of HLS (spbhid) and WebRTC (ufrag) session records; refreshed on use. */
  sessionTtlMs: number;
  /** Upper bound on remembered stream → origin pins (least recently used are forgotten first). */
  maxStreamPins: number;
  /** Shared secret required by the register/admin API when set. Never logged. */
  registerToken: string | undefined;
  timeouts: Timeouts;
  /** SO_RCVBUF/SO_SNDBUF for the UDP listeners and their upstream sockets (bytes). */
  udpBufferBytes: number;
  /** Cap on concurrent UDP sessions per protocol (WebRTC, SRT). */
  maxUdpSessions: number;
  /** Address written into WebRTC answer candidates; undefined keeps the origin's (as SRS does). */
  webrtcCandidate: string | undefined;
  /** Largest RTMP message accepted from a client or origin (bytes). */
  rtmpMaxMessageSize: number;
  /** Bytes of HLS/DASH answers the edge cache keeps (PROXY_HLS_CACHE_MAX); 0 = no cache. */
  hlsCacheMaxBytes: number;
  /** Key of the MAC on WHIP/WHEP resource URLs; undefined: random per process, or shared through Redis. Never logged. */
  sessionSecret: string | undefined;
  /** Cap on concurrent WebRTC and SRT sessions from one source IP address (each protocol). */
  maxUdpSessionsPerIp: number;
  /** Active origin probes. */
  health: HealthConfig;
  /** A listener of its own for `GET /metrics` (PROXY_METRICS_LISTEN); undefined = only on the system API. */
  metricsListen: ListenAddress | undefined;
  /** Hardening of the edge: admission limits, access lists, TLS. */
  edge: EdgeConfig;
  /** PROXY_WORKERS: processes serving clients; 1 = this process alone (docs/ARCHITECTURE.md, "Worker processes"). */
  workers: number;
  /** Edge mode (PROXY_EDGE…): one shared upstream per stream for RTMP and HTTP-FLV players. */
  edgeMode: EdgeModeConfig;
}

export interface EdgeModeConfig {
  /** PROXY_EDGE: players of one stream share one upstream play session. */
  enabled: boolean;
  /** PROXY_GOP_CACHE_MAX: bytes of metadata, sequence headers and the last GOP kept per stream. */
  gopCacheMaxBytes: number;
  /** PROXY_EDGE_LINGER: how long the upstream stays after its last player left. */
  lingerMs: number;
  /** PROXY_EDGE_MAX_LAG: media time a player may fall behind before it skips to the next keyframe. */
  maxLagMs: number;
  /** PROXY_EDGE_SHARE_AUTH: players with another query share the first player's upstream. */
  shareAuth: boolean;
}

export interface HealthConfig {
  /** Probe period per origin, also each probe's deadline; 0 = no probes. */
  intervalMs: number;
  /** Consecutive failed probes that mark an origin down. */
  fails: number;
}

export interface EdgeConfig {
  /** Cap on registered origins (server ids); a new one beyond it is refused, known ones keep heartbeating. */
  maxOrigins: number;
  /** Origins must register from these ranges (PROXY_ORIGIN_ALLOW_CIDRS); undefined = any but the refused ranges. */
  originAllowCidrs: Cidr[] | undefined;
  /** Who may call the system API (PROXY_SYSTEM_API_ALLOW_CIDRS); undefined = anyone. */
  systemApiAllowCidrs: Cidr[] | undefined;
  /** Client connections at once, per client listener (TCP and HTTP). */
  maxConnections: number;
  /** Client connections at once from one IP address, per client listener. */
  maxConnectionsPerIp: number;
  /** File descriptors kept free for the system API and origin connections. */
  fdReserve: number;
  /** New work is refused while heap use is above this share of the heap limit. */
  maxHeapRatio: number;
  /** WebRTC offers (WHIP/WHEP, JSON API) one client IP address may send per minute. */
  maxOffersPerIp: number;
  /** HTTPS twins of PROXY_HTTP_API and PROXY_HTTP_SERVER; undefined = off. */
  httpsApi: ListenAddress | undefined;
  httpsServer: ListenAddress | undefined;
  /** PEM files for the HTTPS listeners. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}

export interface Timeouts {
  /** Connecting to an origin (TCP connect; SRT/WebRTC origin handshake deadline). */
  dialMs: number;
  /** An origin's answer once connected (RTMP connect/publish/play result, HTTP response headers). */
  originAnswerMs: number;
  /** A client's handshake and identification (RTMP handshake + connect/publish/play, HTTP headers). */
  handshakeMs: number;
  /** A relay or UDP session with no traffic in either direction is closed after this. */
  idleMs: number;
}

export interface LoadedConfig {
  config: Config;
  /** Things worth a warning at startup (e.g. static serving turned off). */
  warnings: string[];
  /** Effective values for the startup log, secrets masked. */
  effective: Record<string, string>;
}

export const DEFAULTS: Readonly<Record<string, string>> = {
  PROXY_RTMP_SERVER: '11935',
  PROXY_HTTP_SERVER: '18080',
  PROXY_HTTP_API: '11985',
  PROXY_WEBRTC_SERVER: '18000',
  PROXY_SRT_SERVER: '20080',
  PROXY_SYSTEM_API: '12025',
  PROXY_RTSP_SERVER: '18554',
  PROXY_STATIC_FILES: '../srs/trunk/research',
  PROXY_LOAD_BALANCER_TYPE: 'memory',
  PROXY_REDIS_HOST: '127.0.0.1',
  PROXY_REDIS_PORT: '6379',
  PROXY_REDIS_PASSWORD: '',
  PROXY_REDIS_DB: '0',
  PROXY_REDIS_URL: '',
  PROXY_REDIS_SENTINELS: '',
  PROXY_REDIS_SENTINEL_NAME: 'mymaster',
  PROXY_REDIS_CLUSTER_NODES: '',
  PROXY_REDIS_FALLBACK: 'off',
  PROXY_REDIS_FALLBACK_TTL: '60s',
  PROXY_REDIS_TIMEOUT: '1s',
  PROXY_DEFAULT_BACKEND_ENABLED: 'off',
  PROXY_DEFAULT_BACKEND_IP: '127.0.0.1',
  PROXY_DEFAULT_BACKEND_RTMP: '1935',
  PROXY_DEFAULT_BACKEND_HTTP: '',
  PROXY_DEFAULT_BACKEND_API: '1985',
  PROXY_DEFAULT_BACKEND_RTC: '8000',
  PROXY_DEFAULT_BACKEND_SRT: '10080',
  PROXY_GRACE_QUIT_TIMEOUT: '20s',
  PROXY_FORCE_QUIT_TIMEOUT: '30s',
  PROXY_LOG_LEVEL: 'info',
  PROXY_LOG_FORMAT: '',
  PROXY_ORIGIN_EXPIRE: '30s',
  PROXY_SESSION_TTL: '120s',
  PROXY_MAX_STREAM_PINS: '100000',
  PROXY_REGISTER_TOKEN: '',
  PROXY_DIAL_TIMEOUT: '3s',
  PROXY_ORIGIN_ANSWER_TIMEOUT: '10s',
  PROXY_HANDSHAKE_TIMEOUT: '10s',
  PROXY_IDLE_TIMEOUT: '30s',
  PROXY_UDP_BUFFER_SIZE: '8388608',
  PROXY_MAX_UDP_SESSIONS: '10000',
  PROXY_WEBRTC_CANDIDATE: '',
  PROXY_RTMP_MAX_MESSAGE_SIZE: '16777216',
  PROXY_HLS_CACHE_MAX: '268435456',
  PROXY_SESSION_SECRET: '',
  PROXY_MAX_UDP_SESSIONS_PER_IP: '',
  PROXY_HEALTH_INTERVAL: '2s',
  PROXY_HEALTH_FAILS: '2',
  PROXY_MAX_ORIGINS: '1000',
  PROXY_ORIGIN_ALLOW_CIDRS: '',
  PROXY_SYSTEM_API_ALLOW_CIDRS: '',
  PROXY_MAX_CONNECTIONS: '100000',
  PROXY_MAX_CONNECTIONS_PER_IP: '5000',
  PROXY_FD_RESERVE: '256',
  PROXY_MAX_HEAP_RATIO: '0.85',
  PROXY_MAX_OFFERS_PER_IP: '600',
  PROXY_HTTPS_API: '',
  PROXY_HTTPS_SERVER: '',
  PROXY_TLS_CERT: '',
  PROXY_TLS_KEY: '',
  PROXY_METRICS_LISTEN: '',
  PROXY_EDGE: 'off',
  PROXY_GOP_CACHE_MAX: '8MiB',
  PROXY_EDGE_LINGER: '5s',
  PROXY_EDGE_MAX_LAG: '10s',
  PROXY_EDGE_SHARE_AUTH: 'off',
  PROXY_WORKERS: '1',
};

const SECRETS = new Set(['PROXY_REDIS_PASSWORD', 'PROXY_REGISTER_TOKEN', 'PROXY_SESSION_SECRET']);

export interface ConfigSources {
  env: Record<string, string | undefined>;
  /** Folder holding .env and the base of relative paths. */
  cwd: string;
  /** Reads .env; undefined when missing. Injected for tests. */
  readDotenv?: (path: string) => string | undefined;
  isDirectory?: (path: string) => boolean;
  /** True when a file exists and is a regular file (TLS PEM files). Injected for tests. */
  readable?: (path: string) => boolean;
}

function defaultReadDotenv(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return readFileSync(path, 'utf8');
}

function defaultIsDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Merges the process environment with .env: a variable present in the environment, even empty,
 * is never overridden by the file (godotenv semantics); empty then means "use the default".
 */
export function effectiveEnvironment(src: ConfigSources): Record<string, string | undefined> {
  const path = resolve(src.cwd, '.env');
  let text: string | undefined;
  try {
    text = (src.readDotenv ?? defaultReadDotenv)(path);
  } catch (err) {
    throw new ConfigError('.env', path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  const env = { ...src.env };
  if (text === undefined) return env;
  let fileVars: Map<string, string>;
  try {
    fileVars = parseDotenv(text, (name) => src.env[name]);
  } catch (err) {
    throw new ConfigError('.env', path, (err as Error).message, { cause: err });
  }
  for (const [k, v] of fileVars) if (!(k in env)) env[k] = v;
  return env;
}

export function loadConfig(src: ConfigSources): LoadedConfig {
  const env = effectiveEnvironment(src);
  const warnings: string[] = [];
  const effective: Record<string, string> = {};
  const get = (name: string): string => {
    const raw = env[name];
    const value = raw === undefined || raw === '' ? (DEFAULTS[name] ?? '') : raw;
    effective[name] = SECRETS.has(name) && value !== '' ? '******' : value;
    return value;
  };
  const wasSet = (name: string): boolean => env[name] !== undefined && env[name] !== '';
  const check = <T>(name: string, parse: (v: string) => T): T => {
    const value = get(name);
    try {
      return parse(value);
    } catch (err) {
      throw new ConfigError(name, value, (err as Error).message, { cause: err });
    }
  };
  const listen = (name: string) => check(name, parseListenAddress);
  const duration = (name: string) => check(name, parseDuration);
  const positiveDuration = (name: string) =>
    check(name, (v) => {
      const ms = parseDuration(v);
      if (ms <= 0) throw new Error('must be greater than zero');
      return ms;
    });
  const onOff = (name: string) =>
    check(name, (v) => {
      const s = v.toLowerCase();
      if (s === 'on' || s === 'true') return true;
      if (s === 'off' || s === 'false') return false;
      throw new Error('expected on or off');
    });
  const integer = (name: string, min: number, max: number) =>
    check(name, (v) => {
      if (!/^\d+$/.test(v)) throw new Error('expected an integer');
      const n = Number.parseInt(v, 10);
      if (n < min || n > max) throw new Error(`expected ${min}..${max}`);
      return n;
    });
  const endpoint = (name: string) =>
    check(name, (v) => {
      if (v === '') return undefined;
      parsePort(v);
      return v;
    });

  const listeners: Listeners = {
    rtmp: listen('PROXY_RTMP_SERVER'),
    httpServer: listen('PROXY_HTTP_SERVER'),
    httpApi: listen('PROXY_HTTP_API'),
    webrtc: listen('PROXY_WEBRTC_SERVER'),
    srt: listen('PROXY_SRT_SERVER'),
    systemApi: listen('PROXY_SYSTEM_API'),
  };

  // Unlike the other listeners, RTSP can be turned off: set but empty, or `off`.
  const rtspRaw = env.PROXY_RTSP_SERVER;
  const rtsp =
    rtspRaw !== undefined && (rtspRaw.trim() === '' || rtspRaw.trim().toLowerCase() === 'off')
      ? ((effective.PROXY_RTSP_SERVER = 'off'), undefined)
      : listen('PROXY_RTSP_SERVER');

  const loadBalancer = check('PROXY_LOAD_BALANCER_TYPE', (v) => {
    if (v !== 'memory' && v !== 'redis') throw new Error('expected memory or redis');
    return v;
  });
  const redis = redisConfig({ get, check, integer, positiveDuration, effective });

  const defaultBackendOn = onOff('PROXY_DEFAULT_BACKEND_ENABLED');
  const defaultBackend: DefaultBackendConfig = {
    ip: check('PROXY_DEFAULT_BACKEND_IP', (v) => {
      if (!/^[A-Za-z0-9.:_-]+$/.test(v)) throw new Error('not a host name or address');
      return v;
    }),
    rtmp: endpoint('PROXY_DEFAULT_BACKEND_RTMP') ?? DEFAULTS.PROXY_DEFAULT_BACKEND_RTMP!,
    http: endpoint('PROXY_DEFAULT_BACKEND_HTTP'),
    api: endpoint('PROXY_DEFAULT_BACKEND_API'),
    rtc: endpoint('PROXY_DEFAULT_BACKEND_RTC'),
    srt: endpoint('PROXY_DEFAULT_BACKEND_SRT'),
  };

  const staticValue = get('PROXY_STATIC_FILES');
  const staticRoot = resolve(src.cwd, staticValue);
  let staticFiles: string | undefined = staticRoot;
  if (!(src.isDirectory ?? defaultIsDirectory)(staticRoot)) {
    if (wasSet('PROXY_STATIC_FILES')) {
      throw new ConfigError('PROXY_STATIC_FILES', staticValue, `folder ${staticRoot} does not exist`);
    }
    warnings.push(`static files off: default folder ${staticRoot} does not exist (set PROXY_STATIC_FILES to serve files)`);
    staticFiles = undefined;
  }

  const logLevel = check('PROXY_LOG_LEVEL', (v) => {
    const s = v.toLowerCase() as LogLevel;
    if (!LOG_LEVELS.includes(s)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`);
    return s;
  });
  const logFormat = check('PROXY_LOG_FORMAT', (v): LogFormat | undefined => {
    if (v === '') return undefined;
    if (v !== 'json' && v !== 'text') throw new Error('expected json or text');
    return v;
  });

  const candidate = check('PROXY_WEBRTC_CANDIDATE', (v) => {
    if (v !== '' && !/^[A-Za-z0-9.:_-]+$/.test(v)) throw new Error('expected an IP address or host name');
    return v === '' ? undefined : v;
  });

  if (wasSet('GO_PPROF')) warnings.push('GO_PPROF is ignored (Go-only); use node --inspect for profiling');
  const token = get('PROXY_REGISTER_TOKEN');
  const sessionSecret = check('PROXY_SESSION_SECRET', (v) => {
    if (v !== '' && Buffer.byteLength(v, 'utf8') < 16) throw new Error('must be at least 16 bytes');
    return v === '' ? undefined : v;
  });
  const maxUdpSessions = integer('PROXY_MAX_UDP_SESSIONS', 1, 10_000_000);
  // Default: an eighth of the total, but never under 256 (a NAT may hide many real clients behind one address).
  const maxUdpSessionsPerIp = wasSet('PROXY_MAX_UDP_SESSIONS_PER_IP')
    ? integer('PROXY_MAX_UDP_SESSIONS_PER_IP', 1, 10_000_000)
    : Math.min(maxUdpSessions, Math.max(256, Math.floor(maxUdpSessions / 8)));
  effective.PROXY_MAX_UDP_SESSIONS_PER_IP = String(maxUdpSessionsPerIp);

  const config: Config = {
    listeners,
    rtsp,
    staticFiles,
    loadBalancer,
    redis,
    defaultBackend: defaultBackendOn ? defaultBackend : undefined,
    graceQuitMs: duration('PROXY_GRACE_QUIT_TIMEOUT'),
    forceQuitMs: duration('PROXY_FORCE_QUIT_TIMEOUT'),
    logLevel,
    logFormat,
    originExpireMs: positiveDuration('PROXY_ORIGIN_EXPIRE'),
    sessionTtlMs: positiveDuration('PROXY_SESSION_TTL'),
    maxStreamPins: integer('PROXY_MAX_STREAM_PINS', 1, 100_000_000),
    registerToken: token === '' ? undefined : token,
    timeouts: {
      dialMs: positiveDuration('PROXY_DIAL_TIMEOUT'),
      originAnswerMs: positiveDuration('PROXY_ORIGIN_ANSWER_TIMEOUT'),
      handshakeMs: positiveDuration('PROXY_HANDSHAKE_TIMEOUT'),
      idleMs: positiveDuration('PROXY_IDLE_TIMEOUT'),
    },
    udpBufferBytes: integer('PROXY_UDP_BUFFER_SIZE', 65_536, 1 << 30),
    maxUdpSessions,
    webrtcCandidate: candidate,
    rtmpMaxMessageSize: integer('PROXY_RTMP_MAX_MESSAGE_SIZE', 1024, 16 * 1024 * 1024),
    hlsCacheMaxBytes: check('PROXY_HLS_CACHE_MAX', (v) => {
      if (!/^\d{1,15}$/.test(v)) throw new Error('expected a byte count (0 = no cache)');
      const n = Number(v);
      // Under 1 MiB a quarter of the budget (the largest answer kept) would not hold one segment.
      if (n !== 0 && (n < 1 << 20 || n > 2 ** 40)) throw new Error('expected 0 (off) or 1048576..1099511627776');
      return n;
    }),
    sessionSecret,
    maxUdpSessionsPerIp,
    health: {
      intervalMs: check('PROXY_HEALTH_INTERVAL', (v) => {
        if (v === '0') return 0;
        const ms = parseDuration(v);
        if (ms !== 0 && (ms < 100 || ms > 3_600_000)) throw new Error('expected 0 (off) or 100ms..1h');
        return ms;
      }),
      fails: integer('PROXY_HEALTH_FAILS', 1, 100),
    },
    edge: edgeConfig({ get, check, integer, src }),
    metricsListen: check('PROXY_METRICS_LISTEN', (v) => (v === '' ? undefined : parseListenAddress(v))),
    edgeMode: {
      enabled: onOff('PROXY_EDGE'),
      gopCacheMaxBytes: check('PROXY_GOP_CACHE_MAX', (v) => {
        const n = parseByteSize(v);
        if (n < 64 * 1024 || n > 1024 * 1024 * 1024) throw new Error('expected 64KiB..1GiB');
        return n;
      }),
      lingerMs: duration('PROXY_EDGE_LINGER'),
      maxLagMs: check('PROXY_EDGE_MAX_LAG', (v) => {
        const ms = parseDuration(v);
        if (ms < 500 || ms > 600_000) throw new Error('expected 500ms..10m');
        return ms;
      }),
      shareAuth: onOff('PROXY_EDGE_SHARE_AUTH'),
    },
    workers: check('PROXY_WORKERS', parseWorkers),
  };
  // Known = the table of defaults plus every variable read above, so a new variable never warns as unknown.
  const known = new Set([...Object.keys(DEFAULTS), ...Object.keys(effective)]);
  warnings.push(
    ...unknownVariableWarnings(env, known),
    ...quitTimeoutWarnings(config.graceQuitMs, config.forceQuitMs),
    ...portZeroWarnings(listeners, LISTENER_VARIABLES),
  );
  return { config, warnings, effective };
}

/** PROXY_WORKERS: `auto` (one per CPU) or a count 1..256. */
export function parseWorkers(v: string, cpus = availableParallelism()): number {
  if (v.toLowerCase() === 'auto') return Math.max(1, Math.min(256, cpus));
  if (!/^[0-9]{1,3}$/.test(v)) throw new Error('expected auto or a number of processes 1..256');
  const n = Number(v);
  if (n < 1 || n > 256) throw new Error('expected auto or a number of processes 1..256');
  return n;
}

interface EdgeParsers {
  get: (name: string) => string;
  check: <T>(name: string, parse: (v: string) => T) => T;
  integer: (name: string, min: number, max: number) => number;
  src: ConfigSources;
}

/** Admission limits, access lists and TLS of the listeners. */
function edgeConfig({ get, check, integer, src }: EdgeParsers): EdgeConfig {
  const cidrs = (name: string) => check(name, parseCidrList);
  const optionalListen = (name: string) => check(name, (v) => (v === '' ? undefined : parseListenAddress(v)));
  const pemPath = (name: string) => {
    const v = get(name);
    if (v === '') return undefined;
    const path = resolve(src.cwd, v);
    if (!(src.readable ?? defaultReadable)(path)) throw new ConfigError(name, v, `cannot read ${path}`);
    return path;
  };
  const edge: EdgeConfig = {
    maxOrigins: integer('PROXY_MAX_ORIGINS', 1, 1_000_000),
    originAllowCidrs: cidrs('PROXY_ORIGIN_ALLOW_CIDRS'),
    systemApiAllowCidrs: cidrs('PROXY_SYSTEM_API_ALLOW_CIDRS'),
    maxConnections: integer('PROXY_MAX_CONNECTIONS', 1, 10_000_000),
    maxConnectionsPerIp: integer('PROXY_MAX_CONNECTIONS_PER_IP', 1, 10_000_000),
    fdReserve: integer('PROXY_FD_RESERVE', 0, 1_000_000),
    maxHeapRatio: check('PROXY_MAX_HEAP_RATIO', (v) => {
      if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(v)) throw new Error('expected a number between 0.1 and 1');
      const n = Number(v);
      if (n < 0.1) throw new Error('expected a number between 0.1 and 1');
      return n;
    }),
    maxOffersPerIp: integer('PROXY_MAX_OFFERS_PER_IP', 1, 10_000_000),
    httpsApi: optionalListen('PROXY_HTTPS_API'),
    httpsServer: optionalListen('PROXY_HTTPS_SERVER'),
    tlsCert: pemPath('PROXY_TLS_CERT'),
    tlsKey: pemPath('PROXY_TLS_KEY'),
  };
  if ((edge.tlsCert === undefined) !== (edge.tlsKey === undefined)) {
    const missing = edge.tlsCert === undefined ? 'PROXY_TLS_CERT' : 'PROXY_TLS_KEY';
    throw new ConfigError(missing, '', `must be set together with ${missing === 'PROXY_TLS_CERT' ? 'PROXY_TLS_KEY' : 'PROXY_TLS_CERT'}`);
  }
  const https = edge.httpsApi ? 'PROXY_HTTPS_API' : edge.httpsServer ? 'PROXY_HTTPS_SERVER' : undefined;
  if (https && edge.tlsCert === undefined) throw new ConfigError('PROXY_TLS_CERT', '', `required by ${https} (with PROXY_TLS_KEY)`);
  return edge;
}

function defaultReadable(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

interface RedisParsers {
  get: (name: string) => string;
  check: <T>(name: string, parse: (v: string) => T) => T;
  integer: (name: string, min: number, max: number) => number;
  positiveDuration: (name: string) => number;
  effective: Record<string, string>;
}

/** The Redis balancer's settings: host/port (Go), or one of PROXY_REDIS_URL, _SENTINELS, _CLUSTER_NODES (ours). */
function redisConfig({ get, check, integer, positiveDuration, effective }: RedisParsers): RedisConfig {
  const hostName = (v: string) => {
    if (!/^[A-Za-z0-9.:_-]+$/.test(v)) throw new Error('not a host name or address');
    return v;
  };
  const nodes = (name: string) => check(name, (v) => (v === '' ? undefined : parseRedisNodes(v)));
  const redis: RedisConfig = {
    host: check('PROXY_REDIS_HOST', hostName),
    port: check('PROXY_REDIS_PORT', (v) => parsePort(v)),
    password: get('PROXY_REDIS_PASSWORD'),
    db: integer('PROXY_REDIS_DB', 0, 65535),
    username: undefined,
    tls: false,
    source: 'PROXY_REDIS_HOST/PROXY_REDIS_PORT',
    sentinels: nodes('PROXY_REDIS_SENTINELS'),
    sentinelName: check('PROXY_REDIS_SENTINEL_NAME', (v) => {
      if (!/^[A-Za-z0-9._-]{1,128}$/.test(v)) throw new Error('expected a master name (letters, digits, . _ -)');
      return v;
    }),
    clusterNodes: nodes('PROXY_REDIS_CLUSTER_NODES'),
    fallback: check('PROXY_REDIS_FALLBACK', (v) => {
      if (v !== 'off' && v !== 'cache') throw new Error('expected off or cache');
      return v;
    }),
    fallbackTtlMs: positiveDuration('PROXY_REDIS_FALLBACK_TTL'),
    timeoutMs: positiveDuration('PROXY_REDIS_TIMEOUT'),
  };
  const urlText = get('PROXY_REDIS_URL');
  // The URL's password must reach neither the startup log nor an error message.
  effective.PROXY_REDIS_URL = maskRedisUrl(urlText);
  if (urlText !== '') {
    let url: RedisUrl;
    try {
      url = parseRedisUrl(urlText);
    } catch (err) {
      throw new ConfigError('PROXY_REDIS_URL', maskRedisUrl(urlText), (err as Error).message, { cause: err });
    }
    Object.assign(redis, {
      host: url.host,
      port: url.port,
      tls: url.tls,
      username: url.username,
      source: 'PROXY_REDIS_URL',
      ...(url.password !== undefined ? { password: url.password } : {}),
      ...(url.db !== undefined ? { db: url.db } : {}),
    });
  }
  const modes = [urlText !== '' && 'PROXY_REDIS_URL', redis.sentinels && 'PROXY_REDIS_SENTINELS', redis.clusterNodes && 'PROXY_REDIS_CLUSTER_NODES'].filter(
    (m): m is string => typeof m === 'string',
  );
  if (modes.length > 1) {
    throw new ConfigError(
      modes[1]!,
      effective[modes[1]!] ?? '',
      `cannot be combined with ${modes[0]}; set only one of PROXY_REDIS_URL, PROXY_REDIS_SENTINELS, PROXY_REDIS_CLUSTER_NODES`,
    );
  }
  if (redis.sentinels) redis.source = 'PROXY_REDIS_SENTINELS';
  if (redis.clusterNodes) {
    redis.source = 'PROXY_REDIS_CLUSTER_NODES';
    if (redis.db !== 0) throw new ConfigError('PROXY_REDIS_DB', String(redis.db), 'Redis Cluster has only database 0');
  }
  return redis;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte count: `8388608`, `512KiB`, `8MiB`, `1GiB` (K/M/G and KB/MB/GB count in 1024s too). */
export function parseByteSize(text: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error('expected a byte count such as 8388608, 512KiB or 8MiB');
  return Number(m[1]) * unit;
}

/** `host:port[,host:port…]`, IPv6 in brackets. */
export function parseRedisNodes(text: string): RedisNode[] {
  return text.split(',').map((item) => {
    const a = parseListenAddress(item.trim());
    if (a.host === undefined || !item.includes(':')) throw new Error(`"${item.trim()}" is not host:port`);
    if (a.port === 0) throw new Error(`"${item.trim()}": port 0`);
    return { host: a.host, port: a.port };
  });
}

export interface RedisUrl {
  host: string;
  port: number;
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
  db: number | undefined;
}

/** `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. */
export function parseRedisUrl(text: string): RedisUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('not a URL (expected redis://[user[:password]@]host[:port][/db])');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('expected a redis:// or rediss:// URL');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new Error('no host');
  const port = url.port === '' ? 6379 : parsePort(url.port);
  const path = url.pathname.replace(/^\//, '');
  let db: number | undefined;
  if (path !== '') {
    if (!/^\d{1,5}$/.test(path) || Number(path) > 65535) throw new Error(`database "${path}" is not an integer 0..65535`);
    db = Number(path);
  }
  if (url.search !== '' || url.hash !== '') throw new Error('query and fragment are not supported');
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new Error('invalid percent-encoding in the user or password');
    }
  };
  return {
    host,
    port,
    tls: url.protocol === 'rediss:',
    username: url.username === '' ? undefined : decode(url.username),
    password: url.password === '' ? undefined : decode(url.password),
    db,
  };
}

/** The URL with its password replaced by ****** (all of the user part when it has no `user:` prefix), for logs. */
export function maskRedisUrl(text: string): string {
  const at = text.lastIndexOf('@');
  if (at === -1) return text;
  const scheme = text.indexOf('://');
  const start = scheme === -1 || scheme > at ? 0 : scheme + 3;
  const userinfo = text.slice(start, at);
  const colon = userinfo.indexOf(':');
  const shown = colon === -1 ? '******' : `${userinfo.slice(0, colon)}:******`;
  return `${text.slice(0, start)}${shown}${text.slice(at)}`;
}
