// The relay: whole messages in both directions, each leg with its own chunk sizes and protocol control,
// message stream ids remapped between the client's id and the origin's, and backpressure: the origin stops
// being read while the client's socket holds more than RELAY_HIGH_WATER bytes, and the client while either
// socket does — so a client that sends but never reads cannot make the proxy queue its own answers (pings,
// acknowledgements) without bound.
//
// When a relay ends for want of traffic (checked every 1–5 s by the server's sweep, `check()`: sweepPeriodMs):
// - a publisher that sends nothing for the idle timeout is dropped;
// - a player may wait silently as long as its origin connection is healthy: before the stream is published,
//   or through a gap while its encoder reconnects (origins keep such players and start sending when the
//   stream comes). Its origin connection is healthy while TCP holds (keepalive on both legs) and, for an
//   origin that answers RTMP pings, while it answers them (origin-watch.ts: pinged after half the idle
//   timeout of silence, dead when it answered pings before and then stays silent another half; one that
//   never answers is left to TCP). A player that stops reading while media waits for it is dropped after the
//   idle timeout.
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { keepAlive } from '../net/keepalive.js';
import { amf0Number } from './amf0.js';
import { commandMessage, peekCommandName, readCommand } from './commands.js';
import type { RtmpLeg } from './leg.js';
import { MessageType, UserControlEventType, type RtmpMessage } from './messages.js';
import { OriginWatch } from './origin-watch.js';

/** Bytes queued on one socket above which the other side is no longer read. */
export const RELAY_HIGH_WATER = 64 * 1024;

/** Why a relay ended. */
export type RelayEnd =
  | 'client closed'
  | 'origin closed'
  | 'client error'
  | 'origin error'
  | 'client sent malformed RTMP'
  | 'origin sent malformed RTMP'
  | 'idle'
  | 'client stopped reading'
  | 'origin stopped answering pings'
  | 'origin down';

export interface RelayOptions {
  client: RtmpLeg;
  origin: RtmpLeg;
  /** A publisher's relay is idle without traffic; a player's may wait for its stream (see above). */
  kind: 'publish' | 'play';
  log?: Logger;
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

/** What `check()` remembers between sweeps: a few numbers per relay, nothing per message. */
interface Liveness {
  /** Bytes moved on both sockets at the last change, and when (publishers). */
  activity: number;
  activeAt: number;
  /** Bytes the client's socket had taken at the last change, and when (players). */
  clientTaken: number;
  clientTakenAt: number;
}

export class Relay {
  private ended = false;
  private readonly client: RtmpLeg;
  private readonly origin: RtmpLeg;
  private readonly clientId: number;
  private readonly originId: number;
  private readonly live: Liveness;
  /** A player's silent origin (pings). */
  private readonly originWatch: OriginWatch;

  constructor(private readonly o: RelayOptions) {
    this.client = o.client;
    this.origin = o.origin;
    this.clientId = o.clientStreamId;
    this.originId = o.originStreamId;
    const c = this.client.socket;
    const s = this.origin.socket;
    keepAlive(c);
    keepAlive(s);
    const now = Date.now();
    this.live = {
      activity: -1,
      activeAt: now,
      clientTaken: 0,
      clientTakenAt: now,
    };
    this.originWatch = new OriginWatch(this.origin, now);
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

  /** Bytes moved so far on both sockets. */
  get activity(): number {
    const c = this.client.socket;
    const s = this.origin.socket;
    return c.bytesRead + c.bytesWritten + s.bytesRead + s.bytesWritten;
  }

  /** Ends the relay when it is idle, its player stopped reading, or its silent origin stopped answering pings. */
  check(now: number, idleMs: number): void {
    if (this.ended) return;
    if (this.o.kind === 'publish') this.checkPublisher(now, idleMs);
    else this.checkPlayer(now, idleMs);
  }

  private checkPublisher(now: number, idleMs: number): void {
    const live = this.live;
    const activity = this.activity;
    if (activity !== live.activity) {
      live.activity = activity;
      live.activeAt = now;
    } else if (now - live.activeAt >= idleMs) {
      this.o.log?.info({ idleMs }, 'relay idle, closing');
      this.end('idle');
    }
  }

  private checkPlayer(now: number, idleMs: number): void {
    const live = this.live;
    // The client is stuck when bytes wait for it and its socket takes none of them.
    const c = this.client.socket;
    const waiting = c.writableLength;
    // Nothing waiting (the usual case) needs no byte count: bytesWritten walks the socket's write queue.
    const taken = waiting === 0 ? -1 : c.bytesWritten - waiting;
    if (waiting === 0 || taken !== live.clientTaken) {
      live.clientTaken = taken;
      live.clientTakenAt = now;
    } else if (now - live.clientTakenAt >= idleMs) {
      this.o.log?.info({ idleMs, queuedBytes: waiting }, 'player stopped reading, closing');
      this.end('client stopped reading');
      return;
    }
    this.watchOrigin(now, idleMs / 2);
  }

  /** Pings an origin silent for `halfMs`; one that answered pings before and then stays silent for another `halfMs` is dead. */
  private watchOrigin(now: number, halfMs: number): void {
    switch (this.originWatch.check(now, halfMs)) {
      case 'dead':
        this.o.log?.info({ silentMs: this.originWatch.silentMs(now) }, 'origin stopped answering pings, closing');
        this.end('origin stopped answering pings');
        return;
      case 'pings off':
        this.o.log?.debug('origin does not answer pings: TCP keepalive watches it');
        return;
      case 'pinged':
        this.flushBoth();
        return;
      case 'ok':
        return;
    }
  }
}
