// The Redis balancer against a real redis-server (password, database 3): the shared Balancer
// behaviour, the Go proxy's key schema byte for byte (BEHAVIOUR.md §3.7, scenarios 25-26), records in the Go
// proxy's format, and racing proxies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialTargets, parseRegistration } from '../../src/balancer/origin.js';
import { encodeServerList } from '../../src/balancer/redis-records.js';
import { EDIT_LIST } from '../../src/balancer/redis-scripts.js';
import { RedisStore } from '../../src/balancer/redis-store.js';
import fc from 'fast-check';
import { stopAllPeers } from '../fixtures/process.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { balancerContract, EXPIRE } from '../fixtures/balancer-contract.js';
import { adminClient, configFor, PASSWORD, redisBalancer, redisConfigFrom, redisHarness, type RedisHarnessOptions } from './redis-harness.js';

let redis: RedisServer;
before(async () => {
  redis = await startRedis({ password: PASSWORD });
});
after(stopAllPeers);

balancerContract('RedisBalancer', (opts) => redisHarness(redis, opts));

/** A fresh database and two handles on it: the balancer (fake liveness clock) and a raw admin client. */
async function fresh(opts: RedisHarnessOptions = {}) {
  const admin = adminClient(redis);
  await admin.flushdb();
  const h = await redisBalancer(configFor(redis), opts);
  return { ...h, admin, close: async () => (await h.b.close(), await admin.quit()) };
}

// 2026-11-21T06:58:39.123Z
const T0 = Date.UTC(2026, 10, 21, 6, 58, 39, 123);

