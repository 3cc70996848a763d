// One leg of a proxied RTMP connection (client ↔ proxy, or proxy ↔ origin) after the handshake: its own chunk
// reader and writer (so each leg has its own chunk sizes), and the protocol control that belongs to the leg
// and is never forwarded: Set Chunk Size, Abort, Acknowledgement, Window Acknowledgement Size, Set Peer
// Bandwidth and pings. Outgoing messages are batched and written with one corked, vectored write.
import type { Socket } from 'node:net';
import { ChunkReader, ChunkWriter } from './chunk.js';
import {
  MessageType,
  UserControlEventType,
  controlMessage,
  decodeSetPeerBandwidth,
  decodeWindowAckSize,
  encodeAcknowledgement,
  encodeSetChunkSize,
  encodeWindowAckSize,
  userControlMessage,
  type RtmpMessage,
} from './messages.js';

/** Chunk size the proxy writes with on every leg (SRS's default; every common peer accepts it). */
export const OUT_CHUNK_SIZE = 60000;
/** Window Acknowledgement Size the proxy asks its peers for (SRS's value). */
export const ACK_WINDOW = 2_500_000;

export interface LegOptions {
  /** Largest message accepted from the peer. */
  maxMessageSize: number;
}

export class RtmpLeg {
  readonly reader: ChunkReader;
  readonly writer = new ChunkWriter();
  /** Buffers queued for the next flush. */
  private out: Buffer[] = [];
  /** The peer asked for an Acknowledgement every this many bytes (0: never asked). */
  private peerWindow = 0;
  private acked = 0;
  /** The window we last announced to the peer (0: none yet). */
  private announcedWindow = 0;
  /** Ping Responses received: answers to `ping()` (the relay's proof that a silent origin is alive). */
  pongs = 0;

  constructor(
    readonly socket: Socket,
    options: LegOptions,
  ) {
    // Two messages of the largest size in flight at once is more than a sane peer needs (announced lengths
    // count; memory grows only with bytes really received). Large messages split over chunks are kept as
    // views of the received buffers and written out as such: no copy on the relay path.
    this.reader = new ChunkReader({ maxMessageSize: options.maxMessageSize, maxBufferedBytes: 2 * options.maxMessageSize, zeroCopy: true });
  }

  /**
   * Parses bytes from the peer. Protocol control is handled here (answers are queued for the next flush);
   * everything else is returned in order. Throws RtmpError on malformed input.
   */
  read(data: Buffer): RtmpMessage[] {
    const messages = this.reader.feed(data);
    // Most batches hold no control message: return the reader's array as is, copy only when one is dropped.
    let kept: RtmpMessage[] | null = null;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (m.type <= MessageType.SetPeerBandwidth && this.control(m)) {
        kept ??= messages.slice(0, i);
      } else if (kept !== null) {
        kept.push(m);
      }
    }
    if (this.peerWindow > 0 && this.reader.bytesRead - this.acked >= this.peerWindow) this.acknowledge();
    return kept ?? messages;
  }

  /** Handles a protocol control message (types 1–6); returns false for a user control event to forward. */
  private control(m: RtmpMessage): boolean {
    switch (m.type) {
      case MessageType.WindowAckSize:
        this.peerWindow = decodeWindowAckSize(m.payload);
        return true;
      case MessageType.SetPeerBandwidth: {
        // The peer limits what we send unacknowledged; it expects our window in return (RTMP specification 1.0 §5.4.5).
        const { windowSize } = decodeSetPeerBandwidth(m.payload);
        if (windowSize !== this.announcedWindow) this.announceWindow(windowSize);
        return true;
      }
      case MessageType.UserControl: {
        if (m.payload.length < 2) return true;
        const event = m.payload.readUInt16BE(0);
        if (event === UserControlEventType.PingRequest) {
          if (m.payload.length >= 6) {
            const answer = Buffer.from(m.payload.subarray(0, 6));
            answer.writeUInt16BE(UserControlEventType.PingResponse, 0);
            this.send({ ...controlMessage(MessageType.UserControl, answer), timestamp: m.timestamp });
          }
          return true;
        }
        if (event !== UserControlEventType.PingResponse) return false;
        this.pongs++;
        return true;
      }
      default:
        // Set Chunk Size and Abort were applied by the reader; Acknowledgements need no action.
        return true;
    }
  }

  /** Sends an Acknowledgement of everything received so far (allowed at any time). */
  acknowledge(): void {
    this.acked = this.reader.bytesRead;
    this.send(controlMessage(MessageType.Acknowledgement, encodeAcknowledgement(this.acked % 0x100000000)));
  }

  /** Queues a Ping Request; a live peer that implements pings answers with a Ping Response (counted in `pongs`). */
  ping(timestamp: number): void {
    this.send(userControlMessage({ kind: 'pingRequest', timestamp: timestamp >>> 0 }));
  }

  /** Sends Window Acknowledgement Size (the peer will acknowledge every `size` bytes it receives). */
  announceWindow(size: number): void {
    this.announcedWindow = size;
    this.send(controlMessage(MessageType.WindowAckSize, encodeWindowAckSize(size)));
  }

  /** Switches our outgoing chunk size, telling the peer first. */
  setChunkSize(size: number): void {
    this.send(controlMessage(MessageType.SetChunkSize, encodeSetChunkSize(size)));
    this.writer.setChunkSize(size);
  }

  /** Queues a message for the next flush. */
  send(msg: RtmpMessage): void {
    this.writer.encodeTo(msg, this.out);
  }

  /** Queues bytes written as they are (the handshake's last part, sent with the first messages). */
  sendRaw(bytes: Buffer): void {
    this.out.push(bytes);
  }

  /** Whether messages are queued. */
  get pending(): boolean {
    return this.out.length > 0;
  }

  /** Writes everything queued in one corked write. Returns false when the socket's buffer is over its mark. */
  flush(): boolean {
    const out = this.out;
    if (out.length === 0) return true;
    this.out = [];
    const s = this.socket;
    if (s.destroyed) return true;
    if (out.length === 1) return s.write(out[0]!);
    s.cork();
    for (let i = 0; i < out.length; i++) s.write(out[i]!);
    s.uncork();
    return !s.writableNeedDrain;
  }
}
