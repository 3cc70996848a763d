// `GET /api/v1/streams?cluster=1` with two proxies on one real redis-server: a publisher on proxy A and
// a player on proxy B add up in either proxy's view; a stopped proxy's summary stops counting; what
// another writer puts in the summary hash is bounded and cannot inflate a stream's counts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { SUMMARY_KEY } from '../../src/api/stream-summary.js';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { startPeer, stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, type RunningProxy } from '../fixtures/proxy.js';
import { redisAdmin, startRedisProxies } from '../fixtures/redis-proxies.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';

const KEY = '__defaultVhost__/live/cluster1';
const media = tempDir('clients-cluster');
let redis: RedisServer;
let a: RunningProxy;
let b: RunningProxy;
let nms: NmsOrigin;
let admin: Redis;

interface StreamView {
  code: number;
  proxies: number;
  stream: { stream: string; server: string; publishers: number; players: Record<string, number>; bytes: { in: number; out: number } };
}

async function view(proxy: RunningProxy, query = '?cluster=1'): Promise<StreamView> {
  const res = await fetch(`${proxy.systemApi}/api/v1/streams/${KEY}${query}`);
  const body = (await res.json()) as StreamView;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

before(async () => {
  const flv = await makeTestFlv(media.dir, 30);
  redis = await startRedis();
  // A stream's players are the clients each proxy relays (listed per client). Edge players are counted but not
  // listed (docs/BEHAVIOUR.md §11.7): the stream would show no player, so edge stays off whatever the overlay.
  [a, b] = await startRedisProxies(redis, 2, { db: 3, env: { PROXY_EDGE: 'off' } });
  admin = redisAdmin(redis, { db: 3 });
  nms = await startNodeMediaServer();
  await registerOrigin(a.systemApi, { ip: '127.0.0.1', server: 'nms', service: 'svc', pid: '1', rtmp: [String(nms.rtmpPort)], http: [String(nms.httpPort)] });
  publish(flv, `rtmp://127.0.0.1:${a.ports.rtmp}/live/cluster1`);
  await eventually(async () => assert.equal((await view(a, '')).stream.publishers, 1), 20_000);
  startPeer('ffmpeg rtmp play via B', 'ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-i',
    `rtmp://127.0.0.1:${b.ports.rtmp}/live/cluster1`,
    '-c',
    'copy',
    '-f',
    'null',
    '-',
  ]);
  await eventually(async () => assert.deepEqual((await view(b, '')).stream.players, { rtmp: 1 }), 20_000);
});

after(async () => {
  await stopAllPeers();
  admin?.disconnect();
  await a?.stop();
  await b?.stop();
  await nms?.stop();
  media.remove();
});

describe('cluster view through Redis', () => {
  test('a publisher on A and a player on B sum up in either proxy’s cluster view', async () => {
    for (const proxy of [a, b]) {
      const v = await eventually(async () => {
        const got = await view(proxy);
        assert.equal(got.proxies, 2);
        assert.equal(got.stream.publishers, 1);
        assert.deepEqual(got.stream.players, { rtmp: 1 });
        return got;
      }, 20_000);
      assert.equal(v.stream.server, 'nms');
      assert.ok(v.stream.bytes.in > 0 && v.stream.bytes.out > 0, JSON.stringify(v.stream.bytes));
    }
    // Without ?cluster=1 each proxy shows what it relays itself.
    assert.deepEqual((await view(a, '')).stream.players, {});
    assert.equal((await view(b, '')).stream.publishers, 0);
    // The listing carries the same sums and the proxy count.
    const list = (await (await fetch(`${a.systemApi}/api/v1/streams?cluster=1`)).json()) as {
      proxies: number;
      streams: { stream: string; publishers: number }[];
    };
    assert.equal(list.proxies, 2);
    assert.equal(list.streams.find((s) => s.stream === KEY)?.publishers, 1);
  });

  test('garbage in the summary hash is skipped, clamped or removed; the counts stay right', async () => {
    const now = Date.now();
    await admin.hset(SUMMARY_KEY, {
      'not-json': 'x{',
      'stale-proxy': JSON.stringify({ at: now - 60_000, streams: { [KEY]: { pub: 5, players: { rtmp: 5 } } } }),
      'wrong-shape': JSON.stringify({ at: 'now', streams: [] }),
      future: JSON.stringify({ at: now + 3_600_000, streams: { [KEY]: { pub: 1 } } }),
      huge: JSON.stringify({ at: now, streams: { [KEY]: { pub: 9 } }, pad: 'x'.repeat(300 * 1024) }),
      // Well formed but lying: negative, fractional, absurd and unknown values count as nothing.
      liar: JSON.stringify({ at: now, streams: { [KEY]: { pub: -4, players: { rtmp: 1e300, flv: 1.5, evil: 7 }, in: 'x', out: -1 } } }),
    });
    const v = await view(a);
    assert.equal(v.stream.publishers, 1);
    assert.deepEqual(v.stream.players, { rtmp: 1 });
    // The liar's field looks live, so it is one more proxy; the others were left out and removed.
    assert.equal(v.proxies, 3);
    await eventually(async () => {
      const fields = (await admin.hkeys(SUMMARY_KEY)).sort();
      assert.ok(
        !fields.includes('not-json') &&
          !fields.includes('stale-proxy') &&
          !fields.includes('wrong-shape') &&
          !fields.includes('huge') &&
          !fields.includes('future'),
        fields.join(),
      );
    });
    await admin.hdel(SUMMARY_KEY, 'liar');
  });

  test('a stopped proxy stops counting', async () => {
    await b.stop();
    const v = await eventually(async () => {
      const got = await view(a);
      assert.equal(got.proxies, 1);
      return got;
    }, 20_000);
    assert.deepEqual(v.stream.players, {});
    assert.equal(v.stream.publishers, 1);
  });
});