describe('Redis key schema, byte for byte (BEHAVIOUR.md §3.7; scenarios 25-26)', () => {
  test('scenario 25: register writes srs-proxy-server:<server>-<service>-<pid> (EX 300) and lists it', async () => {
    const { b, admin, close } = await fresh({ clock: { t: T0 } });
    try {
      const body = {
        ip: '10.0.0.7',
        device_id: 'dev<1>',
        server: 'vid-ab12',
        service: 'svc9',
        pid: '4242',
        rtmp: ['19351'],
        http: ['8081'],
        api: ['1986'],
        srt: ['udp://0.0.0.0:10081'],
        rtc: ['udp://0.0.0.0:8001'],
      };
      await b.register(parseRegistration(body, T0));
      const key = 'srs-proxy-server:vid-ab12-svc9-4242';
      assert.equal(
        await admin.get(key),
        '{"ip":"10.0.0.7","device_id":"dev\\u003c1\\u003e","server_id":"vid-ab12","service_id":"svc9","pid":"4242",' +
          '"rtmp":["19351"],"http":["8081"],"api":["1986"],"srt":["udp://0.0.0.0:10081"],"rtc":["udp://0.0.0.0:8001"],' +
          '"update_at":"2026-11-21T06:58:39.123000000Z"}',
      );
      const ttl = await admin.ttl(key);
      assert.ok(ttl > 295 && ttl <= 300, `TTL ${ttl}`);
      assert.equal(await admin.get('srs-proxy-all-servers'), '["srs-proxy-server:vid-ab12-svc9-4242"]');
      assert.equal(await admin.ttl('srs-proxy-all-servers'), -1, 'the list has no TTL');
      // Empty fields are omitted (device_id, http, …); update_at never is.
      await b.register(parseRegistration({ ip: '10.0.0.8', server: 's2', service: 'x', pid: '1', rtmp: ['1935'] }, T0));
      assert.equal(
        await admin.get('srs-proxy-server:s2-x-1'),
        '{"ip":"10.0.0.8","server_id":"s2","service_id":"x","pid":"1","rtmp":["1935"],"update_at":"2026-11-21T06:58:39.123000000Z"}',
      );
      assert.equal(await admin.get('srs-proxy-all-servers'), '["srs-proxy-server:vid-ab12-svc9-4242","srs-proxy-server:s2-x-1"]');
    } finally {
      await close();
    }
  });

  test('scenario 26: a pick writes srs-proxy-url:<streamKey> = the server key, with no TTL', async () => {
    const { b, admin, origin, close } = await fresh();
    try {
      await b.register(origin('fo1', '1935', 'svc', '7'));
      await b.pick('__defaultVhost__/live/x');
      assert.equal(await admin.get('srs-proxy-url:__defaultVhost__/live/x'), 'srs-proxy-server:fo1-svc-7');
      assert.equal(await admin.ttl('srs-proxy-url:__defaultVhost__/live/x'), -1);
      // lookup reads, never writes.
      await b.lookup('__defaultVhost__/live/y');
      assert.equal(await admin.exists('srs-proxy-url:__defaultVhost__/live/y'), 0);
    } finally {
      await close();
    }
  });

  test('HLS records: srs-proxy-hls:<stream> and srs-proxy-spbhid:<id>, the BEHAVIOUR.md §3.5 JSON, TTL = PROXY_SESSION_TTL (120 s)', async () => {
    const { b, admin, close } = await fresh({ sessionTtlMs: 120_000 });
    try {
      const s = await b.hlsSession('__defaultVhost__/live/h', 'http://example.com/live/h.m3u8');
      const json = `{"spbhid":"${s.spbhid}","stream_url":"__defaultVhost__/live/h","full_url":"http://example.com/live/h.m3u8"}`;
      assert.equal(await admin.get('srs-proxy-hls:__defaultVhost__/live/h'), json);
      assert.equal(await admin.get(`srs-proxy-spbhid:${s.spbhid}`), json);
      for (const k of ['srs-proxy-hls:__defaultVhost__/live/h', `srs-proxy-spbhid:${s.spbhid}`]) {
        const ttl = await admin.pttl(k);
        assert.ok(ttl > 115_000 && ttl <= 120_000, `${k} TTL ${ttl}`);
      }
    } finally {
      await close();
    }
  });

  test('WebRTC records: srs-proxy-rtc:<stream> and srs-proxy-ufrag:<ufrag>, Go fields first, ours after, TTL 120 s', async () => {
    const { b, admin, close } = await fresh({ sessionTtlMs: 120_000 });
    try {
      await b.putRtcSession({ ufrag: 'ans1:off1', streamKey: '__defaultVhost__/live/r', serverId: 'srs1', mediaHost: '127.0.0.1', mediaPort: 8000 });
      const json = '{"stream_url":"__defaultVhost__/live/r","ufrag":"ans1:off1","serverId":"srs1","mediaHost":"127.0.0.1","mediaPort":8000}';
      assert.equal(await admin.get('srs-proxy-ufrag:ans1:off1'), json);
      assert.equal(await admin.get('srs-proxy-rtc:__defaultVhost__/live/r'), json);
      const ttl = await admin.ttl('srs-proxy-ufrag:ans1:off1');
      assert.ok(ttl > 115 && ttl <= 120, `TTL ${ttl}`);
      // A session deleted removes both indexes (the by-stream one only while it names this session).
      await b.putRtcSession({ ufrag: 'ans2:off2', streamKey: '__defaultVhost__/live/r' });
      await b.deleteRtcSession('ans1:off1');
      assert.equal(await admin.exists('srs-proxy-ufrag:ans1:off1'), 0);
      assert.equal(await admin.get('srs-proxy-rtc:__defaultVhost__/live/r'), '{"stream_url":"__defaultVhost__/live/r","ufrag":"ans2:off2"}');
      await b.deleteRtcSession('ans2:off2');
      assert.equal(await admin.exists('srs-proxy-rtc:__defaultVhost__/live/r'), 0);
    } finally {
      await close();
    }
  });

  test('the server list written by the Lua script is byte-identical to Go encoding (escapes included)', async () => {
    const { b, admin, close } = await fresh({ clock: { t: T0 } });
    try {
      const ids = ['a&b', 'c<d>e', 'quote"s', 'back\\slash', 'uni\u00e9\u2028x'];
      for (const id of ids) await b.register(parseRegistration({ ip: '1.2.3.4', server: id, service: 's', pid: '1', rtmp: ['1935'] }, T0));
      assert.equal(await admin.get('srs-proxy-all-servers'), encodeServerList(ids.map((id) => `srs-proxy-server:${id}-s-1`)));
      assert.equal(
        await admin.get('srs-proxy-all-servers'),
        '["srs-proxy-server:a\\u0026b-s-1","srs-proxy-server:c\\u003cd\\u003ee-s-1","srs-proxy-server:quote\\"s-s-1","srs-proxy-server:back\\\\slash-s-1","srs-proxy-server:uni\u00e9\\u2028x-s-1"]',
      );
      assert.equal((await b.origins()).length, ids.length);
    } finally {
      await close();
    }
  });
});

