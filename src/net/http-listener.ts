// One HTTP listener: bind (failing with the variable's name), a context logger per request,
// timeouts against slow clients, and a graceful close that drains in-flight requests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { ListenAddress } from '../config/listen.js';
import { lazyContextLogger, redactUrl, type Logger } from '../log.js';
import { bindServer, type ProxyService } from './service.js';
import { clip } from '../text.js';
import { HttpError, sendError } from './http-util.js';
import { clientAllowed, type Cidr } from './address-policy.js';
import { ConnectionGuard, type ConnectionLimits } from './connection-guard.js';
import type { TlsCredentials } from './tls.js';
import type { ServiceStats } from './service-stats.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, log: Logger) => Promise<void>;

export type HttpListener = ProxyService;

/**
 * Pipelined requests waiting behind the one in flight on a connection. A live stream holds its
 * connection until it ends, so requests pipelined after it must neither open origin connections
 * nor pile up: a few wait (reading stops meanwhile), more close the connection.
 */
const MAX_PIPELINED = 8;
const kPipeline = Symbol('pipeline');

interface Pipeline {
  busy: boolean;
  waiting: (() => void)[];
}

/** Serves one request at a time per connection; pipelined ones wait their turn (bounded). */
function oneAtATime(serve: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  const run = (p: Pipeline, socket: Socket, req: IncomingMessage, res: ServerResponse) => {
    p.busy = true;
    let done = false;
    const next = () => {
      if (done) return;
      done = true;
      p.busy = false;
      const waiting = p.waiting.shift();
      if (socket.destroyed) p.waiting.length = 0;
      else if (waiting) waiting();
      else socket.resume();
    };
    // `on`, not `once`: next() runs its work once anyway, and once() wraps each listener per request.
    res.on('finish', next).on('close', next);
    serve(req, res);
  };
  return (req, res) => {
    const socket = req.socket as Socket & { [kPipeline]?: Pipeline };
    const p = (socket[kPipeline] ??= { busy: false, waiting: [] });
    if (!p.busy) return run(p, socket, req, res);
    if (p.waiting.length >= MAX_PIPELINED) {
      socket.destroy();
      return;
    }
    socket.pause();
    p.waiting.push(() => run(p, socket, req, res));
  };
}

export interface HttpListenerOptions {
  /** The PROXY_* variable configuring this listener, for errors and logs. */
  variable: string;
  listen: ListenAddress;
  handler: RequestHandler;
  log: Logger;
  /** Called on a listener error after startup (the process should stop: no half-service). */
  onFatal: (err: Error) => void;
  /** Max time to receive request headers (slowloris). */
  headersTimeoutMs?: number;
  /** Only clients in these ranges are served (others get 403); undefined = everyone. */
  allowClients?: readonly Cidr[];
  /** True while the process refuses new work (heap guard): requests get 503. */
  overloaded?: () => boolean;
  /** Connection admission (client listeners); undefined = no limits (the system API). */
  limits?: ConnectionLimits;
  /** Serve HTTPS with these credentials (reloaded in place). */
  tls?: TlsCredentials;
  /** The clients' counters of what the handler serves (default: none). */
  stats?: () => ServiceStats;
  /** A request refused by the listener itself (heap guard), for the handler's counters. */
  onRefused?: (reason: 'overloaded', req: IncomingMessage, log: Logger) => void;
}

export async function listenHttp(opts: HttpListenerOptions): Promise<HttpListener> {
  // A larger socket high-water mark lets a streamed segment leave in fewer, larger writes with fewer
  // 'drain' round trips (measured on the HLS segment benchmark).
  const serverOptions = { headersTimeout: opts.headersTimeoutMs ?? 10_000, requestTimeout: 30_000, highWaterMark: 1 << 20 };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    // Made when the request first logs something at the configured level (most requests log nothing).
    const log = lazyContextLogger(opts.log, () => ({ method: req.method, url: clip(redactUrl(req.url ?? ''), 200) }));
    if (!clientAllowed(req.socket.remoteAddress, opts.allowClients)) {
      log.debug({ client: req.socket.remoteAddress }, 'client not in the allow list');
      sendError(res, new HttpError(403, `client address not allowed by ${opts.variable}_ALLOW_CIDRS`));
      return;
    }
    if (opts.overloaded?.()) {
      opts.onRefused?.('overloaded', req, log);
      res.shouldKeepAlive = false;
      sendError(res, new HttpError(503, 'proxy overloaded: try again later'));
      return;
    }
    void opts.handler(req, res, log);
  };
  const serveOne = oneAtATime(onRequest);
  const server: Server = opts.tls ? createHttpsServer({ ...serverOptions, ...opts.tls.options }, serveOne) : createServer(serverOptions, serveOne);
  if (opts.tls) opts.tls.attach(server as unknown as import('node:tls').Server);
  if (opts.limits) {
    const guard = new ConnectionGuard(opts.variable, opts.limits, opts.log);
    server.on('connection', (socket: Socket) => {
      if (guard.admit(socket)) socket.destroy();
    });
  }
  if (opts.tls) {
    // A failed handshake (scanner, wrong protocol, expired client) costs one debug line.
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      opts.log.debug({ err: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (err, socket) => {
    opts.log.debug({ err: err.message }, 'bad HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await bindServer(server, opts.variable, opts.listen, opts.onFatal);
  let closing: Promise<void> | undefined;
  return {
    variable: opts.variable,
    address: () => server.address() as AddressInfo,
    stats: () => opts.stats?.() ?? {},
    close(graceMs: number) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
