// A TCP listener for stream protocols (RTMP, RTSP): bind errors naming the variable, a context logger
// per connection, tracking of live connections, and a close that drains them for a grace period.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { ListenAddress } from '../config/listen.js';
import { contextLogger, type Logger } from '../log.js';
import { bindServer, type Listener } from './service.js';
import { ConnectionGuard, type ConnectionLimits } from './connection-guard.js';

export interface TcpListenerOptions {
  variable: string;
  listen: ListenAddress;
  log: Logger;
  onFatal: (err: Error) => void;
  /** Handles one client connection; `log` carries the connection's cid. */
  onConnection: (socket: Socket, log: Logger) => void;
  /** Connection admission: caps in total and per IP, descriptor budget, heap guard. */
  limits?: ConnectionLimits;
  /** A connection refused by admission (`overloaded`: heap guard; `limit`: a connection or descriptor cap). */
  onRefused?: (reason: 'limit' | 'overloaded', client: string, why: string) => void;
}

export interface TcpListener extends Listener {
  /** Live client connections. */
  readonly connections: number;
}

export async function listenTcp(opts: TcpListenerOptions): Promise<TcpListener> {
  const sockets = new Set<Socket>();
  const guard = opts.limits ? new ConnectionGuard(opts.variable, opts.limits, opts.log) : undefined;
  const server = createServer({ noDelay: true }, (socket) => {
    const refused = guard?.admit(socket);
    if (refused) {
      opts.onRefused?.(refused.includes('HEAP') ? 'overloaded' : 'limit', `${socket.remoteAddress}:${socket.remotePort}`, refused);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const log = contextLogger(opts.log, { client: `${socket.remoteAddress}:${socket.remotePort}` });
    try {
      opts.onConnection(socket, log);
    } catch (err) {
      log.error({ err }, 'connection handler failed');
      socket.destroy();
    }
  });
  await bindServer(server, opts.variable, opts.listen, opts.onFatal);
  let closing: Promise<void> | undefined;
  return {
    variable: opts.variable,
    get connections() {
      return sockets.size;
    },
    address: () => server.address() as AddressInfo,
    close(graceMs: number) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        if (sockets.size === 0) clearTimeout(timer);
      });
      return closing;
    },
  };
}