describe("records in the Go proxy's format are read (mixed fleet)", () => {
  // As the Go proxy writes them: nanoseconds, a zone offset, Go's field order, no `rtsp`, pid a string.
  const goServer = (id: string, updateAt: string, rtmp = '19352') =>
    `{"ip":"127.0.0.1","server_id":"${id}","service_id":"gosvc","pid":"77","rtmp":["${rtmp}"],"http":["8082"],"api":["1987"],` +
    `"srt":["10082"],"rtc":["udp://0.0.0.0:8002"],"update_at":"${updateAt}"}`;

  test('a Go server record, list and pin: origins and pick read them; the pin is kept', async () => {
    // 2026-11-21T14:58:39.123456789+08:00 is T0 + 456789 ns.
    const { b, admin, close } = await fresh({ clock: { t: T0 + 5000 } });
    try {
      await admin.set('srs-proxy-server:go1-gosvc-77', goServer('go1', '2026-11-21T14:58:39.123456789+08:00'), 'EX', 300);
      await admin.set('srs-proxy-all-servers', '["srs-proxy-server:go1-gosvc-77"]');
      await admin.set('srs-proxy-url:__defaultVhost__/live/go', 'srs-proxy-server:go1-gosvc-77');
      const [view] = await b.origins();
      assert.equal(view!.origin.id, 'go1-gosvc-77');
      assert.equal(view!.origin.updatedAt, T0);
      assert.equal(view!.ageMs, 5000);
      assert.equal(view!.alive, true);
      assert.deepEqual(view!.origin.endpoints, { rtmp: ['19352'], http: ['8082'], api: ['1987'], srt: ['10082'], rtc: ['udp://0.0.0.0:8002'] });
      assert.deepEqual(dialTargets(view!.origin, 'rtc'), [{ host: '127.0.0.1', port: 8002, transport: 'udp' }]);
      assert.equal((await b.pick('__defaultVhost__/live/go')).id, 'go1-gosvc-77');
      assert.equal((await b.lookup('__defaultVhost__/live/go'))?.id, 'go1-gosvc-77');
      assert.equal(await admin.get('srs-proxy-url:__defaultVhost__/live/go'), 'srs-proxy-server:go1-gosvc-77');
    } finally {
      await close();
    }
  });

  test('Go update_at forms: Z, no fraction, Go zero time (stale: used only as the fallback)', async () => {
    const { b, admin, close } = await fresh({ clock: { t: T0 + 1000 } });
    try {
      await admin.set('srs-proxy-server:z-gosvc-77', goServer('z', '2026-11-21T06:58:39.123Z'), 'EX', 300);
      await admin.set('srs-proxy-server:n-gosvc-77', goServer('n', '2026-11-21T06:58:39Z'), 'EX', 300);
      await admin.set('srs-proxy-server:old-gosvc-77', goServer('old', '0001-01-01T00:00:00Z'), 'EX', 300);
      await admin.set('srs-proxy-all-servers', '["srs-proxy-server:z-gosvc-77","srs-proxy-server:n-gosvc-77","srs-proxy-server:old-gosvc-77"]');
      const byId = new Map((await b.origins()).map((v) => [v.origin.serverId, v]));
      assert.equal(byId.get('z')!.ageMs, 1000);
      assert.equal(byId.get('n')!.ageMs, 1123);
      assert.equal(byId.get('old')!.alive, false);
      for (let i = 0; i < 10; i++) assert.notEqual((await b.pick(`s${i}`)).serverId, 'old');
    } finally {
      await close();
    }
  });

  test('Go HLS and WebRTC records resolve on any proxy (BEHAVIOUR.md §9.2 #3: the Go proxy could not)', async () => {
    const { b, admin, close } = await fresh();
    try {
      await admin.set('srs-proxy-spbhid:abc1234', '{"spbhid":"abc1234","stream_url":"__defaultVhost__/live/g","full_url":"http://h/live/g.m3u8"}', 'EX', 120);
      await admin.set(
        'srs-proxy-hls:__defaultVhost__/live/g',
        '{"spbhid":"abc1234","stream_url":"__defaultVhost__/live/g","full_url":"http://h/live/g.m3u8"}',
        'EX',
        120,
      );
      await admin.set('srs-proxy-ufrag:a1:o1', '{"stream_url":"__defaultVhost__/live/g","ufrag":"a1:o1"}', 'EX', 120);
      assert.deepEqual(await b.hlsSessionById('abc1234'), { spbhid: 'abc1234', streamKey: '__defaultVhost__/live/g', fullUrl: 'http://h/live/g.m3u8' });
      assert.equal((await b.hlsSession('__defaultVhost__/live/g', 'http://h/live/g.m3u8')).spbhid, 'abc1234', 'the existing id is reused (read before write)');
      assert.deepEqual(await b.rtcSession('a1:o1'), { ufrag: 'a1:o1', streamKey: '__defaultVhost__/live/g' });
    } finally {
      await close();
    }
  });

  test('a Go-registered dead twin (same server id, old pid) disappears when the restarted origin registers', async () => {
    const { b, admin, origin, close } = await fresh({ clock: { t: T0 } });
    try {
      await admin.set('srs-proxy-server:srs1-gosvc-77', goServer('srs1', '2026-11-21T06:58:30Z'), 'EX', 300);
      await admin.set('srs-proxy-server:srs1-x-gosvc-77', goServer('srs1-x', '2026-11-21T06:58:30Z'), 'EX', 300);
      await admin.set('srs-proxy-all-servers', '["srs-proxy-server:srs1-gosvc-77","srs-proxy-server:srs1-x-gosvc-77","srs-proxy-server:expired-a-1"]');
      await admin.set('srs-proxy-url:__defaultVhost__/live/t', 'srs-proxy-server:srs1-gosvc-77');
      const { replaced } = await b.register(origin('srs1', '1935', 'newsvc', '78'));
      assert.equal(replaced?.id, 'srs1-gosvc-77');
      assert.equal(await admin.exists('srs-proxy-server:srs1-gosvc-77'), 0);
      // Another server whose id merely starts the same stays; an expired key leaves the list.
      assert.equal(await admin.get('srs-proxy-all-servers'), '["srs-proxy-server:srs1-x-gosvc-77","srs-proxy-server:srs1-newsvc-78"]');
      // The pin to the dead incarnation moves (atomically) to a live record.
      const moved = await b.pick('__defaultVhost__/live/t');
      assert.notEqual(moved.id, 'srs1-gosvc-77');
      assert.equal(await admin.get('srs-proxy-url:__defaultVhost__/live/t'), `srs-proxy-server:${moved.id}`);
    } finally {
      await close();
    }
  });
});

