// Several proxies acting as one cluster through Redis (password, non-zero database), with real origins:
// RTMP publish through proxy A played over RTMP and HTTP-FLV through proxy B (node-media-server), HLS
// and DASH manifests through one proxy with their segments through the other (two nginx-rtmp origins),
// and a player behind a round-robin front that hops between proxies on every request.
// Spec scenarios 25, 26, 27, 51; the keys are the Go proxy's (3.7).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseFlvTags, readFor } from '../fixtures/flv.js';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, makeTestFlv, probeCodecs, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { stopAllPeers, type Peer } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { startRedisTls } from '../fixtures/redis-topologies.js';
import { redisAdmin, startRedisProxies, startRoundRobinFront, type RoundRobinFront } from '../fixtures/redis-proxies.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';

const PASSWORD = 'cluster-secret';
const media = tempDir('redis-multi');
let flv: string;
let redis: RedisServer;

before(async () => {
  flv = await makeTestFlv(media.dir, 10);
  redis = await startRedis({ password: PASSWORD });
});
after(async () => {
  await stopAllPeers();
  media.remove();
});

async function json<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

async function originIds(proxy: RunningProxy): Promise<string[]> {
  return (await json<{ origins: { server_id: string }[] }>(`${proxy.systemApi}/api/v1/origins`)).origins.map((o) => o.server_id).sort();
}

async function pinnedServer(proxy: RunningProxy, key: string): Promise<string | undefined> {
  const { streams } = await json<{ streams: { stream: string; server: string }[] }>(`${proxy.systemApi}/api/v1/streams?limit=100000`);
  return streams.find((s) => s.stream === key)?.server;
}

