import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Amf0EcmaArray, Amf0Object, decodeCommand, encodeCommand } from '../../../src/rtmp/amf0.js';
import { encodeAmf3Command } from '../../fixtures/rtmp-codec.js';
import {
  commandMessage,
  connectResult,
  errorResult,
  infoObject,
  infoText,
  onFCPublish,
  onStatus,
  parseConnect,
  parseStreamRequest,
  peekCommandName,
  readCommand,
  result,
  statusInfo,
} from '../../../src/rtmp/commands.js';
import { MessageType, type RtmpMessage } from '../../../src/rtmp/messages.js';
import { ascii, hex, onlyRtmpErrors, throwsRtmp } from './helpers.js';
import { FFMPEG_CONNECT } from './vectors.js';

function message(type: number, payload: Buffer): RtmpMessage {
  return { type, timestamp: 0, streamId: 0, csid: 3, payload };
}

describe('answers the proxy writes', () => {
  test('onStatus is laid out as name, transaction id 0, null, info object (known answer)', () => {
    const wire = encodeCommand(onStatus(statusInfo('error', 'X', 'y')));
    assert.deepStrictEqual(
      wire,
      Buffer.concat([
        hex('02 0008'),
        ascii('onStatus'),
        hex('00 0000000000000000'), //  transaction id 0
        hex('05'), //                    null command object
        hex('03'),
        hex('0005'),
        ascii('level'),
        hex('02 0005'),
        ascii('error'),
        hex('0004'),
        ascii('code'),
        hex('02 0001'),
        ascii('X'),
        hex('000b'),
        ascii('description'),
        hex('02 0001'),
        ascii('y'),
        hex('0000 09'),
      ]),
    );
  });

  test('connect _result looks like SRS: FMS version, capabilities, mode; success info with data', () => {
    const cmd = decodeCommand(encodeCommand(connectResult({ transactionId: 2, objectEncoding: 3, cid: 'abc1234', version: '0.1.0' })));
    assert.equal(cmd.name, '_result');
    assert.equal(cmd.transactionId, 2);
    assert.deepEqual(
      [...(cmd.commandObject as Amf0Object)],
      [
        ['fmsVer', 'FMS/3,5,3,888'],
        ['capabilities', 127],
        ['mode', 1],
      ],
    );
    const info = cmd.args[0] as Amf0Object;
    assert.deepEqual([...info.keys()], ['level', 'code', 'description', 'objectEncoding', 'data']);
    assert.equal(info.get('code'), 'NetConnection.Connect.Success');
    assert.equal(info.get('description'), 'Connection succeeded');
    assert.equal(info.get('objectEncoding'), 3);
    const data = info.get('data') as Amf0EcmaArray;
    assert.ok(data instanceof Amf0EcmaArray);
    assert.deepEqual(Object.fromEntries(data), { version: '3,5,3,888', srs_version: '0.1.0', srs_id: 'abc1234' });
    assert.equal(data.declaredCount, 3, 'the ECMA count is the real count (the Go proxy wrote 0)');
  });

  test('_result, _error and onFCPublish', () => {
    assert.deepEqual(decodeCommand(encodeCommand(result(4, 1))), { name: '_result', transactionId: 4, commandObject: null, args: [1] });
    assert.deepEqual(decodeCommand(encodeCommand(result(2, undefined))).args, [undefined]);
    const err = decodeCommand(encodeCommand(errorResult(1, statusInfo('error', 'NetConnection.Connect.Rejected', 'no'))));
    assert.equal(err.name, '_error');
    assert.equal(infoText(infoObject(err), 'code'), 'NetConnection.Connect.Rejected');
    const fc1 = decodeCommand(encodeCommand(onFCPublish()));
    assert.equal(fc1.name, 'onFCPublish');
    assert.equal(infoText(infoObject(fc1), 'code'), 'NetStream.Publish.Start');
  });

  test('commandMessage: type 20 on the given stream and chunk stream', () => {
    const m = commandMessage(onStatus(null), 5, 8);
    assert.equal(m.type, MessageType.CommandAmf0);
    assert.equal(m.streamId, 5);
    assert.equal(m.csid, 8);
    assert.equal(decodeCommand(m.payload).name, 'onStatus');
  });
});