describe('racing proxies (BEHAVIOUR.md §9.2 #16)', () => {
  test('two balancers racing to pin 200 new streams: each stream ends on exactly one origin', async () => {
    const { b: a, admin, origin, close } = await fresh({ random: Math.random });
    const { b: bb } = await redisBalancer(configFor(redis), { random: Math.random });
    try {
      for (const s of ['o1', 'o2', 'o3', 'o4']) await a.register(origin(s));
      const keys = Array.from({ length: 200 }, (_, i) => `__defaultVhost__/live/race${i}`);
      const [fromA, fromB] = await Promise.all([Promise.all(keys.map((k) => a.pick(k))), Promise.all(keys.map((k) => bb.pick(k)))]);
      const stored = await admin.mget(keys.map((k) => `srs-proxy-url:${k}`));
      keys.forEach((k, i) => {
        assert.equal(fromA[i]!.id, fromB[i]!.id, `${k}: the two proxies disagree`);
        assert.equal(stored[i], `srs-proxy-server:${fromA[i]!.id}`, `${k}: Redis holds another origin`);
      });
      assert.ok(new Set(fromA.map((o) => o.serverId)).size > 1, 'streams spread over the origins');
    } finally {
      await bb.close();
      await close();
    }
  });

  test('two balancers racing to move pins off a dead origin agree on the new one', async () => {
    const clock = { t: 1_000_000 };
    const { b: a, origin, close } = await fresh({ random: Math.random, clock });
    const { b: bb } = await redisBalancer(configFor(redis), { random: Math.random, clock });
    try {
      await a.register(origin('dead'));
      const keys = Array.from({ length: 50 }, (_, i) => `s${i}`);
      for (const k of keys) await a.pick(k);
      clock.t += EXPIRE + 1;
      for (const s of ['n1', 'n2', 'n3']) await a.register(origin(s));
      const [fromA, fromB] = await Promise.all([Promise.all(keys.map((k) => a.pick(k))), Promise.all(keys.map((k) => bb.pick(k)))]);
      keys.forEach((k, i) => {
        assert.notEqual(fromA[i]!.serverId, 'dead');
        assert.equal(fromA[i]!.id, fromB[i]!.id, k);
      });
    } finally {
      await bb.close();
      await close();
    }
  });

  test('concurrent registrations through two balancers lose no server (the Go read-modify-write race)', async () => {
    const { b: a, admin, origin, close } = await fresh();
    const { b: bb } = await redisBalancer(configFor(redis));
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `srv${i}`);
      await Promise.all(ids.map((id, i) => (i % 2 ? a : bb).register(origin(id))));
      const list = JSON.parse((await admin.get('srs-proxy-all-servers'))!) as string[];
      assert.deepEqual(list.sort(), ids.map((id) => `srs-proxy-server:${id}-svc-1`).sort());
    } finally {
      await bb.close();
      await close();
    }
  });

  test("two balancers creating the same stream's HLS session at once get one spbhid", async () => {
    const { b: a, admin, close } = await fresh({ sessionTtlMs: 120_000 });
    const { b: bb } = await redisBalancer(configFor(redis), { sessionTtlMs: 120_000 });
    try {
      const keys = Array.from({ length: 50 }, (_, i) => `hls${i}`);
      const [fromA, fromB] = await Promise.all([Promise.all(keys.map((k) => a.hlsSession(k, 'u'))), Promise.all(keys.map((k) => bb.hlsSession(k, 'u')))]);
      keys.forEach((k, i) => assert.equal(fromA[i]!.spbhid, fromB[i]!.spbhid, k));
      // The losers' ids were withdrawn: exactly one id record per stream.
      assert.equal((await admin.keys('srs-proxy-spbhid:*')).length, keys.length);
    } finally {
      await bb.close();
      await close();
    }
  });
});

