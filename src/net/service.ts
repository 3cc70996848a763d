// What every listener (HTTP, RTMP, UDP) looks like to the composition root.
import type { AddressInfo, Server } from 'node:net';
import { formatListenAddress, type ListenAddress } from '../config/listen.js';
import type { Balancer } from '../balancer/balancer.js';
import type { Config } from '../config.js';
import type { Edge } from '../edge/edge.js';
import type { Logger } from '../log.js';
import type { StreamRouter } from '../routing/types.js';
import type { ConnectionLimits } from './connection-guard.js';
import type { ServiceStats } from './service-stats.js';

/** A bound listener: its variable, address and close. */
export interface Listener {
  /** The PROXY_* variable configuring this listener. */
  readonly variable: string;
  address(): AddressInfo;
  /** Stops accepting, lets live connections/sessions drain for up to graceMs, then closes the rest. */
  close(graceMs: number): Promise<void>;
}

export interface ProxyService extends Listener {
  /** Its clients' counters, per protocol label (`{}` for a listener that carries no streams). */
  stats(): ServiceStats;
}

/** What a protocol server is given: nothing global, everything injectable. */
export interface ProtocolDeps {
  config: Config;
  log: Logger;
  /** Origins, pins and sessions. Protocols route through `router`, never through the balancer's pick. */
  balancer: Balancer;
  /** The routing seam: the stream's origin and endpoints, refusals, passive health, live relays. */
  router: StreamRouter;
  /** A listener error after startup: the process stops (no half-service). */
  onFatal: (err: Error) => void;
  now?: () => number;
  /**
   * True while the process must refuse new work (heap above PROXY_MAX_HEAP_RATIO). Protocol servers
   * check it when a client arrives (connection, request, handshake, offer) and refuse with their
   * protocol's "try later" answer; running relays are left alone.
   */
  overloaded?: () => boolean;
  /** Admission limits for client TCP listeners (pass to listenTcp as `limits`). */
  connectionLimits?: ConnectionLimits;
  /** Edge mode (PROXY_EDGE=on): RTMP plays join a shared upstream per stream. */
  edge?: Edge;
}

/** A listener could not bind (or failed later); names the variable so the operator knows what to fix. */
export class ListenError extends Error {
  override readonly name = 'ListenError';

  constructor(
    readonly variable: string,
    readonly address: string,
    cause: Error,
  ) {
    super(`${variable}=${JSON.stringify(address)}: cannot listen: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`, { cause });
  }
}

/**
 * Binds a TCP or HTTP server: a bind failure rejects with a ListenError naming the variable; an error
 * after startup goes to onFatal (the process stops rather than run half a service).
 */
export async function bindServer(server: Server, variable: string, listen: ListenAddress, onFatal: (err: Error) => void): Promise<void> {
  const text = formatListenAddress(listen);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new ListenError(variable, text, err));
    server.once('error', onError);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => onFatal(new ListenError(variable, text, err)));
}
