// Redis trouble with real proxies (issue: "Redis trouble"; spec scenario 6): Redis killed during
// playback → running relays go on, new requests fail fast with JSON errors (or are served from the
// cache with PROXY_REDIS_FALLBACK=cache), registers get 503; Redis restarted → the same proxy
// processes route again. Startup with Redis unreachable → exit 255 naming the variable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseFlvTags } from '../fixtures/flv.js';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, probeCodecs, publish, useTestFlv } from '../fixtures/media.js';
import { startNodeMediaServer, type NmsOrigin } from '../fixtures/nms.js';
import { MAIN_JS } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { run, type Peer } from '../fixtures/process.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { redisEnv } from '../fixtures/redis-proxies.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';

const PASSWORD = 'outage-secret';
const testFlv = useTestFlv('redis-outage');

/** An HTTP-FLV read that keeps every chunk with its arrival time, until stopped. */
function flvReader(url: string) {
  const chunks: { at: number; bytes: Buffer }[] = [];
  const controller = new AbortController();
  const done = (async () => {
    const res = await fetch(url, { signal: controller.signal });
    assert.equal(res.status, 200);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push({ at: Date.now(), bytes: Buffer.from(chunk) });
  })().catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
  return {
    bytesAfter: (t: number) => chunks.filter((c) => c.at > t).reduce((n, c) => n + c.bytes.length, 0),
    body: () => Buffer.concat(chunks.map((c) => c.bytes)),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

async function killRedis(redis: RedisServer): Promise<void> {
  redis.peer.child.kill('SIGKILL');
  await redis.peer.exited;
}

describe('Redis killed during playback, then restarted', () => {
  // Every request here is routed on its own (per-client relays, §5.3). In edge mode a later player of a live stream
  // joins its upstream without routing (§11.1) and would play through the outage, so edge stays off whatever the
  // suite's overlay.
  const opts = { password: PASSWORD, db: 3, env: { PROXY_EDGE: 'off' } };
  let redis: RedisServer;
  let a: RunningProxy;
  let b: RunningProxy;
  let cached: RunningProxy;
  let nms: NmsOrigin;
  let pub: Peer;

  before(async () => {
    redis = await startRedis({ password: PASSWORD });
    [a, b, cached] = await Promise.all([
      startProxy({ env: redisEnv(redis, opts) }),
      startProxy({ env: redisEnv(redis, opts) }),
      startProxy({ env: redisEnv(redis, { ...opts, env: { ...opts.env, PROXY_REDIS_FALLBACK: 'cache', PROXY_REDIS_FALLBACK_TTL: '60s' } }) }),
    ]);
    nms = await startNodeMediaServer();
    startHeartbeat({ systemApi: a.systemApi, rtmp: nms.rtmpPort, http: nms.httpPort, server: 'nms', interval: '1s' });
    await eventually(
      async () => {
        const { origins } = (await (await fetch(`${b.systemApi}/api/v1/origins`)).json()) as { origins: unknown[] };
        assert.equal(origins.length, 1);
      },
      10_000,
      100,
    );
    pub = publish(testFlv(), `rtmp://127.0.0.1:${a.ports.rtmp}/live/steady`);
    await eventually(() => probeCodecs(`${b.httpServer}/live/steady.flv`, 8000), 20_000, 500);
    // The cache proxy learns the pin and the origin list while Redis is up.
    assert.deepEqual(await probeCodecs(`${cached.httpServer}/live/steady.flv`, 8000), ['aac', 'h264']);
  });
  after(async () => {
    await pub?.stop();
    await Promise.all([a, b, cached].map((p) => p?.stop()));
    await nms?.stop();
  });

  test('relays go on; new requests fail fast with JSON (or come from the cache); Redis back → routing again without a restart', async () => {
    const playing = flvReader(`${b.httpServer}/live/steady.flv`);
    await eventually(async () => assert.ok(playing.bytesAfter(0) > 20_000), 10_000, 100);
    const killedAt = Date.now();
    await killRedis(redis);

    // New routing through the Redis-only proxies: a clear error at once, no hang.
    let t0 = Date.now();
    const flvRes = await fetch(`${b.httpServer}/live/steady.flv`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(flvRes.status, 503, 'balancer unavailable is 503 on every listener');
    assert.equal(flvRes.headers.get('content-type'), 'application/json');
    assert.deepEqual(await flvRes.json(), { code: 503, error: 'stream routing unavailable' });
    assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
    t0 = Date.now();
    const reg = await fetch(`${a.systemApi}/api/v1/srs/register`, {
      method: 'POST',
      body: JSON.stringify({ ip: '127.0.0.1', server: 'late', service: 's', pid: '1', rtmp: ['1935'] }),
    });
    assert.equal(reg.status, 503);
    assert.match(((await reg.json()) as { error: string }).error, /unavailable/);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal((await fetch(`${b.systemApi}/api/v1/origins`)).status, 503);
    // RTMP play through A is refused (no hang until a timeout).
    t0 = Date.now();
    await assert.rejects(probeCodecs(`rtmp://127.0.0.1:${a.ports.rtmp}/live/steady`, 8000));
    assert.ok(Date.now() - t0 < 6000, `RTMP refused after ${Date.now() - t0} ms`);

    // PROXY_REDIS_FALLBACK=cache: the known stream still plays through that proxy.
    assert.deepEqual(await probeCodecs(`${cached.httpServer}/live/steady.flv`, 8000), ['aac', 'h264']);

    // The FLV relay through B and the RTMP publish relay through A never noticed.
    await eventually(async () => assert.ok(playing.bytesAfter(killedAt) > 100_000, `${playing.bytesAfter(killedAt)} bytes since the kill`), 10_000, 200);
    assert.equal(pub.hasExited, false, 'the publisher is still connected through A');

    // Redis comes back (empty: no persistence); the origin's next heartbeat registers it again.
    const again = await startRedis({ password: PASSWORD, port: redis.port });
    await eventually(async () => assert.deepEqual(await probeCodecs(`${b.httpServer}/live/steady.flv`, 8000), ['aac', 'h264']), 20_000, 500);
    assert.deepEqual(await probeCodecs(`rtmp://127.0.0.1:${a.ports.rtmp}/live/steady`, 8000), ['aac', 'h264']);
    await playing.stop();
    const tags = parseFlvTags(playing.body());
    const video = tags.filter((t) => t.type === 9).map((t) => t.timestamp);
    assert.ok(video.length > 50, `${video.length} video tags`);
    for (let i = 1; i < video.length; i++) assert.ok(video[i]! >= video[i - 1]!, 'one continuous FLV stream across the outage');
    for (const p of [a, b, cached]) assert.equal(p.peer.hasExited, false, 'no proxy restarted');
    assert.match(b.peer.output, /Redis connection lost/);
    assert.match(b.peer.output.slice(b.peer.output.indexOf('Redis connection lost')), /Redis connected/);
    await again.stop();
  });
});

describe('startup with Redis unreachable (scenario 6)', () => {
  test('exit 255 with one line naming PROXY_REDIS_HOST/PORT; no listener opened', async () => {
    const port = await freePort();
    const systemApi = await freePort();
    const r = await run(process.execPath, [MAIN_JS], 15_000, {
      env: {
        PATH: process.env.PATH ?? '',
        PROXY_LOAD_BALANCER_TYPE: 'redis',
        PROXY_REDIS_PORT: String(port),
        PROXY_SYSTEM_API: `127.0.0.1:${systemApi}`,
        PROXY_LOG_FORMAT: 'json',
      },
    });
    assert.equal(r.code, 255);
    assert.match(r.stderr, new RegExp(`^origin-proxy: PROXY_REDIS_HOST/PROXY_REDIS_PORT="127\\.0\\.0\\.1:${port}": cannot use Redis: .*ECONNREFUSED`));
    assert.doesNotMatch(r.stdout, /"msg":"listening"/);
  });

  test('PROXY_REDIS_URL with a password: exit 255 naming PROXY_REDIS_URL; the password appears nowhere', async () => {
    const port = await freePort();
    const r = await run(process.execPath, [MAIN_JS], 15_000, {
      env: {
        PATH: process.env.PATH ?? '',
        PROXY_LOAD_BALANCER_TYPE: 'redis',
        PROXY_REDIS_URL: `redis://app:hunter22@127.0.0.1:${port}/1`,
        PROXY_SYSTEM_API: `127.0.0.1:${await freePort()}`,
        PROXY_LOG_FORMAT: 'json',
      },
    });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /PROXY_REDIS_URL="redis:\/\/app@127\.0\.0\.1:\d+\/1": cannot use Redis/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('hunter22'), 'password leaked');
    assert.match(r.stdout, /"PROXY_REDIS_URL":"redis:\/\/app:\*{6}@127\.0\.0\.1/, 'the startup log masks it');
  });

  test('a wrong password: exit 255 pointing at PROXY_REDIS_PASSWORD', async () => {
    const redis = await startRedis({ password: PASSWORD });
    try {
      const r = await run(process.execPath, [MAIN_JS], 15_000, {
        env: {
          PATH: process.env.PATH ?? '',
          PROXY_LOAD_BALANCER_TYPE: 'redis',
          PROXY_REDIS_PORT: String(redis.port),
          PROXY_REDIS_PASSWORD: 'not-it',
          PROXY_SYSTEM_API: `127.0.0.1:${await freePort()}`,
        },
      });
      assert.equal(r.code, 255);
      assert.match(r.stderr, /WRONGPASS.*PROXY_REDIS_PASSWORD/);
      assert.ok(!`${r.stdout}${r.stderr}`.includes('not-it'));
    } finally {
      await redis.stop();
    }
  });
});