describe('damaged data is survived', () => {
  test('garbage list, record and pin: ignored, then repaired by the next register or pick', async () => {
    const { b, admin, origin, close } = await fresh();
    try {
      await admin.set('srs-proxy-all-servers', '{not json');
      assert.deepEqual(await b.origins(), []);
      await b.register(origin('a'));
      assert.equal(await admin.get('srs-proxy-all-servers'), '["srs-proxy-server:a-svc-1"]');
      await admin.set('srs-proxy-server:bad-x-1', '[1,2');
      await admin.set('srs-proxy-all-servers', '["srs-proxy-server:bad-x-1","srs-proxy-server:a-svc-1"]');
      assert.deepEqual(
        (await b.origins()).map((v) => v.origin.id),
        ['a-svc-1'],
      );
      await admin.set('srs-proxy-url:k', 'not-a-server-key');
      assert.equal((await b.pick('k')).id, 'a-svc-1');
      assert.equal(await admin.get('srs-proxy-url:k'), 'srs-proxy-server:a-svc-1');
      await admin.set('srs-proxy-hls:h', 'garbage');
      const s = await b.hlsSession('h', 'u');
      assert.equal(await admin.get(`srs-proxy-spbhid:${s.spbhid}`), await admin.get('srs-proxy-hls:h'));
      await admin.set('srs-proxy-ufrag:u', '{"ufrag":"u"}');
      assert.equal(await b.rtcSession('u'), undefined);
    } finally {
      await close();
    }
  });
});

describe('connection settings', () => {
  test('PROXY_REDIS_URL with an ACL user, its password and a database in the path', async () => {
    const admin = adminClient(redis, 0);
    await admin.call('ACL', 'SETUSER', 'proxyuser', 'on', '>s3cret', '~*', '+@all');
    const config = redisConfigFrom({ PROXY_REDIS_URL: `redis://proxyuser:s3cret@127.0.0.1:${redis.port}/5` });
    assert.equal(config.db, 5);
    const { b, origin } = await redisBalancer(config);
    try {
      await b.register(origin('urlsrv'));
      const db5 = adminClient(redis, 5);
      assert.ok(await db5.exists('srs-proxy-server:urlsrv-svc-1'));
      await db5.flushdb();
      await db5.quit();
    } finally {
      await b.close();
      await admin.quit();
    }
  });

  test('every call kind is counted with its latency', async () => {
    const { b, origin, close } = await fresh();
    try {
      await b.register(origin('a'));
      await b.pick('k');
      await b.pick('k');
      const stats = b.callStats();
      assert.equal(stats.register!.calls, 1);
      assert.equal(stats.resolve!.calls, 2);
      assert.equal(stats['create-pin']!.calls, 1);
      assert.ok(stats.resolve!.totalMs > 0 && stats.resolve!.maxMs > 0);
    } finally {
      await close();
    }
  });
});

/** No lone surrogates (they have no UTF-8 form, so Redis could not store them as given). */
const isWellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

describe('Lua JSON encoder', () => {
  test('property: the scripts write a server list byte-identical to Go encoding (encodeServerList) for any strings', async () => {
    const admin = adminClient(redis);
    const store = new RedisStore(admin);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.string({ unit: 'binary', maxLength: 12 }).filter(isWellFormed), { maxLength: 6 }), async (keys) => {
          await admin.set('srs-proxy-all-servers', JSON.stringify(keys));
          await store.run(EDIT_LIST, ['srs-proxy-all-servers'], ['']);
          assert.equal(await admin.get('srs-proxy-all-servers'), encodeServerList([...new Set(keys)]));
        }),
        { numRuns: 200 },
      );
    } finally {
      await admin.flushdb();
      await admin.quit();
    }
  });
});
