// NetConnection / NetStream commands as the proxy reads and writes them (Adobe RTMP specification 1.0,
// section 7.2): the client's intent (connect → publish or play), the answers the proxy gives in an origin's
// place, and helpers to read origins' answers. Pure: values in, values out, RtmpError on bad input.
import {
  Amf0EcmaArray,
  Amf0Object,
  amf0Number,
  amf0Property,
  amf0Text,
  decodeAmf3Command,
  decodeCommand,
  encodeCommand,
  type Amf0DecodeOptions,
  type Amf0Value,
  type RtmpCommand,
} from './amf0.js';
import { RtmpError } from './errors.js';
import { MessageType, type RtmpMessage } from './messages.js';

/** Chunk stream the proxy's own commands travel on (connection-level and stream-level alike). */
export const COMMAND_CSID = 3;

/** What FMS/SRS report as their version in the connect answer; clients only display it. */
export const FMS_VERSION = 'FMS/3,5,3,888';
const FMS_VERSION_NUMBERS = '3,5,3,888';

/** Decoding limits for commands read from the network: lenient about repeated keys, bounded in depth. */
export const COMMAND_DECODE_OPTIONS: Amf0DecodeOptions = { maxDepth: 32, maxItems: 10_000, duplicateKeys: 'lastWins' };

/** Whether a message carries a command (AMF0 type 20 or AMF3 type 17). */
export function isCommand(msg: RtmpMessage): boolean {
  return msg.type === MessageType.CommandAmf0 || msg.type === MessageType.CommandAmf3;
}

/** Decodes the command in a type 20 or 17 message. */
export function readCommand(msg: RtmpMessage): RtmpCommand {
  if (msg.type === MessageType.CommandAmf3) return decodeAmf3Command(msg.payload, COMMAND_DECODE_OPTIONS);
  if (msg.type === MessageType.CommandAmf0) return decodeCommand(msg.payload, COMMAND_DECODE_OPTIONS);
  throw new RtmpError('AMF_COMMAND', `message type ${msg.type} is not a command`);
}

/**
 * The command name of a type 20/17 message without decoding the rest (relay hot path), or undefined when
 * the payload does not start with a short AMF0 string.
 */
export function peekCommandName(msg: RtmpMessage): string | undefined {
  const p = msg.payload;
  const at = msg.type === MessageType.CommandAmf3 ? 1 : 0;
  if (p.length < at + 3 || p[at] !== 0x02) return undefined;
  const n = p.readUInt16BE(at + 1);
  if (p.length < at + 3 + n) return undefined;
  return p.toString('latin1', at + 3, at + 3 + n);
}

/** An AMF0 command message (type 20) on `streamId`. */
export function commandMessage(command: RtmpCommand, streamId = 0, csid = COMMAND_CSID): RtmpMessage {
  return { type: MessageType.CommandAmf0, timestamp: 0, streamId, csid, payload: encodeCommand(command) };
}

/** A NetConnection/NetStream info object (level, code, description, then any extra fields). */
export function statusInfo(level: 'status' | 'warning' | 'error', code: string, description: string, extra: Record<string, Amf0Value> = {}): Amf0Object {
  return Amf0Object.fromRecord({ level, code, description, ...extra });
}

/** `onStatus(0, null, info)`. */
export function onStatus(info: Amf0Value): RtmpCommand {
  return { name: 'onStatus', transactionId: 0, commandObject: null, args: [info] };
}

/** `onFCPublish(0, null, {code: NetStream.Publish.Start})`, what SRS/FMS tell an encoder that sent FCPublish. */
export function onFCPublish(): RtmpCommand {
  const info = Amf0Object.fromRecord({ code: 'NetStream.Publish.Start', description: 'Started publishing stream.' });
  return { name: 'onFCPublish', transactionId: 0, commandObject: null, args: [info] };
}

