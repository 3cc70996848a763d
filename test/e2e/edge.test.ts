// Edge mode (PROXY_EDGE=on, BEHAVIOUR.md §11) against nginx-rtmp: RTMP and HTTP-FLV players of one stream
// share one play connection to the origin (counted on nginx's /stat page), start at a cached keyframe, are
// skipped ahead when they cannot keep up without slowing the others, end when the publisher stops, and the
// upstream lingers after its last player. Failed plays (malformed, non-existent streams) leave nothing behind.
import assert from 'node:assert/strict';
import { get, type ClientRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { MediaPacket, parseFlvTags } from '../../src/edge/media.js';
import type { EdgeStats } from '../../src/edge/types.js';
import { Amf0Object } from '../../src/rtmp/amf0.js';
import { MessageType, type RtmpMessage } from '../../src/rtmp/messages.js';
import { encodeTestMedia, eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { tempDir } from '../fixtures/paths.js';
import { run, stopAllPeers, type Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin, type FakeOriginSession } from '../fixtures/rtmp-fake-origin.js';

const LINGER_MS = 1000;
const MAX_LAG_MS = 2000;

const media = tempDir('edge');
let flv: string;
/** About 6 Mb/s of noise: the kernel's socket buffers of a stalled player fill within seconds, not a minute. */
let fat: string;
let proxy: RunningProxy;
let nginx: NginxOrigin;

before(async () => {
  flv = await makeTestFlv(media.dir, 10);
  fat = `${media.dir}/fat.flv`;
  await encodeTestMedia(fat, {
    seconds: 10,
    source: 'testsrc=size=640x360:rate=25',
    gopFrames: 50,
    preset: 'ultrafast',
    rate: ['-b:v', '6M', '-maxrate', '6M', '-bufsize', '3M'],
    extra: ['-vf', 'noise=alls=60:allf=t'],
  });
  nginx = await startNginxRtmp();
  proxy = await startProxy({
    env: {
      PROXY_EDGE: 'on',
      PROXY_EDGE_LINGER: `${LINGER_MS}ms`,
      PROXY_EDGE_MAX_LAG: `${MAX_LAG_MS}ms`,
      PROXY_ORIGIN_EXPIRE: '1h',
      PROXY_LOG_LEVEL: 'info',
      // One process: an upstream and its GOP cache are shared by the players of one process; with worker
      // processes each worker opens its own (docs/BEHAVIOUR.md §8.5), and these counts are one process's.
      PROXY_WORKERS: '1',
    },
  });
  await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'nginx', service: 's', pid: '1', rtmp: [String(nginx.rtmpPort)] });
});
after(async () => {
  await stopAllPeers();
  await nginx.stop();
  media.remove();
});

/** Play connections nginx holds for stream `name` (its publisher not counted). */
async function originPlayers(name: string): Promise<number> {
  const xml = await nginx.stat();
  let n = 0;
  for (const s of xml.split('<stream>').slice(1)) {
    if (!new RegExp(`^\\s*<name>${name}</name>`).test(s)) continue;
    for (const c of s.split('<client>').slice(1)) if (!c.includes('<publishing/>')) n++;
  }
  return n;
}

async function edgeStats(): Promise<EdgeStats> {
  const stats = (await proxy.stats()) as unknown as { detail: { edge: EdgeStats } };
  return stats.detail.edge;
}

/** Publishes the test media to the origin directly; resolves once the proxy's RTMP play of it gets video. */
async function publishToOrigin(name: string, file = flv): Promise<Peer> {
  const pub = publish(file, `rtmp://127.0.0.1:${nginx.rtmpPort}/live/${name}`);
  await eventually(async () => {
    const c = await rtmpPlayer(name);
    try {
      await c.waitFor((m) => m.type === MessageType.Video, 0, 3000);
    } finally {
      c.close();
    }
  }, 20_000);
  return pub;
}

