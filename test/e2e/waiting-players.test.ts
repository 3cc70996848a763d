// Players that wait for their stream. An RTMP or HTTP-FLV player that connects before the publisher, or
// waits through a publisher's gap (an encoder reconnecting), is kept as long as its origin keeps it, and gets
// the stream when it comes. Dead or hung origins and players that stop reading are still dropped, and a
// publisher that goes silent is still idle. The proxy runs with PROXY_IDLE_TIMEOUT and
// PROXY_ORIGIN_ANSWER_TIMEOUT at 2 s, and players wait three times that: long enough to prove neither timeout
// cuts them, short enough for a test.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, get, type ClientRequest, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageType } from '../../src/rtmp/messages.js';
import { decodeUserControl } from '../fixtures/rtmp-codec.js';
import { parseFlvTags } from '../fixtures/flv.js';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { run, stopAllPeers, type Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin, type FakeOriginSession } from '../fixtures/rtmp-fake-origin.js';

const IDLE_MS = 2000;
/** How long players wait for a publisher (the thing under test): three times the timeouts that used to cut them. */
const WAIT_MS = 3 * IDLE_MS;
/** Video messages a player must receive to count as playing (about 1 s of the test media). */
const FRAMES = 25;

const media = tempDir('waiting');
let flv: string;
let proxy: RunningProxy;
let registered: string[] = [];

before(async () => {
  flv = await makeTestFlv(media.dir, 10);
  proxy = await startProxy({
    // Players kept through a publisher's gap, one origin connection per player: the per-client relay by nature.
    // Edge mode ends every player at a publisher's gap (§11.6), so it stays off whatever the suite's overlay.
    env: { PROXY_IDLE_TIMEOUT: '2s', PROXY_ORIGIN_ANSWER_TIMEOUT: '2s', PROXY_ORIGIN_EXPIRE: '1h', PROXY_LOG_LEVEL: 'info', PROXY_EDGE: 'off' },
  });
});
after(async () => {
  await stopAllPeers();
  media.remove();
});

/** Makes this the only registered origin. */
async function onlyOrigin(server: string, rtmp: number, http?: number): Promise<void> {
  for (const id of registered) await fetch(`${proxy.systemApi}/api/v1/origins/${id}`, { method: 'DELETE' });
  registered = [server];
  await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server, service: 's', pid: '1', rtmp: [String(rtmp)], ...(http ? { http: [String(http)] } : {}) });
}

