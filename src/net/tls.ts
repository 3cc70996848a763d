// TLS for the HTTPS listeners: the certificate and key (PEM files named by PROXY_TLS_CERT and
// PROXY_TLS_KEY) are checked at startup, where a problem stops the proxy naming the variable, and
// reloaded on SIGHUP or when either file changes. A reload swaps the context of the running servers
// (setSecureContext): connections already open keep theirs, new handshakes get the new one. A bad
// file at reload time is logged and the previous certificate stays in use.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';

export interface TlsFiles {
  certPath: string;
  keyPath: string;
}

/** Reads and checks the PEM pair; throws ConfigError naming the variable at fault. */
export function loadTlsFiles(files: TlsFiles): SecureContextOptions {
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(variable, path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = read('PROXY_TLS_CERT', files.certPath);
  const key = read('PROXY_TLS_KEY', files.keyPath);
  let subject: X509Certificate;
  try {
    subject = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError('PROXY_TLS_CERT', files.certPath, `not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new ConfigError('PROXY_TLS_KEY', files.keyPath, `not a PEM private key (${(err as Error).message})`);
  }
  if (!subject.checkPrivateKey(createPrivateKey(key))) {
    throw new ConfigError('PROXY_TLS_KEY', files.keyPath, 'does not belong to the certificate in PROXY_TLS_CERT');
  }
  const options = { cert, key };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new ConfigError('PROXY_TLS_CERT', files.certPath, `unusable with PROXY_TLS_KEY (${(err as Error).message})`);
  }
  return options;
}

/** The certificate in force for a set of HTTPS servers, with reload on demand and on file change. */
export class TlsCredentials {
  private current: SecureContextOptions;
  private readonly servers = new Set<TlsServer>();
  private watching = false;

  constructor(
    private readonly files: TlsFiles,
    private readonly log: Logger,
    /** Told of every pair a reload accepted (the supervisor hands it to its workers). */
    private readonly onReloaded?: (options: SecureContextOptions, why: string) => void,
  ) {
    this.current = loadTlsFiles(files);
  }

  get options(): SecureContextOptions {
    return this.current;
  }

  /** Servers whose context follows reloads. */
  attach(server: TlsServer): void {
    this.servers.add(server);
  }

  /** Re-reads the files; true when the new pair is in use, false (old pair kept) when it is unusable. */
  reload(why: string): boolean {
    let next: SecureContextOptions;
    try {
      next = loadTlsFiles(this.files);
    } catch (err) {
      this.log.error({ why, err: (err as Error).message }, 'TLS certificate reload failed; keeping the previous one');
      return false;
    }
    this.current = next;
    for (const s of this.servers) s.setSecureContext(next);
    const cert = new X509Certificate(next.cert as Buffer);
    this.log.info({ why, subject: cert.subject, validTo: cert.validTo, fingerprint: cert.fingerprint256 }, 'TLS certificate reloaded');
    this.onReloaded?.(next, why);
    return true;
  }

  /**
   * Serves a pair another process read and checked (a worker, given the supervisor's pair): its files are not read
   * here. False (current pair kept) when the pair is unusable.
   */
  use(pair: { cert: string; key: string }, why: string): boolean {
    const next: SecureContextOptions = { cert: pair.cert, key: pair.key };
    try {
      createSecureContext(next);
    } catch (err) {
      this.log.error({ why, err: (err as Error).message }, 'TLS certificate from the supervisor unusable; keeping the current one');
      return false;
    }
    this.current = next;
    for (const s of this.servers) s.setSecureContext(next);
    this.log.debug({ why }, 'TLS certificate in use');
    return true;
  }

  /** Reloads when either file changes (polled: survives editors and renames, as certbot does). */
  watch(intervalMs = 2000): void {
    if (this.watching) return;
    this.watching = true;
    for (const path of [this.files.certPath, this.files.keyPath]) {
      watchFile(path, { interval: intervalMs, persistent: false }, (now, prev) => {
        if (now.mtimeMs !== prev.mtimeMs || now.size !== prev.size || now.ino !== prev.ino) this.reload(`${path} changed`);
      });
    }
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.files.certPath);
    unwatchFile(this.files.keyPath);
  }
}