async function rtmpPlayer(name: string): Promise<RtmpTestClient> {
  const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${name}`);
  const info = await client.start('play', name, await client.createStream());
  assert.equal(info.get('code'), 'NetStream.Play.Start', JSON.stringify([...info]));
  return client;
}

const isVideoFrame = (m: RtmpMessage) => m.type === MessageType.Video && m.payload[1] !== 0;
const isKeyframe = (m: RtmpMessage) => m.type === MessageType.Video && m.payload[0]! >> 4 === 1 && m.payload[1] === 1;

/** Waits until `n` video frames arrived at `c` from index `from`; returns the index after the last. */
async function videoFrames(c: RtmpTestClient, n: number, from = 0): Promise<number> {
  let at = from;
  for (let i = 0; i < n; i++) at = (await c.waitFor(isVideoFrame, at, 20_000)).index + 1;
  return at;
}

/** An HTTP-FLV player: keeps the body, parses tags as they come, notes when the head and each tag arrived. */
class FlvReader {
  status = 0;
  closed = false;
  headAt = 0;
  readonly sentAt = performance.now();
  packets: { p: MediaPacket; at: number }[] = [];
  private buf = Buffer.alloc(0);
  private offset = 13;
  private readonly req: ClientRequest;
  private readonly closedPromise: Promise<void>;

  constructor(url: string) {
    let resolveClosed!: () => void;
    this.closedPromise = new Promise((r) => (resolveClosed = r));
    this.req = get(url, { agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headAt = performance.now();
      res.on('data', (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        if (this.status !== 200 || this.buf.length < 13) return;
        const { packets, used } = parseFlvTags(this.buf, this.offset);
        const at = performance.now();
        for (const p of packets) this.packets.push({ p, at });
        this.buf = this.buf.subarray(used);
        this.offset = 0;
      });
      res.on('close', () => {
        this.closed = true;
        resolveClosed();
      });
    });
    this.req.on('error', () => {
      this.closed = true;
      resolveClosed();
    });
  }

  videoFrames(): number {
    return this.packets.filter(({ p }) => p.video && !p.header).length;
  }

  async closedWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closedPromise,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`FLV response still open after ${ms} ms`)), ms))),
    ]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.req.destroy();
  }
}

describe('edge mode: one upstream per stream, shared by RTMP and HTTP-FLV players', () => {
  let pub: Peer;
  const rtmp: RtmpTestClient[] = [];
  const flvs: FlvReader[] = [];

  test('20 RTMP + 20 HTTP-FLV custom players and 10 ffprobe players → one origin play connection; all decode', async () => {
    pub = await publishToOrigin('edge1');
    for (let i = 0; i < 20; i++) rtmp.push(await rtmpPlayer('edge1'));
    for (let i = 0; i < 20; i++) flvs.push(new FlvReader(`${proxy.httpServer}/live/edge1.flv`));
    const probe = async (url: string) => {
      const r = await run(
        'ffprobe',
        ['-v', 'error', '-rw_timeout', '15000000', '-show_entries', 'stream=codec_type,codec_name', '-of', 'csv=p=0', url],
        20_000,
      );
      const codecs = [
        ...new Set(
          r.stdout
            .split('\n')
            .filter((l) => /,(audio|video)$/.test(l.trim()))
            .map((l) => l.split(',')[0]!),
        ),
      ].sort();
      return `${url}: ${codecs.join(',')}${codecs.length === 2 ? '' : ` (exit ${r.code}: ${r.stderr.slice(-500)})`}`;
    };
    const urls = [
      ...Array.from({ length: 5 }, () => `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/edge1`),
      ...Array.from({ length: 5 }, () => `${proxy.httpServer}/live/edge1.flv`),
    ];
    const probes = urls.map(probe);
    for (const c of rtmp) await videoFrames(c, 25);
    await eventually(async () => assert.ok(flvs.every((f) => f.status === 200 && f.videoFrames() >= 25)), 20_000, 100);
    assert.deepEqual(
      await Promise.all(probes),
      urls.map((u) => `${u}: aac,h264`),
    );
    assert.equal(await originPlayers('edge1'), 1);
    const s = await edgeStats();
    assert.equal(s.upstreams, 1);
    // One stream: its cache is the largest and the whole (8 MiB default bound, 2 s GOPs at 500 kb/s: no overflow).
    assert.ok(s.largestCacheBytes > 0 && s.largestCacheBytes === s.cacheBytes, JSON.stringify(s));
    assert.equal(s.cacheOverflows, 0);
    // The origin's relay count sees the upstream once, not once per player.
    const page = await (await fetch(`${proxy.systemApi}/metrics`)).text();
    assert.match(page, /^origin_proxy_origin_relays\{server="nginx"\} 1$/m);
    assert.match(page, /^origin_proxy_edge_upstreams 1$/m);
    assert.ok(s.players.rtmp >= 20 && s.players.flv >= 20, JSON.stringify(s));
    // Every FLV player's first video frame is a keyframe after the sequence header.
    for (const f of flvs) {
      const firstVideo = f.packets.findIndex(({ p }) => p.video && !p.header);
      const header = f.packets.findIndex(({ p }) => p.video && p.header);
      assert.ok(header !== -1 && header < firstVideo && f.packets[firstVideo]!.p.keyframe);
    }
  });

  test('a late player starts with a cached keyframe within 100 ms (RTMP and HTTP-FLV)', async () => {
    const t0 = performance.now();
    const c = await rtmpPlayer('edge1');
    const { message } = await c.waitFor(isVideoFrame, 0, 5000);
    const rtmpMs = performance.now() - t0;
    assert.ok(isKeyframe(message), 'first RTMP video frame is a keyframe');
    const header = c.received.findIndex((m) => m.type === MessageType.Video && m.payload[1] === 0);
    assert.ok(header !== -1 && header < c.received.indexOf(message), 'sequence header first');
    c.close();
    const f = new FlvReader(`${proxy.httpServer}/live/edge1.flv`);
    await eventually(async () => assert.ok(f.videoFrames() >= 1), 5000, 5);
    const first = f.packets.find(({ p }) => p.video && !p.header)!;
    f.close();
    assert.ok(first.p.keyframe, 'first FLV video frame is a keyframe');
    const flvMs = first.at - f.sentAt;
    // The whole start (connect, play, first keyframe) is well under a GOP (2 s) from the cache.
    assert.ok(rtmpMs < 100, `RTMP: first keyframe after ${rtmpMs.toFixed(1)} ms`);
    assert.ok(flvMs < 100, `HTTP-FLV: first keyframe after ${flvMs.toFixed(1)} ms`);
    // What FFmpeg makes of a start from the cache: one audio and one video track, nothing else (cached
    // metadata stamped at the GOP's time was a subtitle track to it).
    for (const url of [`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/edge1`, `${proxy.httpServer}/live/edge1.flv`]) {
      const r = await run(
        'ffprobe',
        ['-v', 'error', '-rw_timeout', '15000000', '-show_entries', 'stream=codec_name,codec_type', '-of', 'csv=p=0', url],
        20_000,
      );
      assert.deepEqual(r.stdout.trim().split('\n').sort(), ['aac,audio', 'h264,video'], `${url}: ${r.stderr.slice(-300)}`);
    }
  });

  test('a stalled player does not slow the others and is skipped to a keyframe', async () => {
    const pubFat = await publishToOrigin('edgefat', fat);
    const watcher = await rtmpPlayer('edgefat');
    const stalled = await rtmpPlayer('edgefat');
    await videoFrames(stalled, 1);
    stalled.socket.pause();
    const from = watcher.received.length;
    const wall0 = performance.now();
    // Only the stalled player of this stream falls behind (the watcher reads); counted from the stall on.
    const skipsOf = async () => (await edgeStats()).skipsByStream['__defaultVhost__/live/edgefat'] ?? 0;
    const skips0 = await skipsOf();
    await eventually(async () => assert.ok((await skipsOf()) > skips0), 30_000, 200);
    // The others kept real time while it stalled.
    const wall = performance.now() - wall0;
    const got = watcher.received.slice(from).filter(isVideoFrame);
    const mediaMs = got[got.length - 1]!.timestamp - got[0]!.timestamp;
    assert.ok(mediaMs >= wall - 1500, `others got ${mediaMs} ms of media in ${wall.toFixed(0)} ms`);
    stalled.socket.resume();
    // What the kernel's buffers held comes first, then the jump.
    let last = -1;
    const { index } = await stalled.waitFor(
      (m) => {
        if (!isVideoFrame(m)) return false;
        const jumped = last !== -1 && m.timestamp - last > 60; // frames are 40 ms apart
        last = m.timestamp;
        return jumped;
      },
      0,
      30_000,
    );
    const frames = stalled.received.filter(isVideoFrame);
    const jump = frames.indexOf(stalled.received[index]!);
    assert.ok(jump > 0, 'the stalled player skipped ahead');
    assert.ok(isKeyframe(frames[jump]!), `it resumed at a keyframe (${frames[jump - 1]!.timestamp} → ${frames[jump]!.timestamp} ms)`);
    stalled.close();
    watcher.close();
    await pubFat.stop();
  });

  test('a malformed play does not affect the shared upstream', async () => {
    const { client: bad } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live/edge1`);
    const id = await bad.createStream();
    bad.invoke('play', null, [Amf0Object.fromRecord({ not: 'a name' })], id, 0);
    await bad.closedWithin(5000);
    // A player that plays, then sends garbage chunks.
    const rude = await rtmpPlayer('edge1');
    rude.socket.write(Buffer.alloc(64, 0xff));
    await rude.closedWithin(5000);
    const watcher = rtmp[1]!;
    await videoFrames(watcher, 25, watcher.received.length);
    assert.equal(await originPlayers('edge1'), 1);
  });

  test('another query opens its own upstream; it closes after the linger once its player left', async () => {
    const other = await rtmpPlayer('edge1?token=b');
    await videoFrames(other, 1);
    assert.equal(await originPlayers('edge1'), 2);
    other.close();
    const left = performance.now();
    await eventually(async () => assert.equal(await originPlayers('edge1'), 1), 10_000, 50);
    const lingered = performance.now() - left;
    assert.ok(lingered >= LINGER_MS - 100, `upstream closed ${lingered.toFixed(0)} ms after its last player left`);
  });

  test('the publisher stopping ends every player within 1 s', async () => {
    const live = flvs.filter((f) => !f.closed);
    await pub.stop();
    const t0 = performance.now();
    await Promise.all([...rtmp.map((c) => c.closedWithin(1000)), ...live.map((f) => f.closedWithin(1000))]);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    const codes = rtmp[0]!.commands().map((c) => String((c.args[0] as Amf0Object | undefined)?.get?.('code') ?? ''));
    assert.ok(codes.includes('NetStream.Play.UnpublishNotify'), codes.join(','));
    assert.ok(
      rtmp[0]!.received.some((m) => m.type === MessageType.UserControl && m.payload.readUInt16BE(0) === 1),
      'StreamEOF',
    );
    await eventually(async () => assert.equal((await edgeStats()).hubs, 0), 5000, 50);
  });

  test('a player arriving during the linger reuses the upstream and its cache', async () => {
    const p2 = await publishToOrigin('edge2');
    await eventually(async () => assert.equal(await originPlayers('edge2'), 0), 5000, 50);
    const a = await rtmpPlayer('edge2');
    await videoFrames(a, 10);
    a.close();
    await eventually(async () => assert.equal((await edgeStats()).players.rtmp, 0), 5000, 20);
    const b = await rtmpPlayer('edge2');
    const { message } = await b.waitFor(isVideoFrame, 0, 1000);
    assert.ok(isKeyframe(message));
    assert.equal(await originPlayers('edge2'), 1);
    b.close();
    await p2.stop();
  });

  test('10,000 distinct non-existent streams leave no upstream or hub behind', async () => {
    const N = 10_000;
    let next = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const res = await fetch(`${proxy.httpServer}/live/missing-${i}.flv`);
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    assert.deepEqual([...statuses], [[404, N]]);
    const s = await edgeStats();
    assert.equal(s.hubs, 0);
    assert.equal(s.upstreams, 0);
    const xml = await nginx.stat();
    assert.ok(!xml.includes('missing-'), 'the origin holds no play of them');
  });
});

