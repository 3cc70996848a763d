// The client leg before the relay: the server side of the handshake (simple or digest), then the commands
// of BEHAVIOUR.md §4.3 answered in the origin's place (connect, releaseStream, FCPublish, FCSubscribe, createStream,
// getStreamLength, _checkbw, …) until `publish` or `play` names the stream. Messages that arrive after that
// are queued (in order) for the relay.
import type { Socket } from 'node:net';
import type { Amf0Value, RtmpCommand } from './amf0.js';
import {
  COMMAND_CSID,
  commandMessage,
  connectResult,
  errorResult,
  isCommand,
  onStatus,
  parseConnect,
  parseStreamRequest,
  readCommand,
  result,
  statusInfo,
  type ConnectRequest,
  type StreamRequest,
} from './commands.js';
import { ServerHandshake } from './handshake.js';
import { ACK_WINDOW, OUT_CHUNK_SIZE, RtmpLeg } from './leg.js';
import { MessageType, PeerBandwidthLimit, controlMessage, encodeSetPeerBandwidth, payloadLength, type RtmpMessage } from './messages.js';

/** The message stream id the proxy gives the client in its createStream answer (as SRS does). */
export const CLIENT_STREAM_ID = 1;
/** Most bytes of messages queued while the origin leg is being set up; then reading pauses. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** Commands answered locally and replayed to the origin before createStream, for the kind of request they belong to. */
const REPLAYED: ReadonlyMap<string, 'publish' | 'play'> = new Map([
  ['releaseStream', 'publish'],
  ['FCPublish', 'publish'],
  ['FCSubscribe', 'play'],
]);
/** Commands a client may send before publish/play (connect, createStream, releaseStream… ; real clients send 3–6). */
export const MAX_COMMANDS_BEFORE_PUBLISH = 32;
/** Bytes those commands may take together (a connect with large custom arguments fits many times). */
export const MAX_COMMAND_BYTES_BEFORE_PUBLISH = 256 * 1024;

/** What the client asked for, learned before any origin is involved. */
export interface ClientIntent {
  connect: ConnectRequest;
  request: StreamRequest;
  /** releaseStream / FCPublish / FCSubscribe as the client sent them, in order (replayed to the origin). */
  preamble: RtmpCommand[];
  /** The message stream id the client uses for its stream (ours from createStream, or what it used). */
  clientStreamId: number;
}

/** Why a client was dropped before it was identified. */
export class ClientError extends Error {
  override readonly name: string = 'ClientError';
}

/** The client went past a per-connection bound before publish/play; it was told why (a status is queued). */
export class ClientLimitError extends ClientError {
  override readonly name = 'ClientLimitError';
}

export interface ClientSessionOptions {
  /** The connection's context id (sent as srs_id). */
  cid: string;
  version: string;
  maxMessageSize: number;
}

/** Drives one client from its first byte until publish/play; then holds what it sends until the relay starts. */
export class ClientSession {
  private handshake: ServerHandshake | null = new ServerHandshake();
  leg: RtmpLeg | null = null;
  /** Which handshake the client used (known once it is done). */
  handshakeMode: 'simple' | 'digest' | undefined;
  private connect: ConnectRequest | null = null;
  /** The last releaseStream / FCPublish / FCSubscribe (one of each at most: repeats replace). */
  private readonly preamble = new Map<string, RtmpCommand>();
  private commands = 0;
  private commandBytes = 0;
  private intent: ClientIntent | null = null;
  /** Messages received after publish/play, for the relay. */
  readonly queued: RtmpMessage[] = [];
  private queuedBytes = 0;
  private resolveIntent!: (intent: ClientIntent) => void;
  private rejectIntent!: (err: Error) => void;
  /** Resolves on publish/play; rejects on bad input or when the client goes away first. */
  readonly identified: Promise<ClientIntent>;

  constructor(
    readonly socket: Socket,
    private readonly options: ClientSessionOptions,
  ) {
    this.identified = new Promise((resolve, reject) => {
      this.resolveIntent = resolve;
      this.rejectIntent = reject;
    });
    // Nobody may be waiting yet when a client fails early; the server reads the rejection later.
    this.identified.catch(() => undefined);
  }

