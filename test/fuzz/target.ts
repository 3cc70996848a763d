// What a fuzz target is (one listener, one generator of inputs) and the two ways inputs reach the proxy:
// one TCP connection per input (its parts written in order), or UDP datagrams from a pool of sockets.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { Rng } from './rng.js';

/** One input: the writes of one TCP connection, or the datagrams of one UDP burst. */
export interface FuzzInput {
  /** What the mutator did (for the failure file and the logs). */
  label: string;
  parts: Buffer[];
}

export interface FuzzTarget {
  /** The listener's name on the command line (`--listener`). */
  readonly name: string;
  readonly transport: 'tcp' | 'udp';
  /** The proxy port the inputs go to. */
  readonly port: number;
  /** Inputs in flight at once. */
  readonly concurrency: number;
  /** Called once before the first input (sessions, cookies, …). */
  prepare?(): Promise<void>;
  /** Input `index`; must use only `rng` for its randomness so a seed reproduces it. */
  generate(rng: Rng, index: number): FuzzInput;
  /** Sends it; resolves when done with it (bounded time). Default: raw TCP or UDP delivery. */
  deliver?(input: FuzzInput): Promise<void>;
  close?(): Promise<void>;
}

export interface TcpDeliveryOptions {
  /** After the last write: how long to keep reading (the proxy's answer) before closing. */
  lingerMs?: number;
  /** Hard limit for the whole connection. */
  timeoutMs?: number;
}

/** Thrown when the listener no longer accepts connections (the proxy is down). */
export class ListenerDownError extends Error {
  override name = 'ListenerDownError';
}

export interface TcpOutcome {
  /** Bytes the proxy sent back. */
  received: number;
  /** The first bytes of the answer (up to 64). */
  head: Buffer;
  /** The proxy closed the connection (rather than our linger or timeout). */
  closedByProxy: boolean;
}

/** One TCP connection: connect, write every part, read for `lingerMs` (or until the proxy closes), close. */
export function deliverTcp(port: number, parts: Buffer[], options: TcpDeliveryOptions = {}): Promise<TcpOutcome> {
  const lingerMs = options.lingerMs ?? 30;
  const timeoutMs = options.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    let received = 0;
    let head = Buffer.alloc(0);
    let connected = false;
    let ours = false;
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    const finish = () => {
      clearTimeout(hard);
      const closedByProxy = !ours;
      ours = true;
      socket.destroy();
      resolve({ received, head, closedByProxy });
    };
    const ourFinish = () => {
      ours = true;
      finish();
    };
    const hard = setTimeout(ourFinish, timeoutMs);
    socket.on('data', (d: Buffer) => {
      if (head.length < 64) head = Buffer.concat([head, d.subarray(0, 64 - head.length)]);
      received += d.length;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(hard);
      socket.destroy();
      if (!connected && err.code === 'ECONNREFUSED') reject(new ListenerDownError(`port ${port}: ${err.message}`));
      else resolve({ received, head, closedByProxy: !ours });
    });
    socket.on('close', finish);
    socket.on('connect', () => {
      connected = true;
      const writeFrom = (i: number): void => {
        if (socket.destroyed) return;
        if (i >= parts.length) {
          setTimeout(ourFinish, lingerMs);
          return;
        }
        socket.write(parts[i]!, () => setImmediate(() => writeFrom(i + 1)));
      };
      writeFrom(0);
    });
  });
}

/** A few UDP sockets that send datagrams to one port (answers are read and dropped). */
export class UdpSender {
  private next = 0;

  private constructor(private readonly sockets: UdpSocket[]) {}

  static async open(count: number): Promise<UdpSender> {
    const sockets = await Promise.all(
      Array.from({ length: count }, async () => {
        const s = createSocket('udp4');
        s.on('message', () => undefined);
        s.on('error', () => undefined);
        await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
        return s;
      }),
    );
    return new UdpSender(sockets);
  }

  /** Sends each datagram from the same (round-robin chosen) socket. */
  async send(port: number, datagrams: Buffer[], socketIndex?: number): Promise<void> {
    const s = this.sockets[(socketIndex ?? this.next++) % this.sockets.length]!;
    for (const d of datagrams) {
      await new Promise<void>((resolve) => s.send(d, port, '127.0.0.1', () => resolve()));
    }
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}
