// RTMP proxy at the message level, against a scripted origin that records what it receives (spec scenarios
// 29–31, 33, 34, 36–39 with our improvements): what each side sees, in which order, with which stream ids.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Amf0EcmaArray, Amf0Object, decodeCommand, type Amf0Value } from '../../src/rtmp/amf0.js';
import { MessageType, controlMessage, decodeSetChunkSize, encodeWindowAckSize, userControlMessage, type RtmpMessage } from '../../src/rtmp/messages.js';
import { decodeUserControl } from '../fixtures/rtmp-codec.js';
import { VERSION } from '../../src/version.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin, type FakeOriginOptions } from '../fixtures/rtmp-fake-origin.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

function video(timestamp: number, payload: Buffer, streamId = 1): RtmpMessage {
  return { type: MessageType.Video, timestamp, streamId, csid: 6, payload };
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

describe('RTMP proxy against a scripted origin', () => {
  let proxy: RunningProxy;
  let url: string;
  const origins: FakeRtmpOrigin[] = [];
  let serial = 0;

  before(async () => {
    // The per-client relay (§4): origin statuses passed through, scripted payloads that are not real media,
    // backpressure onto the origin. Edge mode answers plays itself, waits for a keyframe and reads the origin at
    // its own pace (§11.2, §11.4), so it stays off whatever the suite's overlay.
    proxy = await startProxy({ env: { PROXY_ORIGIN_ANSWER_TIMEOUT: '1500ms', PROXY_LOG_LEVEL: 'info', PROXY_EDGE: 'off' } });
    url = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live`;
  });
  after(async () => {
    for (const o of origins) await o.close();
    await proxy.stop();
  });

  /** A fresh fake origin registered as the only one (each test deregisters the previous). */
  async function origin(options: FakeOriginOptions = {}): Promise<FakeRtmpOrigin> {
    for (const o of origins) await fetch(`${proxy.systemApi}/api/v1/origins/fo${origins.indexOf(o)}`, { method: 'DELETE' });
    const o = await FakeRtmpOrigin.start(options);
    origins.push(o);
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: `fo${origins.length - 1}`, service: 's', pid: '1', rtmp: [String(o.port)] });
    return o;
  }

  test('OBS/FFmpeg-style publish: what the client and the origin each see (scenarios 29, 30, 31, 33)', async () => {
    const fo = await origin();
    const tcUrl = `${url}`;
    const connectObject = {
      app: 'live',
      type: 'nonprivate',
      flashVer: 'FMLE/3.0 (compatible; obs)',
      swfUrl: 'rtmp://x/live',
      tcUrl,
      pageUrl: 'http://example/page',
      objectEncoding: 0,
    };
    const { client, answer } = await RtmpTestClient.open(`${url}/x`, { connectObject });
    // connect answer, as SRS gives it
    assert.equal(answer.name, '_result');
    assert.equal(answer.transactionId, 1);
    const props = answer.commandObject as Amf0Object;
    assert.equal(props.get('fmsVer'), 'FMS/3,5,3,888');
    assert.equal(props.get('capabilities'), 127);
    assert.equal(props.get('mode'), 1);
    const info = answer.args[0] as Amf0Object;
    assert.equal(info.get('level'), 'status');
    assert.equal(info.get('code'), 'NetConnection.Connect.Success');
    assert.equal(info.get('description'), 'Connection succeeded');
    assert.equal(info.get('objectEncoding'), 0);
    const data = info.get('data') as Amf0EcmaArray;
    assert.ok(data instanceof Amf0EcmaArray);
    assert.match(String(data.get('srs_id')), /^[0-9a-f]{7}$/);
    assert.equal(data.get('srs_version'), VERSION);

    const name = 'livestream?secret=abc';
    client.invoke('releaseStream', null, [name]);
    client.invoke('FCPublish', null, [name]);
    const sid = await client.createStream();
    assert.equal(sid, 1);
    const status = await client.start('publish', name, sid);
    assert.equal(status.get('code'), 'NetStream.Publish.Start');

    // Client side, in order: window, peer bandwidth, chunk size, connect result, the two empty results,
    // createStream 1, onFCPublish, then (once the origin accepted) the origin's onStatus.
    const seen = client.received.map((m) => (m.type === MessageType.CommandAmf0 ? decodeCommand(m.payload).name : `type${m.type}`));
    assert.deepEqual(seen, ['type5', 'type6', 'type1', '_result', '_result', '_result', '_result', 'onFCPublish', 'onStatus']);
    assert.equal(decodeSetChunkSize(client.received[2]!.payload), 60000);
    const statusMsg = client.received[8]!;
    assert.equal(statusMsg.streamId, 1, 'the origin answered on its stream 7; the client sees its own 1');

    // Origin side: C0 = 3, connect with the whole command object, the preamble, createStream, publish on 7.
    const s = await fo.started(0);
    assert.equal(s.c0, 3);
    const names = s.commands.map((c) => c.name);
    assert.deepEqual(names, ['connect', 'releaseStream', 'FCPublish', 'createStream', 'publish']);
    assert.deepEqual(Object.fromEntries(s.commands[0]!.commandObject as Amf0Object), connectObject);
    assert.deepEqual(s.commands[1]!.args, [name]);
    assert.deepEqual(s.commands[2]!.args, [name]);
    assert.deepEqual(s.commands[4]!.args, [name, 'live']);
    assert.equal(s.commands[4]!.streamId, 7);

    // The key ignores the query (scenario 31).
    const pins = (await (await fetch(`${proxy.systemApi}/api/v1/streams?limit=100`)).json()) as { streams: { stream: string; server: string }[] };
    assert.ok(pins.streams.some((p) => p.stream === '__defaultVhost__/live/livestream' && p.server === 'fo0'));

    // Media: 64 KB and 1 MiB messages arrive byte-identical on the origin's stream id (scenario 37),
    // across client chunk size changes (scenario 38) that are never forwarded.
    const payloads = [pattern(64 * 1024, 1), pattern(1024 * 1024, 2), pattern(300, 3), pattern(70_000, 4), pattern(5000, 5)];
    client.send(video(40, payloads[0]!));
    client.setChunkSize(4096);
    client.send(video(80, payloads[1]!));
    client.send({ type: MessageType.DataAmf0, timestamp: 80, streamId: 1, csid: 5, payload: pattern(1024 * 1024, 9) });
    client.setChunkSize(65536);
    client.send(video(120, payloads[2]!));
    client.send(video(0xffffff + 5, payloads[3]!)); // extended timestamp
    client.setChunkSize(128);
    // Chunk stream ids that need the 2- and 3-byte basic headers (the Go proxy truncated them).
    client.send({ ...video(0xffffff + 45, payloads[4]!), csid: 400 });
    client.send({ type: MessageType.Audio, timestamp: 0xffffff + 46, streamId: 1, csid: 70, payload: pattern(200, 6) });
    await s.until(() => s.media.length >= 7);
    assert.deepEqual(
      s.media.slice(-2).map((m) => [m.type, m.csid]),
      [
        [MessageType.Video, 400],
        [MessageType.Audio, 70],
      ],
    );
    assert.ok(s.media[s.media.length - 1]!.payload.equals(pattern(200, 6)));
    const got = s.media.filter((m) => m.type === MessageType.Video);
    assert.deepEqual(
      got.map((m) => m.timestamp),
      [40, 80, 120, 0xffffff + 5, 0xffffff + 45],
    );
    got.forEach((m, i) => assert.ok(m.payload.equals(payloads[i]!), `video ${i} payload`));
    assert.ok(got.every((m) => m.streamId === 7));
    const meta = s.media.find((m) => m.type === MessageType.DataAmf0)!;
    assert.ok(meta.payload.equals(pattern(1024 * 1024, 9)));
    // The origin only ever saw the proxy's own chunk size.
    const sizes = s.control.filter((m) => m.type === MessageType.SetChunkSize).map((m) => decodeSetChunkSize(m.payload));
    assert.deepEqual(sizes, [60000]);

    // deleteStream names the stream in an argument: the origin hears its own id.
    client.invoke('FCUnpublish', null, [name]);
    client.invoke('deleteStream', null, [1]);
    await s.until(() => s.commands.some((c) => c.name === 'deleteStream'));
    assert.deepEqual(s.commands.find((c) => c.name === 'deleteStream')!.args, [7]);
    client.close();
    await s.until(() => s.closedAt !== undefined, 2000);
  });

  test('play: the origin statuses and media reach the client on its own stream id, unchanged (scenario 32)', async () => {
    const fo = await origin({ streamId: 5 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    client.invoke('FCSubscribe', null, ['cam']);
    const sid = await client.createStream();
    const from = client.received.length;
    const status = await client.start('play', 'cam?token=t1', sid, [-1000, -1, true] as Amf0Value[]);
    assert.equal(status.get('code'), 'NetStream.Play.Start');
    const s = await fo.started(0);
    assert.deepEqual(
      s.commands.map((c) => c.name),
      ['connect', 'FCSubscribe', 'createStream', 'play'],
    );
    assert.deepEqual(s.commands[3]!.args, ['cam?token=t1', -1000, -1, true], 'play arguments replayed as sent');
    assert.equal(s.commands[3]!.streamId, 5);
    // StreamBegin names the client's stream, statuses arrive on it.
    const after = client.received.slice(from);
    const begin = after.find((m) => m.type === MessageType.UserControl)!;
    assert.deepEqual(decodeUserControl(begin.payload), { kind: 'streamBegin', streamId: 1 });
    const codes = after
      .filter((m) => m.type === MessageType.CommandAmf0)
      .map((m) => [m.streamId, String((decodeCommand(m.payload).args[0] as Amf0Object).get('code'))]);
    assert.deepEqual(codes, [
      [1, 'NetStream.Play.Reset'],
      [1, 'NetStream.Play.Start'],
    ]);

    // Set Buffer Length names the stream too: the origin hears its own id.
    client.send(userControlMessage({ kind: 'setBufferLength', streamId: 1, bufferLengthMs: 3000 }));
    await s.until(() => s.media.some((m) => m.type === MessageType.UserControl));
    assert.deepEqual(decodeUserControl(s.media.find((m) => m.type === MessageType.UserControl)!.payload), {
      kind: 'setBufferLength',
      streamId: 5,
      bufferLengthMs: 3000,
    });

    // Media with original timestamps; the origin's chunk size (4096) never reaches the client.
    const base = client.received.length;
    const sent = [pattern(100_000, 1), pattern(10, 2), pattern(4097, 3)];
    sent.forEach((p, i) => s.send(video(1000 + i * 40, p, 5)));
    await client.waitFor((m) => m.type === MessageType.Video && m.timestamp === 1080, base);
    const vids = client.received.slice(base).filter((m) => m.type === MessageType.Video);
    assert.deepEqual(
      vids.map((m) => [m.timestamp, m.streamId]),
      [
        [1000, 1],
        [1040, 1],
        [1080, 1],
      ],
    );
    vids.forEach((m, i) => assert.ok(m.payload.equals(sent[i]!)));
    const sizes = client.received.filter((m) => m.type === MessageType.SetChunkSize).map((m) => decodeSetChunkSize(m.payload));
    assert.deepEqual(sizes, [60000]);
    client.close();
  });

  test('protocol control is answered per leg: pings and acknowledgements are never forwarded', async () => {
    const fo = await origin({ ackWindow: 100_000 });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const sid = await client.createStream();
    await client.start('play', 'acks', sid);
    const s = await fo.started(0);
    // The origin pings: the proxy answers it; the client never sees the ping.
    s.send(userControlMessage({ kind: 'pingRequest', timestamp: 4242 }));
    await s.until(() => s.media.some((m) => m.type === MessageType.UserControl && decodeUserControl(m.payload).kind === 'pingResponse'));
    assert.deepEqual(decodeUserControl(s.media.find((m) => m.type === MessageType.UserControl)!.payload), { kind: 'pingResponse', timestamp: 4242 });
    // The origin asked for acknowledgements every 100,000 bytes: it gets them from the proxy.
    for (let i = 0; i < 5; i++) s.send(video(i * 40, pattern(60_000, i), 7));
    await s.until(() => s.control.some((m) => m.type === MessageType.Acknowledgement));
    // The client pings the proxy: answered by the proxy, not by the origin.
    const before = s.media.length;
    client.send(userControlMessage({ kind: 'pingRequest', timestamp: 77 }));
    await client.waitFor((m) => m.type === MessageType.UserControl && decodeUserControl(m.payload).kind === 'pingResponse');
    // The client asks the proxy for acknowledgements of what it sends.
    client.send(controlMessage(MessageType.WindowAckSize, encodeWindowAckSize(50_000)));
    for (let i = 0; i < 3; i++) client.send({ type: MessageType.DataAmf0, timestamp: 0, streamId: 1, csid: 5, payload: pattern(30_000, i) });
    await client.waitFor((m) => m.type === MessageType.Acknowledgement);
    assert.ok(!client.received.some((m) => m.type === MessageType.UserControl && decodeUserControl(m.payload).kind === 'pingRequest'));
    assert.equal(s.media.slice(before).filter((m) => m.type === MessageType.UserControl).length, 0, 'no client ping reached the origin');
    client.close();
  });

  test('connect with transaction id 2 and without app is accepted; the origin gets an app (scenario 34)', async () => {
    const fo = await origin();
    const { client, answer } = await RtmpTestClient.open(`${url}/x`, { connectObject: { tcUrl: `${url}` } });
    assert.equal(answer.name, '_result');
    client.invoke('createStream', null, [], 0, 2);
    await client.waitCommand('_result', 2);
    const status = await client.start('publish', `tid${serial++}`, 1);
    assert.equal(status.get('code'), 'NetStream.Publish.Start');
    const s = await fo.started(0);
    const obj = s.commands[0]!.commandObject as Amf0Object;
    assert.equal(obj.get('app'), 'live');
    assert.equal(obj.get('tcUrl'), url);
    client.close();
  });

  test('the origin refuses publish: its status reaches the client, then the socket closes (scenario 36)', async () => {
    await origin({ publishCode: 'NetStream.Publish.BadName', publishLevel: 'error' });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('publish', 'busy', await client.createStream());
    assert.equal(status.get('code'), 'NetStream.Publish.BadName');
    assert.equal(status.get('level'), 'error');
    await client.closedWithin(2000);
  });

  test('the origin rejects connect: the client gets that status, then the socket closes', async () => {
    await origin({ rejectConnect: true });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const status = await client.start('play', 'x', await client.createStream());
    assert.equal(status.get('code'), 'NetConnection.Connect.Rejected');
    await client.closedWithin(2000);
  });

  test('a silent origin: after the answer timeout the client gets an error status and is closed', async () => {
    await origin({ silent: true });
    const { client } = await RtmpTestClient.open(`${url}/x`);
    const t0 = Date.now();
    const status = await client.start('publish', 'quiet', await client.createStream());
    assert.equal(status.get('level'), 'error');
    assert.equal(status.get('code'), 'NetStream.Publish.BadName');
    assert.match(String(status.get('description')), /did not answer/);
    assert.ok(Date.now() - t0 < 5000);
    await client.closedWithin(2000);
  });

  test('the client vanishes: the origin leg is closed within 1 s (scenario 39)', async () => {
    const fo = await origin();
    const { client } = await RtmpTestClient.open(`${url}/x`);
    await client.start('publish', 'gone', await client.createStream());
    const s = await fo.started(0);
    client.send(video(0, pattern(1000, 1)));
    await s.until(() => s.media.length > 0);
    const t0 = Date.now();
    client.socket.resetAndDestroy();
    await s.until(() => s.closedAt !== undefined, 1000);
    assert.ok(s.closedAt! - t0 <= 1000);
  });

  test('the origin goes away mid-stream: the client is closed within 1 s', async () => {
    const fo = await origin();
    const { client } = await RtmpTestClient.open(`${url}/x`);
    await client.start('play', 'dies', await client.createStream());
    const s = await fo.started(0);
    s.send(video(0, pattern(1000, 1), 7));
    await client.waitFor((m) => m.type === MessageType.Video);
    s.socket.destroy();
    assert.ok((await client.closedWithin(1000)) <= 1000);
  });

  test('a player that does not read: the proxy stops reading the origin, its memory stays bounded', async () => {
    const fo = await origin();
    const { client } = await RtmpTestClient.open(`${url}/x`);
    await client.start('play', 'slow', await client.createStream());
    const s = await fo.started(0);
    const rss0 = rssOf(proxy.peer.pid);
    client.socket.pause();
    // 300 MB offered by the origin; with a stalled player only the socket buffers fill up.
    const chunk = pattern(500_000, 3);
    let offered = 0;
    for (let i = 0; i < 600 && s.socket.writableLength < 64 * 1024 * 1024; i++) {
      s.send(video(i * 40, chunk, 7));
      offered += chunk.length;
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    // Time for the proxy to take in what it would: a slow proxy here only makes the memory check
    // easier to pass, never harder (a settle time, not a synchronisation).
    await new Promise((r) => setTimeout(r, 500));
    const grown = rssOf(proxy.peer.pid) - rss0;
    assert.ok(
      s.socket.writableLength > 16 * 1024 * 1024,
      `the origin could not send everything (${s.socket.writableLength} bytes waiting, ${offered} offered)`,
    );
    assert.ok(grown < 60 * 1024 * 1024, `proxy RSS grew by ${grown} bytes`);
    // Reading again: the stream continues in order.
    client.received.length = 0;
    client.socket.resume();
    await client.waitFor((m) => m.type === MessageType.Video && m.timestamp >= 400);
    const ts = client.received.filter((m) => m.type === MessageType.Video).map((m) => m.timestamp);
    assert.ok(
      ts.every((t, i) => i === 0 || t === ts[i - 1]! + 40),
      'no message lost or reordered',
    );
    client.close();
  });
});

describe('RTMP: a player that stops reading is closed after the idle timeout', () => {
  let proxy: RunningProxy;
  let fo: FakeRtmpOrigin;
  before(async () => {
    // Counted through the clients API, which lists per-client relays only (§11.7): edge off whatever the overlay.
    proxy = await startProxy({ env: { PROXY_IDLE_TIMEOUT: '2s', PROXY_LOG_LEVEL: 'info', PROXY_EDGE: 'off' } });
    fo = await FakeRtmpOrigin.start();
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'stall', service: 's', pid: '1', rtmp: [String(fo.port)] });
  });
  after(async () => {
    await fo.close();
    await proxy.stop();
  });

  const clientsOf = async (stream: string) => {
    const res = await fetch(`${proxy.systemApi}/api/v1/clients?stream=${encodeURIComponent(`__defaultVhost__/live/${stream}`)}`);
    return ((await res.json()) as { clients: { role: string }[] }).clients;
  };

  test('bytes queued for it and none taken for the idle timeout: the proxy ends it, a reading player stays', async () => {
    const { client: stalled } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/x`);
    await stalled.start('play', 'stall', await stalled.createStream());
    const s = await fo.started(0);
    stalled.socket.pause();
    const chunk = pattern(500_000, 5);
    for (let i = 0; i < 400 && s.socket.writableLength < 16 * 1024 * 1024; i++) {
      s.send(video(i * 40, chunk, 7));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await clientsOf('stall')).length, 1);
    // A second player of another stream reads what it gets and idles: not closed for it.
    const { client: reader } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/x`);
    await reader.start('play', 'quiet', await reader.createStream());
    const q = await fo.started(1);
    q.send(video(0, pattern(1000, 1), 7));
    await reader.waitFor((m) => m.type === MessageType.Video);
    await waitFor(async () => (await clientsOf('stall')).length === 0, { what: 'the stalled player to be closed', timeoutMs: 20_000, everyMs: 100 });
    assert.match(proxy.peer.output, /player stopped reading, closing/);
    assert.equal((await clientsOf('quiet')).length, 1, 'the reading player was closed too');
    reader.close();
    stalled.close();
  });
});
