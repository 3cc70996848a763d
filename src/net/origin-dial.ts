// TCP dials to an origin's endpoints, shared by the TCP stream protocols (RTMP, RTSP, live HTTP): targets in order,
// each within its origin's dial time, every outcome reported to routing's passive health.
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { fairTimeout } from './fair-timeout.js';

/** No target accepted (or the client left). The message names addresses: for the log, not the client. */
export class OriginDialError extends Error {
  override readonly name = 'OriginDialError';

  constructor(
    message: string,
    readonly clientLeft: boolean,
    /** The last target tried did not accept within its dial time (rather than refusing or failing). */
    readonly timedOut = false,
  ) {
    super(message);
  }
}

/** A single dial ran out of its time. */
class DialTimeout extends Error {
  override readonly name = 'DialTimeout';
}

export interface DialTargetAddress {
  host: string;
  port: number;
}

export interface DialFirstOptions<T> {
  dialMs: number;
  /** Aborted when the client leaves: the dial stops at once. */
  signal: AbortSignal;
  /** Told the outcome of every dial (not of one abandoned because the client left). */
  report?: (target: T, ok: boolean) => void;
  /** The time one target's dial may take (its origin's dial budget); 0 skips it. Default: dialMs. */
  timeFor?: (target: T) => number;
  /** The protocol, for the message when there is no target at all. */
  what: string;
  /** net's `onread` for the connected socket (reads into a caller's buffer instead of 'data' events). */
  onread?: OnReadOpts;
}

/** Connects to the first target that accepts within its dial time; throws OriginDialError when none does. */
export async function dialFirst<T extends DialTargetAddress>(targets: readonly T[], o: DialFirstOptions<T>): Promise<{ socket: Socket; target: T }> {
  const failures: string[] = [];
  let timedOut = false;
  for (const target of targets) {
    if (o.signal.aborted) break;
    const ms = o.timeFor ? o.timeFor(target) : o.dialMs;
    if (ms <= 0) {
      failures.push(`${target.host}:${target.port} skipped (its origin's dial time is spent)`);
      continue;
    }
    try {
      const socket = await dialOne(target, ms, o.signal, o.onread);
      o.report?.(target, true);
      return { socket, target };
    } catch (err) {
      if (!o.signal.aborted) o.report?.(target, false);
      timedOut = err instanceof DialTimeout;
      failures.push(`${target.host}:${target.port} ${(err as Error).message}`);
    }
  }
  if (o.signal.aborted) throw new OriginDialError('client left', true);
  throw new OriginDialError(`origin unreachable (${failures.join('; ') || `no ${o.what} endpoint`})`, false, timedOut);
}

function dialOne(target: DialTargetAddress, dialMs: number, signal: AbortSignal, onread?: OnReadOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true, ...(onread ? { onread } : {}) });
    const done = (err: Error | null) => {
      timer.clear();
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      if (err === null) return resolve(socket);
      socket.on('error', ignoreLate);
      socket.destroy();
      reject(err);
    };
    const onError = (err: NodeJS.ErrnoException) => done(new Error(err.code ?? err.message, { cause: err }));
    // After a failed or abandoned dial a late 'error' (a DNS answer after the timeout) must find a listener.
    const ignoreLate = () => undefined;
    const onAbort = () => done(new Error('aborted'));
    // Fair: a stall of the proxy itself does not fail (and mark down) an origin that accepted meanwhile.
    const timer = fairTimeout(() => done(new DialTimeout(`no connection within ${dialMs} ms`)), dialMs);
    socket.once('connect', () => done(null));
    socket.on('error', onError);
    signal.addEventListener('abort', onAbort);
  });
}