describe('edge mode with PROXY_EDGE_SHARE_AUTH=on', () => {
  test("players with different queries share the first player's upstream", async () => {
    // One process: upstreams are shared per process (see the suite above).
    const shared = await startProxy({
      env: { PROXY_EDGE: 'on', PROXY_EDGE_SHARE_AUTH: 'on', PROXY_ORIGIN_EXPIRE: '1h', PROXY_LOG_LEVEL: 'info', PROXY_WORKERS: '1' },
    });
    try {
      await registerOrigin(shared.systemApi, { ip: '127.0.0.1', server: 'nginx', service: 's', pid: '1', rtmp: [String(nginx.rtmpPort)] });
      const pub = await publishToOrigin('edgeshare');
      const players: RtmpTestClient[] = [];
      for (const token of ['a', 'b', 'c']) {
        const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${shared.ports.rtmp}/live/edgeshare`);
        const info = await client.start('play', `edgeshare?token=${token}`, await client.createStream());
        assert.equal(info.get('code'), 'NetStream.Play.Start');
        players.push(client);
      }
      const f = new FlvReader(`${shared.httpServer}/live/edgeshare.flv?token=d`);
      for (const c of players) await videoFrames(c, 5);
      await eventually(async () => assert.ok(f.videoFrames() >= 5), 10_000, 100);
      // One from this proxy (the other proxy's upstream for this stream is gone by now).
      await eventually(async () => assert.equal(await originPlayers('edgeshare'), 1), 5000, 100);
      for (const c of players) c.close();
      f.close();
      await pub.stop();
    } finally {
      await shared.stop();
    }
  });
});

describe('edge mode: a silent origin is watched with pings (scripted origin)', () => {
  const IDLE_MS = 2000;
  let watched: RunningProxy;
  const origins: FakeRtmpOrigin[] = [];
  before(async () => {
    watched = await startProxy({
      env: { PROXY_EDGE: 'on', PROXY_EDGE_LINGER: '500ms', PROXY_IDLE_TIMEOUT: `${IDLE_MS}ms`, PROXY_ORIGIN_EXPIRE: '1h', PROXY_LOG_LEVEL: 'info' },
    });
  });
  after(async () => {
    await watched.stop();
    for (const o of origins) await o.close();
  });

  /** A scripted origin as the only one registered, and an RTMP player of `name` through the proxy with its play session. */
  async function playOn(answerPings: boolean, name: string) {
    const o = await FakeRtmpOrigin.start({ answerPings });
    origins.push(o);
    for (const old of origins.slice(0, -1)) await fetch(`${watched.systemApi}/api/v1/origins/fo${origins.indexOf(old)}`, { method: 'DELETE' });
    await registerOrigin(watched.systemApi, { ip: '127.0.0.1', server: `fo${origins.length - 1}`, service: 's', pid: '1', rtmp: [String(o.port)] });
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${watched.ports.rtmp}/live/${name}`);
    const info = await client.start('play', name, await client.createStream());
    assert.equal(info.get('code'), 'NetStream.Play.Start');
    const find = () => o.sessions.find((x) => x.commands.some((c) => c.name === 'play'));
    await eventually(async () => assert.ok(find()), 5000, 20);
    return { client, session: find()! };
  }
  const pingsTo = (s: FakeOriginSession) => s.media.filter((m) => m.type === MessageType.UserControl && m.payload.readUInt16BE(0) === 6).length;

  test('an origin that answered pings and then stops answering ends the stream; its players are ended', async () => {
    const { client, session } = await playOn(true, 'pinged');
    await session.until(() => pingsTo(session) >= 2, 10_000);
    assert.equal(client.closed, false);
    session.answerPings = false;
    await client.closedWithin(3 * IDLE_MS);
    await session.until(() => session.closedAt !== undefined, 1000);
  });

  test('an origin that never answers pings keeps its players, and is pinged only once', async () => {
    const { client, session } = await playOn(false, 'unpinged');
    await session.until(() => pingsTo(session) >= 1, 5000);
    // Time is what is under test: three idle timeouts without a second ping or a close.
    await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
    assert.equal(client.closed, false);
    assert.equal(pingsTo(session), 1);
    client.close();
    await session.until(() => session.closedAt !== undefined, 3 * IDLE_MS);
  });
});
