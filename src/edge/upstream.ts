// One play session to the origin for an edge stream, opened with the RTMP origin leg (the same replay of
// connect / createStream / play the relay uses). Its messages become shared media packets; the origin's
// end-of-stream signs (UnpublishNotify, Play.Stop, StreamEOF) and its connection closing end the stream.
// It is read as fast as the origin sends: no player ever slows it. A silent origin is watched as the per-client
// relay watches one (src/rtmp/origin-watch.ts): one that answered pings and stopped ends the stream.
import type { Logger } from '../log.js';
import { keepAlive } from '../net/keepalive.js';
import { infoObject, infoText, isCommand, peekCommandName, readCommand } from '../rtmp/commands.js';
import type { RtmpLeg } from '../rtmp/leg.js';
import { MessageType, UserControlEventType, type RtmpMessage } from '../rtmp/messages.js';
import { OriginWatch } from '../rtmp/origin-watch.js';
import { MediaPacket } from './media.js';
import type { StreamEnd } from './types.js';

/** Status codes after which the origin sends no more media on this play session. */
const END_CODES = new Set(['NetStream.Play.UnpublishNotify', 'NetStream.Play.Stop', 'NetStream.Play.Complete']);

export interface UpstreamHandlers {
  packets(batch: MediaPacket[]): void;
  end(reason: StreamEnd, err?: Error): void;
}

export class Upstream {
  private ended = false;
  /** Origin liveness (pings); what the leg read before the first check counts as heard then. */
  private readonly originWatch: OriginWatch;

  constructor(
    private readonly leg: RtmpLeg,
    private readonly log: Logger,
    private readonly on: UpstreamHandlers,
  ) {
    this.originWatch = new OriginWatch(leg, Date.now(), 0);
  }

  /** Starts reading; `forward` is what the origin sent along with its Play.Start. */
  start(forward: RtmpMessage[]): void {
    const s = this.leg.socket;
    keepAlive(s);
    s.on('data', this.onData);
    s.on('end', () => this.stop('origin closed'));
    s.on('close', () => this.stop('origin closed'));
    s.on('error', (err: NodeJS.ErrnoException) => this.stop('origin closed', err));
    this.handle(forward);
  }

  get bytesRead(): number {
    return this.leg.socket.bytesRead;
  }

  private readonly onData = (data: Buffer): void => {
    let messages: RtmpMessage[];
    try {
      messages = this.leg.read(data);
    } catch (err) {
      this.stop('origin closed', err as Error);
      return;
    }
    if (this.leg.pending) this.leg.flush();
    this.handle(messages);
  };

  private handle(messages: RtmpMessage[]): void {
    let batch: MediaPacket[] | undefined;
    let end = false;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const p = MediaPacket.from(m);
      // The origin's |RtmpSampleAccess is its answer to this play (RTMP players get the proxy's own; FLV
      // demuxers would take it for a text track).
      if (p) {
        if (m.type !== MessageType.DataAmf0 || peekCommandName(m) !== '|RtmpSampleAccess') (batch ??= []).push(p);
      } else if (m.type === MessageType.UserControl) {
        if (m.payload.length >= 2 && m.payload.readUInt16BE(0) === UserControlEventType.StreamEof) end = true;
      } else if (isCommand(m)) {
        try {
          const cmd = readCommand(m);
          if (cmd.name === 'onStatus' && END_CODES.has(infoText(infoObject(cmd), 'code'))) end = true;
        } catch {
          // An undecodable command carries nothing the players need.
        }
      }
      if (end) break;
    }
    if (batch) this.on.packets(batch);
    if (end) this.stop('unpublished');
  }

  private stop(reason: StreamEnd, err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (err) this.log.debug({ err: err.message }, 'upstream failed');
    this.leg.socket.off('data', this.onData);
    this.leg.socket.destroy();
    this.on.end(reason, err);
  }

  /** Called by the hub's sweep: pings a silent origin; ends the stream when one that answered pings stopped. */
  watch(now: number, halfMs: number): void {
    if (this.ended) return;
    switch (this.originWatch.check(now, halfMs)) {
      case 'dead':
        this.log.info({ silentMs: this.originWatch.silentMs(now) }, 'edge origin stopped answering pings, closing');
        this.stop('origin closed');
        return;
      case 'pings off':
        this.log.debug('edge origin does not answer pings: TCP keepalive watches it');
        return;
      case 'pinged':
        this.leg.flush();
        return;
      case 'ok':
        return;
    }
  }

  /** Closes the session (last player gone, origin down, shutdown). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.leg.socket.off('data', this.onData);
    this.leg.socket.destroy();
  }
}
