// The HTTPS certificate with worker processes (docs/BEHAVIOUR.md §8.5 item 6): the supervisor alone re-reads and
// checks the PEM pair (on SIGHUP and when either file changes) and hands the pair it accepted to every started
// worker. Workers watching the files each on their own served different certificates whenever a file changed
// again before every worker's poll had read the previous change (a broken write kept one worker on an older pair).
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { TlsCredentials } from '../net/tls.js';

/** Supervisor → worker: the certificate and key to serve (PEM text, already checked). */
export const TLS_TAG = 'origin-proxy:tls';

export interface TlsPairMessage {
  t: typeof TLS_TAG;
  cert: string;
  key: string;
  why: string;
}

/** The supervisor's message for a pair it accepted. */
export function tlsPairMessage(options: { cert?: unknown; key?: unknown }, why: string): TlsPairMessage {
  return { t: TLS_TAG, cert: pemText(options.cert), key: pemText(options.key), why };
}

/** A pair message from the supervisor, or undefined for any other message. */
export function parseTlsPairMessage(m: unknown): TlsPairMessage | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const msg = m as Partial<TlsPairMessage>;
  if (msg.t !== TLS_TAG || typeof msg.cert !== 'string' || typeof msg.key !== 'string') return undefined;
  return { t: TLS_TAG, cert: msg.cert, key: msg.key, why: typeof msg.why === 'string' ? msg.why : 'supervisor' };
}

/**
 * The supervisor's certificate (undefined without HTTPS listeners). Files the supervisor cannot use at start are
 * left to the workers: their start fails naming the variable, which stops the proxy (255).
 */
export function supervisorTls(config: Config, log: Logger, onAccepted: (message: TlsPairMessage) => void): TlsCredentials | undefined {
  const { tlsCert, tlsKey } = config.edge;
  if (!tlsCert || !tlsKey) return undefined;
  let tls: TlsCredentials;
  try {
    tls = new TlsCredentials({ certPath: tlsCert, keyPath: tlsKey }, log, (options, why) => onAccepted(tlsPairMessage(options, why)));
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
  tls.watch();
  return tls;
}

function pemText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return '';
}
