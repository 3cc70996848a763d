// The origin leg: dial the origin's RTMP endpoint (falling back to its other endpoints), handshake as a client,
// then replay the client's intent faithfully — its whole connect command object and extra arguments, the
// releaseStream / FCPublish / FCSubscribe it sent, createStream, and publish/play with the client's own
// arguments (stream name with its query, publish type, play start/duration/reset). Waits only for the answers
// every origin gives (connect, createStream, NetStream.Publish.Start / NetStream.Play.Start): nginx-rtmp never
// answers releaseStream or FCPublish. The fast leg sends publish/play on stream 1 without waiting for
// createStream's answer; an origin that answers another id gets a fresh, careful connection (BEHAVIOUR.md §4.5).
import type { Socket } from 'node:net';
import { Amf0Object, amf0Number, type Amf0Value, type RtmpCommand } from './amf0.js';
import { COMMAND_CSID, commandMessage, infoObject, infoText, isCommand, readCommand } from './commands.js';
import type { ClientIntent } from './client.js';
import type { CarefulOrigins } from './careful-origins.js';
import { ClientHandshake } from './handshake.js';
import { OUT_CHUNK_SIZE, RtmpLeg } from './leg.js';
import { payloadLength, type RtmpMessage } from './messages.js';
import { dialFirst, OriginDialError } from '../net/origin-dial.js';

/** Most media/data bytes an origin may send between publish/play and its start status (they are held). */
const MAX_EARLY_BYTES = 8 * 1024 * 1024;
/** The stream id the fast leg assumes: what nginx-rtmp, SRS and node-media-server answer a first createStream. */
const ASSUMED_STREAM_ID = 1;
/** Longest wait for an origin to close a fast leg that published on the wrong stream id, before the re-dial. */
const RELEASE_WAIT_MS = 1000;

/** Where to dial (one entry of a route's targets). */
export interface OriginTarget {
  host: string;
  port: number;
}

/** What a client may be told about a failed origin leg: never an address, port or server id. */
export type OriginFailure = 'origin unreachable' | 'origin did not answer in time' | 'origin failed' | 'origin refused the stream' | 'client left';

/**
 * The origin could not be used. `message` is for the log (it may name addresses); `publicReason` is what
 * the client may read; `status` is the origin's own info object when it answered with one.
 */
export class OriginError extends Error {
  override readonly name = 'OriginError';