describe('what clients send', () => {
  test("FFmpeg's connect: app, tcUrl, and objectEncoding defaulting to 0", () => {
    const c = parseConnect(decodeCommand(FFMPEG_CONNECT));
    assert.equal(c.transactionId, 1);
    assert.equal(c.app, 'live');
    assert.equal(c.tcUrl, 'rtmp://127.0.0.1:1935/live');
    assert.equal(c.objectEncoding, 0);
    assert.deepEqual([...c.commandObject.keys()], ['app', 'type', 'flashVer', 'tcUrl']);
    assert.deepEqual(c.args, []);
  });

  test('connect keeps extra arguments; an ECMA array command object is accepted; anything else is not', () => {
    const obj = Amf0EcmaArray.fromRecord({ app: 'a', objectEncoding: 3 });
    const c = parseConnect({ name: 'connect', transactionId: 7, commandObject: obj, args: ['user', 'pass'] });
    assert.equal(c.app, 'a');
    assert.equal(c.tcUrl, '');
    assert.equal(c.objectEncoding, 3);
    assert.deepEqual(c.args, ['user', 'pass']);
    assert.ok(c.commandObject instanceof Amf0Object);
    throwsRtmp(() => parseConnect({ name: 'connect', transactionId: 1, commandObject: null, args: [] }), 'AMF_COMMAND');
    throwsRtmp(() => parseConnect({ name: 'connect', transactionId: 1, commandObject: 'live', args: [] }), 'AMF_COMMAND');
  });

  test('publish and play: the name (with its query) is required; the rest is kept as sent', () => {
    const pub = parseStreamRequest({ name: 'publish', transactionId: 5, commandObject: null, args: ['s?token=1', 'record'] });
    assert.equal(pub.kind, 'publish');
    assert.equal(pub.name, 's?token=1');
    assert.deepEqual(pub.command.args, ['s?token=1', 'record']);
    // No publish type: accepted (the Go proxy required it).
    assert.equal(parseStreamRequest({ name: 'publish', transactionId: 0, commandObject: null, args: ['s'] }).name, 's');
    const play = parseStreamRequest({ name: 'play', transactionId: 0, commandObject: null, args: ['s', -2, -1, false] });
    assert.deepEqual(play.command.args, ['s', -2, -1, false]);
    throwsRtmp(() => parseStreamRequest({ name: 'play', transactionId: 0, commandObject: null, args: [] }), 'AMF_COMMAND');
    throwsRtmp(() => parseStreamRequest({ name: 'play', transactionId: 0, commandObject: null, args: [''] }), 'AMF_COMMAND');
    throwsRtmp(() => parseStreamRequest({ name: 'seek', transactionId: 0, commandObject: null, args: ['s'] }), 'AMF_COMMAND');
  });

  test('readCommand: AMF0 (20) and AMF3 (17) commands; other types are errors', () => {
    const cmd = { name: 'createStream', transactionId: 4, commandObject: null, args: [] };
    assert.deepEqual(readCommand(message(20, encodeCommand(cmd))), cmd);
    assert.deepEqual(readCommand(message(17, encodeAmf3Command(cmd))), cmd);
    throwsRtmp(() => readCommand(message(18, encodeCommand(cmd))), 'AMF_COMMAND');
  });

  test('info objects of answers; missing fields read as empty', () => {
    const cmd = decodeCommand(encodeCommand(onStatus(statusInfo('status', 'NetStream.Play.Start', 'go'))));
    assert.equal(infoText(infoObject(cmd), 'level'), 'status');
    assert.equal(infoText(infoObject(cmd), 'nope'), '');
    assert.equal(infoObject({ name: 'onStatus', transactionId: 0, commandObject: null, args: ['text'] }), undefined);
    assert.equal(infoText(undefined, 'code'), '');
  });
});

describe('peekCommandName (relay hot path)', () => {
  test('agrees with the full decoder for AMF0 and AMF3 commands', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.double({ noNaN: true }), (name, tid) => {
        const cmd = { name, transactionId: tid, commandObject: null, args: [] };
        const latin1 = Buffer.from(name, 'utf8').toString('latin1');
        assert.equal(peekCommandName(message(20, encodeCommand(cmd))), latin1);
        assert.equal(peekCommandName(message(17, encodeAmf3Command(cmd))), latin1);
      }),
    );
    assert.equal(peekCommandName(message(20, encodeCommand({ name: 'deleteStream', transactionId: 3, commandObject: null, args: [1] }))), 'deleteStream');
  });

  test('never throws; short or non-string payloads give undefined', () => {
    assert.equal(peekCommandName(message(20, hex(''))), undefined);
    assert.equal(peekCommandName(message(20, hex('02 0005 6162'))), undefined);
    assert.equal(peekCommandName(message(20, hex('00 0000000000000000'))), undefined);
    assert.equal(peekCommandName(message(17, hex('02'))), undefined);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(17, 20), (bytes, type) => {
        const name = peekCommandName(message(type, Buffer.from(bytes)));
        assert.ok(name === undefined || typeof name === 'string');
      }),
    );
  });

  test('readCommand on arbitrary bytes throws only RtmpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(17, 20), (bytes, type) => {
        onlyRtmpErrors(() => readCommand(message(type, Buffer.from(bytes))));
      }),
      { numRuns: 2000 },
    );
  });
});