describe('RTMP and HTTP-FLV across two proxies (node-media-server origin)', () => {
  const opts = { password: PASSWORD, db: 5 };
  let a: RunningProxy;
  let b: RunningProxy;
  let nms: NmsOrigin;
  let admin: Redis;
  let pub: Peer | undefined;

  before(async () => {
    [a, b] = await startRedisProxies(redis, 2, opts);
    admin = redisAdmin(redis, opts);
    nms = await startNodeMediaServer();
    // The origin heartbeats to proxy A only; proxy B learns it from Redis.
    startHeartbeat({ systemApi: a.systemApi, rtmp: nms.rtmpPort, http: nms.httpPort, server: 'nms', interval: '1s' });
    await eventually(async () => assert.deepEqual(await originIds(b), ['nms']), 10_000, 100);
  });
  after(async () => {
    await pub?.stop();
    admin.disconnect();
    await a.stop();
    await b.stop();
    await nms.stop();
  });

  test('scenario 25: the heartbeat through A is a Go-shaped srs-proxy-server record (TTL ≤ 300 s), listed, and B sees it', async () => {
    const list = JSON.parse((await admin.get('srs-proxy-all-servers'))!) as string[];
    assert.equal(list.length, 1);
    assert.match(list[0]!, /^srs-proxy-server:nms-[^-]+-\d+$/);
    const ttl = await admin.ttl(list[0]!);
    assert.ok(ttl > 0 && ttl <= 300, `TTL ${ttl}`);
    const record = JSON.parse((await admin.get(list[0]!))!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(record), ['ip', 'server_id', 'service_id', 'pid', 'rtmp', 'http', 'update_at']);
    assert.equal(record.server_id, 'nms');
    assert.deepEqual(record.rtmp, [String(nms.rtmpPort)]);
    assert.match(String(record.update_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(await admin.ttl('srs-proxy-all-servers'), -1);
    const [view] = (await json<{ origins: { alive: boolean }[] }>(`${b.systemApi}/api/v1/origins`)).origins;
    assert.equal(view!.alive, true);
  });

  test('scenarios 26-27: RTMP publish through A; RTMP and HTTP-FLV play through B reach the same origin', async () => {
    pub = publish(flv, `rtmp://127.0.0.1:${a.ports.rtmp}/live/cross`);
    assert.deepEqual(await eventually(() => probeCodecs(`rtmp://127.0.0.1:${b.ports.rtmp}/live/cross`, 8000), 20_000, 500), ['aac', 'h264']);
    assert.deepEqual(await probeCodecs(`${b.httpServer}/live/cross.flv`, 8000), ['aac', 'h264']);
    const r = await readFor(`${b.httpServer}/live/cross.flv`, 1500);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString('latin1', 0, 3), 'FLV');
    assert.ok(parseFlvTags(r.body).filter((t) => t.type === 9).length > 10, 'video tags through proxy B');
    // Scenario 26: the pin is the server key, with no TTL; both proxies' cluster views agree.
    const serverKey = JSON.parse((await admin.get('srs-proxy-all-servers'))!)[0] as string;
    assert.equal(await admin.get('srs-proxy-url:__defaultVhost__/live/cross'), serverKey);
    assert.equal(await admin.ttl('srs-proxy-url:__defaultVhost__/live/cross'), -1);
    assert.equal(await pinnedServer(a, '__defaultVhost__/live/cross'), 'nms');
    assert.equal(await pinnedServer(b, '__defaultVhost__/live/cross'), 'nms');
  });
});

describe('HLS and DASH across two proxies (two nginx-rtmp origins)', () => {
  const opts = { password: PASSWORD, db: 6 };
  let a: RunningProxy;
  let b: RunningProxy;
  let front: RoundRobinFront;
  const origins = new Map<string, NginxOrigin>();
  const streamOrigin = new Map<string, string>();
  const pubs: Peer[] = [];

  before(async () => {
    [a, b] = await startRedisProxies(redis, 2, opts);
    const [o1, o2] = await Promise.all([startNginxRtmp(), startNginxRtmp()]);
    origins.set('ng1', o1).set('ng2', o2);
    startHeartbeat({ systemApi: a.systemApi, rtmp: o1.rtmpPort, http: o1.httpPort, server: 'ng1', interval: '1s' });
    startHeartbeat({ systemApi: b.systemApi, rtmp: o2.rtmpPort, http: o2.httpPort, server: 'ng2', interval: '1s' });
    await eventually(async () => assert.deepEqual(await originIds(a), ['ng1', 'ng2']), 10_000, 100);
    // Pin streams by publishing through A (a request for a stream nobody publishes leaves no pin),
    // then learn each stream's origin through B.
    for (let i = 0; i < 14 && new Set(streamOrigin.values()).size < 2; i++) {
      const name = `rs${i}`;
      pubs.push(publish(flv, `rtmp://127.0.0.1:${a.ports.rtmp}/live/${name}`));
      const server = await eventually(
        async () => {
          const s = await pinnedServer(b, `__defaultVhost__/live/${name}`);
          assert.ok(s, 'B sees the pin A made');
          return s;
        },
        15_000,
        100,
      );
      streamOrigin.set(name, server);
    }
    assert.equal(new Set(streamOrigin.values()).size, 2, 'streams landed on both origins');
    for (const name of streamOrigin.keys()) {
      await eventually(async () => assert.equal((await fetch(`${b.httpServer}/live/${name}.m3u8`)).status, 200), 30_000, 500);
    }
    front = await startRoundRobinFront([a.httpServer, b.httpServer]);
  });
  after(async () => {
    await front?.close();
    await Promise.all(pubs.map((p) => p.stop()));
    await a.stop();
    await b.stop();
    await Promise.all([...origins.values()].map((o) => o.stop()));
  });

  test("scenario 51: playlist through A, its segments through B (200, the origin's bytes); the spbhid is the same on both proxies", async () => {
    for (const [name, server] of streamOrigin) {
      const origin = origins.get(server)!;
      const playlist = await (await fetch(`${a.httpServer}/live/${name}.m3u8`)).text();
      const spbhid = playlist.match(/spbhid=([0-9a-f]{7})/)?.[1];
      assert.ok(spbhid, playlist);
      const viaB = await (await fetch(`${b.httpServer}/live/${name}.m3u8`)).text();
      assert.equal(viaB.match(/spbhid=([0-9a-f]{7})/)?.[1], spbhid, 'one session id per stream, whichever proxy serves the playlist');
      const segments = playlist.split('\n').filter((l) => l.includes('.ts?spbhid='));
      assert.ok(segments.length > 0);
      for (const seg of segments.slice(-2)) {
        const res = await fetch(`${b.httpServer}/live/${seg.trim()}`);
        assert.equal(res.status, 200, `segment ${seg} through B`);
        const body = Buffer.from(await res.arrayBuffer());
        const direct = Buffer.from(await (await fetch(`http://127.0.0.1:${origin.httpPort}/live/${seg.trim().replace(/\?.*$/, '')}`)).arrayBuffer());
        assert.equal(body[0], 0x47, 'MPEG-TS');
        assert.ok(body.equals(direct), "the segment bytes are the origin's");
      }
    }
  });

  test("a player behind a round-robin front (every request to the other proxy) plays HLS; segments come from the stream's origin only", async () => {
    for (const [name, server] of streamOrigin) {
      const before = [...front.hits];
      assert.deepEqual(await probeCodecs(`${front.url}/live/${name}.m3u8`, 20_000), ['aac', 'h264']);
      assert.ok(
        front.hits.every((h, i) => h > before[i]!),
        `both proxies served requests: ${front.hits}`,
      );
      const segmentProxies = front.paths.map((paths) => paths.some((p) => p.startsWith(`/live/${name}-`) && p.includes('spbhid=')));
      assert.ok(segmentProxies.filter(Boolean).length >= 1, 'segments went through the front');
      const own = readFileSync(join(origins.get(server)!.dir, 'logs', 'access.log'), 'utf8');
      const other = readFileSync(join(origins.get(server === 'ng1' ? 'ng2' : 'ng1')!.dir, 'logs', 'access.log'), 'utf8');
      assert.match(own, new RegExp(`GET /live/${name}-\\d+\\.ts\\?spbhid=[0-9a-f]{7} `));
      assert.doesNotMatch(other, new RegExp(`/live/${name}[-.]`), 'never the other origin');
    }
  });

  test('DASH: manifest through A, init segment through B; a round-robin player plays it', async () => {
    const name = [...streamOrigin.keys()][0]!;
    const origin = origins.get(streamOrigin.get(name)!)!;
    const mpd = await eventually(
      async () => {
        const res = await fetch(`${a.httpServer}/live/${name}.mpd`);
        assert.equal(res.status, 200);
        return res.text();
      },
      20_000,
      500,
    );
    const init = mpd.match(new RegExp(`initialization="(${name}-init\\.m4v\\?spbhid=[0-9a-f]{7})"`))?.[1];
    assert.ok(init, mpd);
    const viaB = await fetch(`${b.httpServer}/live/${init}`);
    assert.equal(viaB.status, 200);
    const direct = await fetch(`http://127.0.0.1:${origin.httpPort}/live/${name}-init.m4v`);
    assert.ok(Buffer.from(await viaB.arrayBuffer()).equals(Buffer.from(await direct.arrayBuffer())), "the init segment is the origin's");
    assert.deepEqual(await probeCodecs(`${front.url}/live/${name}.mpd`, 20_000), ['aac', 'h264']);
  });
});

describe('PROXY_REDIS_URL: rediss:// (TLS) with an ACL user and a database', () => {
  test('two proxies on a TLS-only Redis share an origin registered through one of them', async () => {
    const tls = await startRedisTls({ password: 'default-pw' });
    const ca = readFileSync(tls.caFile);
    const admin = new Redis({ host: '127.0.0.1', port: tls.port, password: 'default-pw', tls: { ca }, maxRetriesPerRequest: 1 });
    let proxies: RunningProxy[] = [];
    try {
      await admin.call('ACL', 'SETUSER', 'edge', 'on', '>edge-pw', '~srs-proxy-*', '+@all');
      const env = { PROXY_LOAD_BALANCER_TYPE: 'redis', PROXY_REDIS_URL: `rediss://edge:edge-pw@127.0.0.1:${tls.port}/4`, NODE_EXTRA_CA_CERTS: tls.caFile };
      proxies = await Promise.all([startProxy({ env }), startProxy({ env })]);
      const [a, b] = proxies as [RunningProxy, RunningProxy];
      assert.ok(!a.peer.output.includes('edge-pw'), 'the URL password is not logged');
      await registerOrigin(a.systemApi, { ip: '127.0.0.1', server: 'tls-origin', service: 's', pid: '1', rtmp: ['1935'] });
      assert.deepEqual(await originIds(b), ['tls-origin']);
      await admin.select(4);
      assert.equal(await admin.get('srs-proxy-all-servers'), '["srs-proxy-server:tls-origin-s-1"]');
    } finally {
      await Promise.all(proxies.map((p) => p.stop()));
      admin.disconnect();
      await tls.stop();
    }
  });
});