  /** Feeds bytes from the client socket (handshake, then chunks). Throws RtmpError / ClientError on bad input. */
  onData(data: Buffer): void {
    let chunkBytes = data;
    if (this.handshake !== null) {
      const out = this.handshake.feed(data);
      if (out.send.length > 0) this.socket.write(out.send);
      if (!out.done) return;
      this.handshakeMode = this.handshake.mode ?? 'simple';
      this.handshake = null;
      this.leg = new RtmpLeg(this.socket, { maxMessageSize: this.options.maxMessageSize });
      chunkBytes = out.rest;
      if (chunkBytes.length === 0) return;
    }
    const leg = this.leg!;
    try {
      const messages = leg.read(chunkBytes);
      for (const m of messages) {
        if (this.intent !== null) this.queue(m);
        else if (isCommand(m)) this.command(m, leg);
        // Anything else before publish/play (media, data, unknown types) has nowhere to go yet.
      }
    } finally {
      // Answers (including an _error before a refusal) go out even when the input turned bad.
      leg.flush();
    }
  }

  /** True while messages held for the relay exceed their bound (reading stays paused until the relay starts). */
  get holding(): boolean {
    return this.queuedBytes > MAX_QUEUED_BYTES;
  }

  /** Rejects `identified` (client gone, timeout). */
  fail(err: Error): void {
    this.rejectIntent(err);
  }

  private queue(m: RtmpMessage): void {
    // A message may be a view of a socket buffer: keep it as is, the buffer is never reused.
    this.queued.push(m);
    this.queuedBytes += payloadLength(m);
    if (this.queuedBytes > MAX_QUEUED_BYTES) this.socket.pause();
  }

  private command(m: RtmpMessage, leg: RtmpLeg): void {
    const cmd = readCommand(m);
    const reply = (c: RtmpCommand) => leg.send(commandMessage(c, m.streamId, COMMAND_CSID));
    this.commands++;
    this.commandBytes += payloadLength(m);
    if (this.commands > MAX_COMMANDS_BEFORE_PUBLISH || this.commandBytes > MAX_COMMAND_BYTES_BEFORE_PUBLISH) {
      const why = `more than ${MAX_COMMANDS_BEFORE_PUBLISH} commands or ${MAX_COMMAND_BYTES_BEFORE_PUBLISH} bytes of commands before publish/play`;
      const info = statusInfo('error', 'NetConnection.Connect.Rejected', why);
      if (cmd.transactionId !== 0) reply(errorResult(cmd.transactionId, info));
      else leg.send(commandMessage(onStatus(info), 0, COMMAND_CSID));
      throw new ClientLimitError(`${this.commands} commands, ${this.commandBytes} bytes before publish/play`);
    }
    if (cmd.name === 'connect') {
      if (this.connect !== null) throw new ClientError('second connect');
      let connect: ConnectRequest;
      try {
        connect = parseConnect(cmd);
      } catch {
        reply(errorResult(cmd.transactionId, statusInfo('error', 'NetConnection.Connect.Rejected', 'connect needs a command object')));
        throw new ClientError('connect without a command object');
      }
      this.connect = connect;
      // As SRS: window, peer bandwidth and our chunk size first, then the answer.
      leg.announceWindow(ACK_WINDOW);
      leg.send(controlMessage(MessageType.SetPeerBandwidth, encodeSetPeerBandwidth({ windowSize: ACK_WINDOW, limitType: PeerBandwidthLimit.Dynamic })));
      leg.setChunkSize(OUT_CHUNK_SIZE);
      reply(connectResult({ transactionId: cmd.transactionId, objectEncoding: connect.objectEncoding, cid: this.options.cid, version: this.options.version }));
      return;
    }
    if (this.connect === null) throw new ClientError(`"${cmd.name}" before connect`);
    switch (cmd.name) {
      case 'createStream':
        reply(result(cmd.transactionId, CLIENT_STREAM_ID));
        return;
      case 'publish':
      case 'play': {
        let request: StreamRequest;
        try {
          request = parseStreamRequest(cmd);
        } catch {
          throw new ClientError(`${cmd.name} without a stream name`);
        }
        this.intent = {
          connect: this.connect,
          request,
          // Only what the origin needs for this request: no FCSubscribe before a publish, no FCPublish before a play.
          preamble: [...this.preamble.values()].filter((c) => REPLAYED.get(c.name) === request.kind),
          clientStreamId: m.streamId === 0 ? CLIENT_STREAM_ID : m.streamId,
        };
        this.resolveIntent(this.intent);
        return;
      }
      case 'getStreamLength':
        // A live stream has no length; FFmpeg does not wait for an answer.
        return;
      case 'deleteStream':
      case 'closeStream':
        return;
      default: {
        if (REPLAYED.has(cmd.name)) {
          this.preamble.delete(cmd.name);
          this.preamble.set(cmd.name, cmd);
        }
        // releaseStream, FCPublish, FCSubscribe, _checkbw and unknown calls: an empty success, as SRS answers.
        if (cmd.transactionId !== 0) reply(result(cmd.transactionId, undefined as Amf0Value));
      }
    }
  }
}
