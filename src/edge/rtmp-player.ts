// An RTMP player of an edge stream: its client leg after `play` (the server answered connect and
// createStream). The proxy answers the play itself (StreamBegin, Play.Reset, Play.Start,
// |RtmpSampleAccess) and writes media as complete-header chunks shared by every RTMP player; its own
// commands and protocol control go through the leg. At the end of the stream the player hears
// UnpublishNotify, StreamEOF and Play.Stop before its socket closes.
import type { Logger } from '../log.js';
import { encodeAll, type Amf0Value } from '../rtmp/amf0.js';
import { COMMAND_CSID, commandMessage, isCommand, onStatus, peekCommandName, statusInfo } from '../rtmp/commands.js';
import { OUT_CHUNK_SIZE, type RtmpLeg } from '../rtmp/leg.js';
import { MessageType, userControlMessage } from '../rtmp/messages.js';
import { clientSafeStatus } from '../rtmp/public-status.js';
import { wireError, type RefusalKind } from '../routing/refusal.js';
import type { MediaPacket } from './media.js';
import { EdgePlayer, type PlayerOptions } from './player.js';
import type { EdgeFailure, StreamEnd } from './types.js';

/** Bytes of the proxy's own answers a player that does not read may hold before it is no longer read. */
const MAX_ANSWER_BACKLOG = 64 * 1024;

export interface RtmpPlayerHooks {
  /** The stream started for this player (count it as live). */
  started(): void;
  /** It was refused (count it): a routing refusal kind or `origin-refused`/`unreachable`. */
  refused(reason: RefusalKind | 'origin-refused', why: string): void;
}

export class RtmpPlayer extends EdgePlayer {
  readonly protocol = 'rtmp';
  protected readonly encodingKey: string;

  constructor(
    private readonly leg: RtmpLeg,
    /** The message stream the client plays on. */
    private readonly streamId: number,
    log: Logger,
    o: PlayerOptions,
    private readonly hooks: RtmpPlayerHooks,
  ) {
    super(leg.socket, log, o);
    this.encodingKey = `rtmp:${streamId}`;
    const s = leg.socket;
    s.on('data', this.onData);
    s.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ err: err.code ?? err.message }, 'player socket error');
      this.close();
    });
    s.on('end', () => this.close());
  }

  protected encode(p: MediaPacket): Buffer {
    return p.rtmpBytes(this.streamId, OUT_CHUNK_SIZE);
  }

  private readonly onData = (data: Buffer): void => {
    try {
      for (const m of this.leg.read(data)) {
        if (!isCommand(m)) continue;
        const name = peekCommandName(m);
        if (name === 'deleteStream' || name === 'closeStream' || name === 'FCUnpublish') {
          this.log.debug({ command: name }, 'player stopped');
          this.close();
          return;
        }
      }
    } catch (err) {
      this.log.debug({ reason: (err as Error).message }, 'malformed RTMP from player');
      this.close();
      return;
    }
    if (this.leg.pending) this.leg.flush();
    // Answers (pongs, acknowledgements) must not pile up for a player that sends but never reads.
    const s = this.socket;
    if (s.writableLength > MAX_ANSWER_BACKLOG && !s.isPaused()) {
      s.pause();
      s.once('drain', () => s.resume());
    }
  };

  protected sendStart(): void {
    const id = this.streamId;
    const leg = this.leg;
    leg.send(userControlMessage({ kind: 'streamBegin', streamId: id }));
    leg.send(commandMessage(onStatus(statusInfo('status', 'NetStream.Play.Reset', 'Playing and resetting stream.')), id, COMMAND_CSID));
    leg.send(commandMessage(onStatus(statusInfo('status', 'NetStream.Play.Start', 'Started playing stream.')), id, COMMAND_CSID));
    const access: Amf0Value[] = ['|RtmpSampleAccess', true, true];
    leg.send({ type: MessageType.DataAmf0, timestamp: 0, streamId: id, csid: COMMAND_CSID, payload: encodeAll(access) });
    leg.flush();
    this.hooks.started();
  }

  fail(f: EdgeFailure): void {
    if (this.closed) return;
    let info: Amf0Value;
    if (f.kind === 'refused') {
      const wire = wireError(f.refusal.kind);
      this.hooks.refused(f.refusal.kind, f.refusal.detail);
      info = statusInfo('error', wire.rtmpPlay, wire.text);
    } else if (f.error.publicReason === 'origin unreachable') {
      const wire = wireError('unreachable');
      this.hooks.refused('unreachable', f.error.message);
      info = statusInfo('error', wire.rtmpPlay, wire.text);
    } else {
      this.hooks.refused('origin-refused', f.error.message);
      info =
        f.error.status !== undefined
          ? clientSafeStatus(f.error.status, f.originNames)
          : statusInfo('error', 'NetStream.Play.StreamNotFound', f.error.publicReason);
    }
    this.leg.send(commandMessage(onStatus(info), this.streamId, COMMAND_CSID));
    this.leg.flush();
    this.finish();
  }

  end(reason: StreamEnd): void {
    if (this.closed) return;
    const id = this.streamId;
    const leg = this.leg;
    // Whatever media still waits for the player is dropped: the stream is over.
    leg.send(commandMessage(onStatus(statusInfo('status', 'NetStream.Play.UnpublishNotify', `stream ended (${reason})`)), id, COMMAND_CSID));
    leg.send(userControlMessage({ kind: 'streamEof', streamId: id }));
    leg.send(commandMessage(onStatus(statusInfo('status', 'NetStream.Play.Stop', 'Stopped playing stream.')), id, COMMAND_CSID));
    leg.flush();
    this.finish();
  }
}
