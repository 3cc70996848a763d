// The real probes: a TCP connect, and an HTTP GET whose status line is all we wait for. Each is
// bounded by a deadline and reads at most a few KB, so an origin that accepts and then says nothing,
// or answers with an endless body, costs one socket for at most the deadline. Deadlines are fair
// (fair-timeout.ts): a stall of the proxy itself (GC, a starved CPU) does not fail an origin that answered.
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fairTimeout } from '../net/fair-timeout.js';

export interface ProbeDialer {
  /** Resolves once a TCP connection is established (then closes it); rejects on refusal or deadline. */
  tcp(host: string, port: number, timeoutMs: number): Promise<void>;
  /** Resolves with the HTTP status of `GET path`; rejects on connection failure or deadline. */
  httpGet(host: string, port: number, path: string, timeoutMs: number): Promise<number>;
}

export class ProbeError extends Error {
  override name = 'ProbeError';
}

export const netProbeDialer: ProbeDialer = {
  tcp(host, port, timeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = fairTimeout(() => {
        socket.destroy();
        reject(new ProbeError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        timer.clear();
        socket.destroy();
        resolve();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        timer.clear();
        socket.destroy();
        reject(new ProbeError(`connect to ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
      });
    });
  },

  httpGet(host, port, path, timeoutMs) {
    return new Promise((resolve, reject) => {
      const req = request({ host, port, path, method: 'GET', agent: false, headers: { Connection: 'close' } });
      // The socket itself is destroyed on the deadline: destroying only the request may leave it open.
      let socket: Socket | undefined;
      req.once('socket', (s) => (socket = s));
      const timer = fairTimeout(() => {
        req.destroy();
        socket?.destroy();
        reject(new ProbeError(`GET http://${host}:${port}${path} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.once('response', (res) => {
        timer.clear();
        // The status is the answer; the body is not needed (and may be endless).
        res.destroy();
        req.destroy();
        socket?.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        timer.clear();
        reject(new ProbeError(`GET http://${host}:${port}${path}: ${err.code ?? err.message}`, { cause: err }));
      });
      req.end();
    });
  },
};
