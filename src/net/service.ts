// What every listener (HTTP, RTMP, UDP) looks like to the composition root.
import type { AddressInfo } from 'node:net';
import type { Balancer } from '../balancer/balancer.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

export interface ProxyService {
  /** The PROXY_* variable configuring this listener. */
  readonly variable: string;
  address(): AddressInfo;
  /** Stops accepting, lets live connections/sessions drain for up to graceMs, then closes the rest. */
  close(graceMs: number): Promise<void>;
}

/** What a protocol server is given: nothing global, everything injectable. */
export interface ProtocolDeps {
  config: Config;
  log: Logger;
  balancer: Balancer;
  /** A listener error after startup: the process stops (no half-service). */
  onFatal: (err: Error) => void;
  now?: () => number;
}

/** A listener could not bind (or failed later); names the variable so the operator knows what to fix. */
export class ListenError extends Error {
  constructor(
    readonly variable: string,
    readonly address: string,
    cause: Error,
  ) {
    super(`${variable}=${JSON.stringify(address)}: cannot listen: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`);
  }
}