/** `_result(tid, null, value)` (createStream answers a stream id; releaseStream and friends undefined). */
export function result(transactionId: number, value: Amf0Value): RtmpCommand {
  return { name: '_result', transactionId, commandObject: null, args: [value] };
}

/** `_error(tid, null, info)`. */
export function errorResult(transactionId: number, info: Amf0Value): RtmpCommand {
  return { name: '_error', transactionId, commandObject: null, args: [info] };
}

/** What the connect answer reports about the proxy. */
export interface ConnectAnswer {
  transactionId: number;
  /** The client's objectEncoding (0 = AMF0, 3 = AMF3), echoed as FMS does. */
  objectEncoding: number;
  /** The connection's context id (the SRS `srs_id`). */
  cid: string;
  /** Our version, reported as `srs_version`. */
  version: string;
}

/** The connect `_result` as SRS writes it: FMS version and capabilities, then NetConnection.Connect.Success. */
export function connectResult(a: ConnectAnswer): RtmpCommand {
  const data = Amf0EcmaArray.fromRecord({ version: FMS_VERSION_NUMBERS, srs_version: a.version, srs_id: a.cid });
  return {
    name: '_result',
    transactionId: a.transactionId,
    commandObject: Amf0Object.fromRecord({ fmsVer: FMS_VERSION, capabilities: 127, mode: 1 }),
    args: [statusInfo('status', 'NetConnection.Connect.Success', 'Connection succeeded', { objectEncoding: a.objectEncoding, data })],
  };
}

/** A client's `connect`: the whole command object and extra arguments, kept to replay to the origin. */
export interface ConnectRequest {
  transactionId: number;
  commandObject: Amf0Object;
  args: Amf0Value[];
  /** `tcUrl`, or '' when absent. */
  tcUrl: string;
  /** `app`, or '' when absent. */
  app: string;
  objectEncoding: number;
}

/** Reads a `connect` command; its command object must be an object (properties may be missing). */
export function parseConnect(cmd: RtmpCommand): ConnectRequest {
  const obj = cmd.commandObject;
  if (!(obj instanceof Amf0Object) && !(obj instanceof Amf0EcmaArray)) {
    throw new RtmpError('AMF_COMMAND', 'connect without a command object');
  }
  const commandObject = obj instanceof Amf0Object ? obj : new Amf0Object(obj);
  return {
    transactionId: cmd.transactionId,
    commandObject,
    args: cmd.args,
    tcUrl: amf0Text(commandObject.get('tcUrl')) ?? '',
    app: amf0Text(commandObject.get('app')) ?? '',
    objectEncoding: amf0Number(commandObject.get('objectEncoding')) ?? 0,
  };
}

/** A client's `publish(name, type)` or `play(name, start, duration, reset)`, kept whole to replay. */
export interface StreamRequest {
  kind: 'publish' | 'play';
  /** The stream name with its query (`livestream?token=x`), as the origin must see it. */
  name: string;
  /** The command exactly as received (its arguments are replayed to the origin). */
  command: RtmpCommand;
}

/** Reads `publish` or `play`; the name is required, everything after it is optional and kept. */
export function parseStreamRequest(cmd: RtmpCommand): StreamRequest {
  if (cmd.name !== 'publish' && cmd.name !== 'play') throw new RtmpError('AMF_COMMAND', `${cmd.name} is not publish or play`);
  const name = amf0Text(cmd.args[0]);
  if (name === undefined || name === '') throw new RtmpError('AMF_COMMAND', `${cmd.name} without a stream name`);
  return { kind: cmd.name, name, command: cmd };
}

/** The info object of an `onStatus`, `_result` or `_error` (its first argument), if it is an object. */
export function infoObject(cmd: RtmpCommand): Amf0Value {
  const info = cmd.args[0];
  return info instanceof Amf0Object || info instanceof Amf0EcmaArray ? info : undefined;
}

/** A text field of an info object (`code`, `level`, `description`), or ''. */
export function infoText(info: Amf0Value, field: string): string {
  return amf0Text(amf0Property(info, field)) ?? '';
}