/** An RTMP player through the proxy, playing `name` (the origin accepted the play: the relay is running). */
async function rtmpPlayer(name: string): Promise<RtmpTestClient> {
  const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${name}`);
  const info = await client.start('play', name, await client.createStream());
  assert.equal(info.get('code'), 'NetStream.Play.Start');
  return client;
}

/** Waits until `n` video messages have arrived at `client` after index `from`. */
async function videosArrive(client: RtmpTestClient, from: number, n = FRAMES): Promise<void> {
  let at = from;
  for (let i = 0; i < n; i++) at = (await client.waitFor((m) => m.type === MessageType.Video, at, 20_000)).index + 1;
}

/** An HTTP-FLV player on a plain request: the head may come late; it counts the video tags as they arrive. */
class FlvPlayer {
  status = 0;
  closed = false;
  private readonly chunks: Buffer[] = [];
  private readonly req: ClientRequest;

  constructor(url: string) {
    this.req = get(url, { agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
      res.on('data', (d: Buffer) => this.chunks.push(d));
    });
    this.req.on('error', () => undefined);
    this.req.on('socket', (s: Socket) => s.once('close', () => (this.closed = true)));
  }

  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  videoTags(): number {
    const buf = Buffer.concat(this.chunks);
    return buf.length < 13 ? 0 : parseFlvTags(buf).filter((t) => t.type === 9).length;
  }

  async videosArrive(atLeast: number): Promise<void> {
    await eventually(async () => assert.ok(this.videoTags() >= atLeast, `${this.videoTags()} video tags`), 20_000, 100);
  }

  async closedWithin(ms: number): Promise<void> {
    await eventually(async () => assert.ok(this.closed, 'player still open'), ms, 20);
  }

  close(): void {
    this.req.destroy();
  }
}

/** The proxy's established TCP connections matching an `ss` filter, with their timers (keepalive shows as one). */
async function proxySockets(filter: string): Promise<string[]> {
  const r = await run('ss', ['-tnopH', 'state', 'established', filter]);
  // The proxy's processes: with PROXY_WORKERS > 1 its worker processes hold the sockets.
  const pids = [proxy.peer.pid, ...childrenOf(proxy.peer.pid)];
  return r.stdout.split('\n').filter((l) => pids.some((pid) => l.includes(`pid=${pid},`)));
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** nginx's worker and cache manager processes. */
function nginxChildren(nginx: NginxOrigin): number[] {
  return readFileSync(`/proc/${nginx.peer.pid}/task/${nginx.peer.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** nginx's worker (it holds the RTMP connections; the master only supervises). */
function nginxWorker(nginx: NginxOrigin): number {
  const workers = nginxChildren(nginx).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker process'));
  assert.equal(workers.length, 1, 'one nginx worker');
  return workers[0]!;
}

/** The <stream> block of `name` in nginx-rtmp's /stat XML ('' when it has none). */
function statStream(xml: string, name: string): string {
  return xml.split('<stream>').find((b) => b.includes(`<name>${name}</name>`)) ?? '';
}

describe('nginx-rtmp that keeps players of idle streams (idle_streams on)', () => {
  let nginx: NginxOrigin;
  before(async () => {
    nginx = await startNginxRtmp({ idleStreams: true });
    await onlyOrigin('ng-idle', nginx.rtmpPort, nginx.httpPort);
  });
  after(async () => {
    await nginx.stop();
  });

  test('an RTMP player that connects before the publisher gets the stream, and again after a publisher gap', async () => {
    const player = await rtmpPlayer('early');
    await eventually(async () => assert.match(statStream(await nginx.stat(), 'early'), /<nclients>1<\/nclients>/), 5000, 100);
    await sleep(WAIT_MS);
    assert.equal(player.closed, false, 'the waiting player was kept');
    let pub: Peer = publish(flv, `rtmp://127.0.0.1:${nginx.rtmpPort}/live/early`);
    await videosArrive(player, 0);

    // The encoder goes away and comes back: nginx keeps its players meanwhile, and so must the proxy.
    await pub.stop();
    await eventually(async () => assert.doesNotMatch(statStream(await nginx.stat(), 'early'), /<publishing\/>/), 5000, 100);
    const mark = player.received.length;
    await sleep(WAIT_MS);
    assert.equal(player.closed, false, 'the player was kept through the gap');
    pub = publish(flv, `rtmp://127.0.0.1:${nginx.rtmpPort}/live/early`);
    await videosArrive(player, mark);
    await pub.stop();
    player.close();
  });

  test('a publisher that stops sending is still closed after the idle timeout', async () => {
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/quiet`);
    assert.equal((await client.start('publish', 'quiet', await client.createStream())).get('code'), 'NetStream.Publish.Start');
    const waited = await client.closedWithin(3 * IDLE_MS);
    assert.ok(waited >= IDLE_MS - 500, `closed after ${waited} ms`);
  });

  test('a hung origin stops answering pings: its waiting player is closed', async () => {
    const player = await rtmpPlayer('hung');
    // Long enough for the proxy to ping the silent origin and hear its answer.
    await sleep(WAIT_MS);
    assert.equal(player.closed, false);
    const worker = nginxWorker(nginx);
    process.kill(worker, 'SIGSTOP');
    try {
      await player.closedWithin(3 * IDLE_MS);
    } finally {
      process.kill(worker, 'SIGCONT');
    }
  });

  test('the origin killed while its player waits: the player is closed at once', async () => {
    const player = await rtmpPlayer('killed');
    await sleep(IDLE_MS);
    // The master first (it would start a new worker), then its children (they would live on without it).
    const children = nginxChildren(nginx);
    process.kill(nginx.peer.pid, 'SIGKILL');
    for (const pid of children) process.kill(pid, 'SIGKILL');
    assert.ok((await player.closedWithin(1000)) <= 1000);
  });
});

describe('nginx-rtmp that closes players when the publisher leaves (idle_streams off)', () => {
  let nginx: NginxOrigin;
  before(async () => {
    nginx = await startNginxRtmp({ idleStreams: false });
    await onlyOrigin('ng-strict', nginx.rtmpPort, nginx.httpPort);
  });
  after(async () => {
    await nginx.stop();
  });

  test('the origin closes its player at the publisher gap: the proxy passes the close on at once', async () => {
    const pub = publish(flv, `rtmp://127.0.0.1:${nginx.rtmpPort}/live/gap`);
    await eventually(async () => assert.match(statStream(await nginx.stat(), 'gap'), /<publishing\/>/), 10_000, 100);
    const player = await rtmpPlayer('gap');
    await videosArrive(player, 0);
    await pub.stop();
    // Well before the idle timeout could have closed it.
    assert.ok((await player.closedWithin(1000)) <= 1000);
  });
});

describe('node-media-server, which keeps players of streams not published', () => {
  let nms: NmsOrigin;
  before(async () => {
    nms = await startNodeMediaServer();
    await onlyOrigin('nms', nms.rtmpPort, nms.httpPort);
  });
  after(async () => {
    await nms.stop();
  });

  /** An HTTP-FLV player that node-media-server accepted (it answers at once, with the FLV file header). */
  async function flvPlayer(name: string): Promise<FlvPlayer> {
    const player = new FlvPlayer(`${proxy.httpServer}/live/${name}.flv`);
    await eventually(async () => assert.ok(player.status === 200 && player.bytes >= 13), 5000, 20);
    return player;
  }

  test('RTMP and HTTP-FLV players that connect before the publisher get the stream, and again after a publisher gap', async () => {
    const rtmp = await rtmpPlayer('nmsw');
    const http = await flvPlayer('nmsw');
    // Both legs of both relays have TCP keepalive on (how a vanished peer is found while nothing flows).
    for (const filter of [`sport = :${proxy.ports.rtmp}`, `sport = :${proxy.ports.httpServer}`, `dport = :${nms.rtmpPort}`, `dport = :${nms.httpPort}`]) {
      // (Short-lived health probes may show up too; the relay's leg is the one that lasts.)
      const lines = await proxySockets(filter);
      assert.equal(lines.filter((l) => /timer:\(keepalive,/.test(l)).length, 1, `${filter}: ${lines.join('\n')}`);
    }
    await sleep(WAIT_MS);
    assert.equal(rtmp.closed, false, 'the waiting RTMP player was kept');
    assert.equal(http.closed, false, 'the waiting HTTP-FLV player was kept');
    let pub: Peer = publish(flv, `rtmp://127.0.0.1:${nms.rtmpPort}/live/nmsw`);
    await videosArrive(rtmp, 0);
    await http.videosArrive(FRAMES);

    await pub.stop();
    const mark = rtmp.received.length;
    const tags = http.videoTags();
    await sleep(WAIT_MS);
    assert.equal(rtmp.closed, false, 'the RTMP player was kept through the gap');
    assert.equal(http.closed, false, 'the HTTP-FLV player was kept through the gap');
    pub = publish(flv, `rtmp://127.0.0.1:${nms.rtmpPort}/live/nmsw`);
    await videosArrive(rtmp, mark);
    await http.videosArrive(tags + FRAMES);
    await pub.stop();
    rtmp.close();
    http.close();
  });

  test('the origin killed while players wait: both are closed at once', async () => {
    const rtmp = await rtmpPlayer('nmsk');
    const http = await flvPlayer('nmsk');
    await sleep(IDLE_MS);
    nms.peer.child.kill('SIGKILL');
    assert.ok((await rtmp.closedWithin(1000)) <= 1000);
    await http.closedWithin(1000);
  });
});

describe('scripted origins: pings, held response heads, players that stop reading', () => {
  const rtmpOrigins: FakeRtmpOrigin[] = [];
  let http: Server;
  let httpPort: number;
  /** Connections the HTTP origin holds open. */
  let open = 0;

  before(async () => {
    http = createServer((req, res) => {
      open++;
      req.socket.once('close', () => open--);
      if (req.url?.startsWith('/live/held.flv')) {
        // Like SRS for a stream not published yet: the head comes only with the stream.
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'video/x-flv' });
          res.write(flvHeaderAndVideoTag());
        }, WAIT_MS);
        return;
      }
      if (req.url?.startsWith('/live/never.flv')) return;
      // A stream at full speed.
      res.writeHead(200, { 'content-type': 'video/x-flv' });
      const chunk = Buffer.alloc(256 * 1024, 1);
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    httpPort = (http.address() as { port: number }).port;
  });
  after(async () => {
    for (const o of rtmpOrigins) await o.close();
    http.closeAllConnections();
    http.close();
  });

  async function rtmpOrigin(answerPings: boolean): Promise<FakeRtmpOrigin> {
    const o = await FakeRtmpOrigin.start({ answerPings });
    rtmpOrigins.push(o);
    await onlyOrigin(`fo${rtmpOrigins.length}`, o.port, httpPort);
    return o;
  }

  /** The origin connection that carries the play (the proxy's health probes and abandoned fast legs connect too). */
  async function playSession(o: FakeRtmpOrigin): Promise<FakeOriginSession> {
    const find = () => o.sessions.find((x) => x.started && x.commands.some((c) => c.name === 'play'));
    await eventually(async () => assert.ok(find()), 5000, 20);
    return find()!;
  }

  const pingsTo = (s: FakeOriginSession) =>
    s.media.filter((m) => m.type === MessageType.UserControl && decodeUserControl(m.payload).kind === 'pingRequest').length;

  test('the proxy pings a silent origin; one that answered and then stops answering is dropped', async () => {
    const o = await rtmpOrigin(true);
    const player = await rtmpPlayer('pinged');
    const s = await playSession(o);
    await s.until(() => pingsTo(s) >= 3, 10_000);
    assert.equal(player.closed, false);
    s.answerPings = false;
    await player.closedWithin(3 * IDLE_MS);
    await s.until(() => s.closedAt !== undefined, 1000);
  });

  test('an origin that never answers pings keeps its waiting player, and is pinged only once', async () => {
    const o = await rtmpOrigin(false);
    const player = await rtmpPlayer('unpinged');
    const s = await playSession(o);
    await s.until(() => pingsTo(s) >= 1, 5000);
    await sleep(WAIT_MS);
    assert.equal(player.closed, false);
    // Further pings would hold TCP keepalive off (no probes while data is unacknowledged).
    assert.equal(pingsTo(s), 1);
    player.close();
    await s.until(() => s.closedAt !== undefined, 1000);
  });

  test('an RTMP player that stops reading while media waits for it is dropped', async () => {
    const o = await rtmpOrigin(false);
    const player = await rtmpPlayer('stalled');
    const s = await playSession(o);
    player.socket.pause();
    const frame = Buffer.alloc(200_000, 2);
    for (let i = 0; i < 200 && s.closedAt === undefined && s.socket.writableLength < 32 * 1024 * 1024; i++) {
      s.send({ type: MessageType.Video, timestamp: i * 40, streamId: 7, csid: 6, payload: frame });
      if (i % 10 === 0) await sleep(10);
    }
    // The paused player cannot see its own close; the origin leg's close shows the relay ended.
    await s.until(() => s.closedAt !== undefined, 4 * IDLE_MS);
    player.close();
  });

  test('an HTTP-FLV head held by the origin longer than the answer timeout reaches the player', async () => {
    await rtmpOrigin(false);
    const player = new FlvPlayer(`${proxy.httpServer}/live/held.flv`);
    await eventually(async () => assert.equal(player.status, 200), WAIT_MS + 5000, 50);
    await eventually(async () => assert.equal(player.videoTags(), 1), 2000, 50);
    player.close();
    await eventually(async () => assert.equal(open, 0), 2000, 20);
  });

  test('a player that leaves while the origin holds the head closes the origin connection at once', async () => {
    await rtmpOrigin(false);
    const player = new FlvPlayer(`${proxy.httpServer}/live/never.flv`);
    await eventually(async () => assert.equal(open, 1), 5000, 20);
    await sleep(IDLE_MS);
    player.close();
    await eventually(async () => assert.equal(open, 0), 1000, 20);
  });

  test('an HTTP-FLV player that stops reading while bytes wait for it is dropped', async () => {
    await rtmpOrigin(false);
    const req = get(`${proxy.httpServer}/live/fast.flv`, { agent: false }, (res) => res.pause());
    req.on('error', () => undefined);
    await eventually(async () => assert.equal(open, 1), 5000, 20);
    // The proxy gives up on the player and releases the origin connection.
    await eventually(async () => assert.equal(open, 0), 4 * IDLE_MS, 50);
    req.destroy();
  });
});

/** An FLV file header and one video tag (a keyframe's worth of bytes). */
function flvHeaderAndVideoTag(): Buffer {
  const header = Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
  const data = Buffer.alloc(100, 0x17);
  const tag = Buffer.alloc(11);
  tag[0] = 9;
  tag.writeUIntBE(data.length, 1, 3);
  return Buffer.concat([header, tag, data, Buffer.from([0, 0, 0, 111])]);
}