  constructor(
    message: string,
    readonly publicReason: OriginFailure,
    readonly status?: Amf0Value,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface OriginLegOptions {
  targets: readonly OriginTarget[];
  intent: ClientIntent;
  /** The app of the stream key, for a client whose connect had no `app` (nginx-rtmp rejects that). */
  app: string;
  dialMs: number;
  answerMs: number;
  maxMessageSize: number;
  /** Aborting (the client left) destroys the origin socket and rejects. */
  signal: AbortSignal;
  /** Told the outcome of every dial (routing's passive health). */
  report?: (target: OriginTarget, ok: boolean) => void;
  /** The time one target's dial may take (the origin's dial budget); 0 skips it. Default: dialMs. */
  timeFor?: (target: OriginTarget) => number;
  /**
   * Endpoints that need the careful leg (publish/play only after createStream's answer). With it, other
   * endpoints get the fast leg and are remembered here when they answer another id; without it, every leg
   * is careful.
   */
  careful?: CarefulOrigins;
}

/** A ready origin leg: the stream is publishing/playing on `streamId`. */
export interface OriginLeg {
  leg: RtmpLeg;
  target: OriginTarget;
  /** The origin's message stream id (from its createStream answer). */
  streamId: number;
  /**
   * What the origin sent after publish/play (its statuses, StreamBegin, metadata, first media…), in order,
   * for the client; stream ids are the origin's.
   */
  forward: RtmpMessage[];
  /** Whether the origin sent its own onFCPublish. */
  sentOnFCPublish: boolean;
  /** The fast leg met an origin that answered createStream with this id: this leg is the careful re-dial. */
  redialedAfterId?: number;
}

/** The origin answered createStream with another id than the one the fast leg already used. */
class StreamIdMismatch extends Error {
  override readonly name = 'StreamIdMismatch';

  constructor(readonly answered: number) {
    super(`origin answered createStream with stream id ${answered}`);
  }
}

/** Connects to the first target that accepts within its dial time; throws OriginError when none does. */
export async function dialOrigin(
  targets: readonly OriginTarget[],
  dialMs: number,
  signal: AbortSignal,
  report?: (target: OriginTarget, ok: boolean) => void,
  timeFor?: (target: OriginTarget) => number,
): Promise<{ socket: Socket; target: OriginTarget }> {
  try {
    return await dialFirst(targets, { dialMs, signal, report, timeFor, what: 'RTMP' });
  } catch (err) {
    if (err instanceof OriginDialError) throw new OriginError(err.message, err.clientLeft ? 'client left' : 'origin unreachable', undefined, { cause: err });
    throw err;
  }
}

/**
 * Messages from the origin during setup: handshake first, then chunks through the leg (which answers
 * protocol control itself). `next()` waits for the next message with a deadline.
 */
class OriginInbox {
  private handshake: ClientHandshake | null = new ClientHandshake();
  private readonly messages: RtmpMessage[] = [];
  private head = 0;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private flushQueued = false;
  /** Given up: nothing more is written (the connection is being closed). */
  private stopped = false;
  readonly leg: RtmpLeg;

  constructor(
    readonly socket: Socket,
    maxMessageSize: number,
  ) {
    this.leg = new RtmpLeg(socket, { maxMessageSize });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    socket.write(this.handshake!.start());
  }

  private readonly onData = (data: Buffer): void => {
    try {
      let bytes = data;
      if (this.handshake !== null) {
        const out = this.handshake.feed(data);
        if (!out.done) return;
        this.handshake = null;
        // C2 waits for the connect command the setup queues next: one write instead of two.
        this.leg.sendRaw(out.send);
        bytes = out.rest;
      }
      if (bytes.length > 0) {
        for (const m of this.leg.read(bytes)) this.messages.push(m);
        // Answer every segment at once so our TCP ACK rides on it: an origin that writes its answers in
        // several small segments (nginx-rtmp) otherwise waits for our delayed ACK, ~40 ms per answer (Nagle).
        if (!this.leg.pending) this.leg.acknowledge();
      }
    } catch (err) {
      this.fail(new OriginError(`origin sent malformed RTMP: ${(err as Error).message}`, 'origin failed', undefined, { cause: err }));
      this.socket.destroy();
      return;
    }
    this.notify();
    // The setup wakes first (promise jobs run before immediates) and usually sends its next command, which
    // takes what is queued here along (C2, the acknowledgement) in the same write; whatever is left goes now.
    if (!this.flushQueued && this.leg.pending) {
      this.flushQueued = true;
      setImmediate(this.flushQueuedBytes);
    }
  };

  private readonly flushQueuedBytes = (): void => {
    this.flushQueued = false;
    if (!this.stopped) this.leg.flush();
  };

  private readonly onEnd = (): void => this.fail(new OriginError('origin closed the connection', 'origin failed'));
  private readonly onError = (err: NodeJS.ErrnoException): void =>
    this.fail(new OriginError(`origin connection failed: ${err.code ?? err.message}`, 'origin failed', undefined, { cause: err }));

  fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits until `ready()` holds; throws on failure, or after `ms` without it. */
  async until(ready: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      // What arrived before a failure still counts (an origin may send its error status, then close).
      if (ready()) return;
      if (this.failure !== null) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new OriginError(`origin did not answer ${what} within ${ms} ms`, 'origin did not answer in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = null;
          resolve();
        }, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits (up to `ms`) for the handshake to finish. */
  handshaken(ms: number): Promise<void> {
    return this.until(() => this.handshake === null, ms, 'the handshake');
  }

  /** The next message, waiting up to `ms` for one. */
  async next(ms: number, what: string): Promise<RtmpMessage> {
    await this.until(() => this.head < this.messages.length, ms, what);
    return this.messages[this.head++]!;
  }

  /** Gives up on the connection: stops listening and writes nothing more (the caller closes it). */
  stop(): void {
    this.stopped = true;
    this.detach();
  }

  /** Stops listening; returns the messages not taken yet. */
  detach(): RtmpMessage[] {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    return this.messages.slice(this.head);
  }
}

/** The connect command object replayed to the origin: the client's, plus `app`/`tcUrl` when it had none. */
export function originConnectObject(intent: ClientIntent, app: string, target: OriginTarget): Amf0Object {
  const obj = new Amf0Object(intent.connect.commandObject);
  if (intent.connect.app === '') obj.set('app', app);
  if (intent.connect.tcUrl === '') {
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    obj.set('tcUrl', `rtmp://${host}:${target.port}/${app}`);
  }
  return obj;
}

/** Dials the origin and replays the client's session up to NetStream.Publish.Start / NetStream.Play.Start. */
export async function openOriginLeg(o: OriginLegOptions): Promise<OriginLeg> {
  const { socket, target } = await dialOrigin(o.targets, o.dialMs, o.signal, o.report, o.timeFor);
  const fast = o.careful !== undefined && !o.careful.has(target);
  try {
    return await onConnection(socket, target, o, fast);
  } catch (err) {
    if (!(err instanceof StreamIdMismatch)) throw err;
    // Never the same command twice on one connection: a fresh one, careful from now on for this endpoint.
    o.careful!.remember(target);
    const again = await dialOrigin([target], o.dialMs, o.signal, o.report, o.timeFor);
    const ready = await onConnection(again.socket, again.target, o, false);
    return { ...ready, redialedAfterId: err.answered };
  }
}

/** Replays the client's session on a connected socket; on any failure the socket is closed. */
async function onConnection(socket: Socket, target: OriginTarget, o: OriginLegOptions, fast: boolean): Promise<OriginLeg> {
  const inbox = new OriginInbox(socket, o.maxMessageSize);
  const onAbort = () => {
    inbox.fail(new OriginError('client left', 'client left'));
    socket.destroy();
  };
  o.signal.addEventListener('abort', onAbort);
  try {
    const ready = await replay(inbox, o, target, fast);
    return ready;
  } catch (err) {
    inbox.stop();
    if (err instanceof StreamIdMismatch && o.intent.request.kind === 'publish') await released(socket, Math.min(RELEASE_WAIT_MS, o.answerMs), o.signal);
    socket.destroy();
    throw err;
  } finally {
    o.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Ends the connection and waits (up to `ms`) for the origin to close its side: by then it has dropped a
 * publish it may have taken on it, so the re-dial's publish of the same name is not refused as busy.
 */
function released(socket: Socket, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const done = () => {
      clearTimeout(timer);
      socket.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.on('close', done);
    socket.on('error', () => undefined);
    signal.addEventListener('abort', done);
    // Reading on (and dropping it) lets the origin's FIN arrive.
    socket.on('data', () => undefined);
    socket.end();
  });
}

async function replay(inbox: OriginInbox, o: OriginLegOptions, target: OriginTarget, fast: boolean): Promise<OriginLeg> {
  const { leg } = inbox;
  const { intent } = o;
  let tid = 1;
  const call = (name: string, commandObject: Amf0Value, args: Amf0Value[], streamId = 0): number => {
    const id = tid++;
    const cmd: RtmpCommand = { name, transactionId: id, commandObject, args };
    leg.send(commandMessage(cmd, streamId, COMMAND_CSID));
    return id;
  };

  await inbox.handshaken(o.answerMs);
  // connect, the preamble and createStream go out together (with C2): origins handle commands in order, and
  // each round trip saved is most of what the proxy adds to a stream's start. The fast leg sends publish/play
  // along too, on the stream id every common origin answers first.
  leg.setChunkSize(OUT_CHUNK_SIZE);
  const connectId = call('connect', originConnectObject(intent, o.app, target), intent.connect.args);
  for (const c of intent.preamble) call(c.name, c.commandObject, c.args);
  const createId = call('createStream', null, []);
  const req = intent.request.command;
  if (fast) call(req.name, req.commandObject, req.args, ASSUMED_STREAM_ID);
  leg.flush();
  const answers = await answersTo(inbox, { [connectId]: 'connect', [createId]: 'createStream' }, o.answerMs);
  const streamId = amf0Number(answers.get(createId)!.args[0]);
  if (streamId === undefined || !Number.isInteger(streamId) || streamId <= 0 || streamId > 0xffffffff) {
    throw new OriginError('origin answered createStream without a stream id', 'origin failed');
  }
  if (fast && streamId !== ASSUMED_STREAM_ID) throw new StreamIdMismatch(streamId);

  if (!fast) {
    call(req.name, req.commandObject, req.args, streamId);
    leg.flush();
  }
  const wanted = intent.request.kind === 'publish' ? 'NetStream.Publish.Start' : 'NetStream.Play.Start';
  const forward: RtmpMessage[] = [];
  let forwardBytes = 0;
  let sentOnFCPublish = false;
  const deadline = Date.now() + o.answerMs;
  for (;;) {
    const m = await inbox.next(Math.max(1, deadline - Date.now()), intent.request.kind);
    if (!isCommand(m)) {
      forwardBytes += payloadLength(m);
      if (forwardBytes > MAX_EARLY_BYTES) throw new OriginError(`origin sent over ${MAX_EARLY_BYTES} bytes before its ${wanted}`, 'origin failed');
      forward.push(m);
      continue;
    }
    const cmd = readCommand(m);
    if ((cmd.name === '_result' || cmd.name === '_error') && cmd.transactionId < tid && cmd.transactionId > 0) {
      // A late answer to one of our own setup calls (releaseStream…); a refused publish/play is an error.
      if (cmd.name === '_error' && cmd.transactionId === tid - 1) {
        throw new OriginError(`origin refused ${req.name}: ${infoText(infoObject(cmd), 'code')}`, 'origin refused the stream', infoObject(cmd));
      }
      continue;
    }
    if (cmd.name === 'onFCPublish') sentOnFCPublish = true;
    if (cmd.name === 'onStatus') {
      const info = infoObject(cmd);
      const code = infoText(info, 'code');
      if (infoText(info, 'level') === 'error') throw new OriginError(`origin refused ${req.name}: ${code}`, 'origin refused the stream', info);
      forward.push(m);
      if (code === wanted) break;
      continue;
    }
    forward.push(m);
  }
  forward.push(...inbox.detach());
  return { leg, target, streamId, forward, sentOnFCPublish };
}

/**
 * Waits for the `_result` of every call in `calls` (tid → name), in whatever order they come, skipping other
 * messages; an `_error` to any of them is an OriginError carrying the origin's info object.
 */
async function answersTo(inbox: OriginInbox, calls: Record<number, string>, ms: number): Promise<Map<number, RtmpCommand>> {
  const deadline = Date.now() + ms;
  const got = new Map<number, RtmpCommand>();
  const wanted = Object.keys(calls).length;
  while (got.size < wanted) {
    const pending = Object.entries(calls)
      .filter(([id]) => !got.has(Number(id)))
      .map(([, name]) => name)
      .join(', ');
    const m = await inbox.next(Math.max(1, deadline - Date.now()), pending);
    if (!isCommand(m)) continue;
    const cmd = readCommand(m);
    const what = calls[cmd.transactionId];
    if (what === undefined) continue;
    if (cmd.name === '_result') got.set(cmd.transactionId, cmd);
    else if (cmd.name === '_error') {
      const info = infoObject(cmd);
      throw new OriginError(`origin refused ${what}: ${infoText(info, 'code') || 'error'}`, 'origin refused the stream', info);
    }
  }
  return got;
}
