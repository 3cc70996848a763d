// An HTTP-FLV player of an edge stream: after the stream starts, the response head (close-delimited, no
// chunked framing) and the FLV header are written straight to the client socket, then FLV tags shared
// by every FLV player. Before the start, a failure becomes the HTTP error routing or the origin implies;
// at the end of the stream the response simply ends (the socket closes).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { keepAlive } from '../net/keepalive.js';
import { CORS_HEADERS, HttpError } from '../net/http-util.js';
import { flvHeader, type MediaPacket } from './media.js';
import { EdgePlayer, type PlayerOptions } from './player.js';
import type { EdgeFailure } from './types.js';

export class FlvPlayer extends EdgePlayer {
  readonly protocol = 'flv';
  protected readonly encodingKey = 'flv';
  /** Settles when the player is done: resolves after a started stream, rejects with the HTTP error of a failure. */
  readonly done: Promise<void>;
  private settle!: (err?: Error) => void;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    log: Logger,
    o: PlayerOptions,
    private readonly onStarted: () => void,
  ) {
    super(req.socket, log, o);
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    const s = req.socket;
    keepAlive(s);
    s.on('error', () => this.close());
    s.once('close', () => this.settle());
  }

  protected encode(p: MediaPacket): Buffer {
    return p.flvTag();
  }

  protected sendStart(): void {
    const s = this.socket;
    // From here on the socket is ours: Node's ServerResponse never writes to it.
    this.res.shouldKeepAlive = false;
    s.setNoDelay(true);
    let head = 'HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\nConnection: close\r\n';
    for (const [name, value] of Object.entries(CORS_HEADERS)) head += `${name}: ${value}\r\n`;
    s.write(head + '\r\n');
    s.write(flvHeader());
    this.onStarted();
  }

  fail(f: EdgeFailure): void {
    if (this.closed) return;
    this.closed = true;
    if (f.kind === 'refused') return this.settle(f.refusal);
    const reason = f.error.publicReason;
    if (reason === 'origin unreachable') return this.settle(new HttpError(502, reason));
    if (reason === 'origin did not answer in time') return this.settle(new HttpError(504, reason));
    if (reason === 'origin refused the stream') return this.settle(new HttpError(404, 'stream not found'));
    this.settle(new HttpError(502, reason));
  }

  end(): void {
    if (this.closed) return;
    this.finish();
  }
}
