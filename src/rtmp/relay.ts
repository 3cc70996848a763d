// The relay: whole messages in both directions, each leg with its own chunk sizes and protocol control,
// message stream ids remapped between the client's id and the origin's, and backpressure: the origin stops
// being read while the client's socket holds more than RELAY_HIGH_WATER bytes, and the client while either
// socket does — so a client that sends but never reads cannot make the proxy queue its own answers (pings,
// acknowledgements) without bound.
import type { Socket } from 'node:net';
import { amf0Number } from './amf0.js';
import { commandMessage, peekCommandName, readCommand } from './commands.js';
import type { RtmpLeg } from './leg.js';
import { MessageType, UserControlEventType, type RtmpMessage } from './messages.js';

/** Bytes queued on one socket above which the other side is no longer read. */
export const RELAY_HIGH_WATER = 64 * 1024;

/** Why a relay ended. */
export type RelayEnd = 'client closed' | 'origin closed' | 'client error' | 'origin error' | 'client sent malformed RTMP' | 'origin sent malformed RTMP' | 'idle';

export interface RelayOptions {
  client: RtmpLeg;
  origin: RtmpLeg;
  /** The client's message stream id for the stream, and the origin's. */
  clientStreamId: number;
  originStreamId: number;
  /** Called once when the relay ends (both sockets are being closed). */
  onEnd: (reason: RelayEnd, err?: Error) => void;
}

/** Rewrites the stream id inside a stream-scoped User Control event (StreamBegin, EOF, Dry, IsRecorded, SetBufferLength). */
function remapUserControl(m: RtmpMessage, from: number, to: number): void {
  const p = m.payload;
  if (p.length < 6) return;
  const event = p.readUInt16BE(0);
  if (event > UserControlEventType.StreamIsRecorded) return;
  if (p.readUInt32BE(2) !== from) return;
  const copy = Buffer.from(p);
  copy.writeUInt32BE(to, 2);
  m.payload = copy;
}

/** How long a side may take to flush and close after the other side ended, before it is destroyed. */
const CLOSE_GRACE_MS = 500;

export class Relay {
  private ended = false;
  private readonly client: RtmpLeg;
  private readonly origin: RtmpLeg;
  private readonly clientId: number;
  private readonly originId: number;

  constructor(private readonly o: RelayOptions) {
    this.client = o.client;
    this.origin = o.origin;
    this.clientId = o.clientStreamId;
    this.originId = o.originStreamId;
    const c = this.client.socket;
    const s = this.origin.socket;
    c.on('data', this.onClientData);
    s.on('data', this.onOriginData);
    c.on('end', () => this.end('client closed'));
    s.on('end', () => this.end('origin closed'));
    c.on('close', () => this.end('client closed'));
    s.on('close', () => this.end('origin closed'));
    c.on('error', (err) => this.end('client error', err));
    s.on('error', (err) => this.end('origin error', err));
  }

  /**
   * Starts relaying, first sending what arrived before: `local` (the proxy's own messages for the client),
   * the origin's messages after its status, and what the client sent after publish/play.
   */
  start(local: RtmpMessage[], fromOrigin: RtmpMessage[], fromClient: RtmpMessage[]): void {
    for (const m of local) this.client.send(m);
    for (const m of fromOrigin) this.toClient(m);
    for (const m of fromClient) this.toOrigin(m);
    // Also resumes the client if identification paused it (queue bound or pending answers), unless still full.
    this.flushBoth();
  }

  private readonly onClientData = (data: Buffer): void => {
    let messages: RtmpMessage[];
    try {
      messages = this.client.read(data);
    } catch (err) {
      this.end('client sent malformed RTMP', err as Error);
      return;
    }
    for (let i = 0; i < messages.length; i++) this.toOrigin(messages[i]!);
    this.flushBoth();
  };

  private readonly onOriginData = (data: Buffer): void => {
    let messages: RtmpMessage[];
    try {
      messages = this.origin.read(data);
    } catch (err) {
      this.end('origin sent malformed RTMP', err as Error);
      return;
    }
    for (let i = 0; i < messages.length; i++) this.toClient(messages[i]!);
    this.flushBoth();
  };

  private toOrigin(m: RtmpMessage): void {
    if (m.streamId === this.clientId) m.streamId = this.originId;
    if (m.type === MessageType.UserControl) remapUserControl(m, this.clientId, this.originId);
    else if ((m.type === MessageType.CommandAmf0 || m.type === MessageType.CommandAmf3) && peekCommandName(m) === 'deleteStream') {
      m = this.remapDeleteStream(m);
    }
    this.origin.send(m);
  }

  private toClient(m: RtmpMessage): void {
    if (m.streamId === this.originId) m.streamId = this.clientId;
    if (m.type === MessageType.UserControl) remapUserControl(m, this.originId, this.clientId);
    this.client.send(m);
  }

  /** deleteStream(tid, null, id) names the stream in an argument: the origin must hear its own id. */
  private remapDeleteStream(m: RtmpMessage): RtmpMessage {
    try {
      const cmd = readCommand(m);
      if (amf0Number(cmd.args[0]) !== this.clientId) return m;
      cmd.args[0] = this.originId;
      return { ...commandMessage(cmd, m.streamId, m.csid), timestamp: m.timestamp };
    } catch {
      return m;
    }
  }

  private flushBoth(): void {
    if (this.origin.pending) this.origin.flush();
    if (this.client.pending) this.client.flush();
    this.applyBackpressure();
  }

  /** Pauses what must not be read now; resumes it once the full socket drains. */
  private applyBackpressure(): void {
    if (this.ended) return;
    const c = this.client.socket;
    const s = this.origin.socket;
    const clientFull = c.writableLength > RELAY_HIGH_WATER;
    const originFull = s.writableLength > RELAY_HIGH_WATER;
    if (clientFull && !s.isPaused()) s.pause();
    if ((clientFull || originFull) && !c.isPaused()) c.pause();
    if (clientFull) this.resumeOnDrain(c);
    if (originFull) this.resumeOnDrain(s);
    if (!clientFull && s.isPaused()) s.resume();
    if (!clientFull && !originFull && c.isPaused()) c.resume();
  }

  private readonly draining = new Set<Socket>();

  private resumeOnDrain(sink: Socket): void {
    if (this.draining.has(sink)) return;
    this.draining.add(sink);
    sink.once('drain', () => {
      this.draining.delete(sink);
      this.applyBackpressure();
    });
  }

  /** Ends the relay: the other side gets what is queued and a FIN, and both sockets are destroyed soon after. */
  end(reason: RelayEnd, err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    const c = this.client.socket;
    const s = this.origin.socket;
    c.off('data', this.onClientData);
    s.off('data', this.onOriginData);
    const graceful = reason === 'client closed' || reason === 'origin closed';
    for (const sock of [c, s]) {
      if (graceful && !sock.destroyed) {
        sock.end();
        setTimeout(() => sock.destroy(), CLOSE_GRACE_MS).unref();
      } else {
        sock.destroy();
      }
    }
    this.o.onEnd(reason, err);
  }

  /** Bytes moved so far on both sockets (for idle detection). */
  get activity(): number {
    const c = this.client.socket;
    const s = this.origin.socket;
    return c.bytesRead + c.bytesWritten + s.bytesRead + s.bytesWritten;
  }
}
