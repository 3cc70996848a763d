// Redis trouble (issue: "Redis trouble"; spec scenario 6): startup fails clearly, a lost connection
// makes new routing fail fast with BalancerUnavailableError (or, with PROXY_REDIS_FALLBACK=cache, be
// served from the last known state), and a restarted Redis is used again without a restart.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { BalancerUnavailableError } from '../../src/balancer/balancer.js';
import { RedisBalancer, RedisStartupError } from '../../src/balancer/redis.js';
import { ConfigError } from '../../src/config.js';
import { eventually } from '../fixtures/media.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers } from '../fixtures/process.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { EXPIRE } from '../fixtures/balancer-contract.js';
import { configFor, PASSWORD, redisBalancer, redisConfigFrom, silentLog } from './redis-harness.js';

after(stopAllPeers);

async function startFails(env: Record<string, string>): Promise<RedisStartupError> {
  const b = new RedisBalancer({ redis: redisConfigFrom(env), originExpireMs: EXPIRE, sessionTtlMs: 1000, maxStreamPins: 10, log: silentLog });
  try {
    await b.start();
  } catch (err) {
    assert.ok(err instanceof RedisStartupError, String(err));
    assert.ok(err instanceof ConfigError, 'main.ts exits 255 on a ConfigError');
    await b.close();
    return err;
  }
  await b.close();
  assert.fail('start() should have failed');
}

async function kill(redis: RedisServer): Promise<void> {
  redis.peer.child.kill('SIGKILL');
  await redis.peer.exited;
}

describe('startup (scenario 6)', () => {
  test('Redis unreachable → a ConfigError naming PROXY_REDIS_HOST/PORT and the address, within seconds', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = await startFails({ PROXY_REDIS_PORT: String(port) });
    assert.ok(Date.now() - t0 < 8000, `took ${Date.now() - t0} ms`);
    assert.equal(err.variable, 'PROXY_REDIS_HOST/PROXY_REDIS_PORT');
    assert.match(err.message, new RegExp(`^PROXY_REDIS_HOST/PROXY_REDIS_PORT="127\\.0\\.0\\.1:${port}": cannot use Redis: .*ECONNREFUSED`));
  });

  test('PROXY_REDIS_URL unreachable → names PROXY_REDIS_URL and never shows the password', async () => {
    const port = await freePort();
    const err = await startFails({ PROXY_REDIS_URL: `redis://user:topsecret@127.0.0.1:${port}/2` });
    assert.equal(err.variable, 'PROXY_REDIS_URL');
    assert.ok(err.message.includes(`redis://user@127.0.0.1:${port}/2`), err.message);
    assert.ok(!err.message.includes('topsecret'));
  });

  test("a wrong password fails startup with Redis's reason, the password not shown", async () => {
    const redis = await startRedis({ password: PASSWORD });
    try {
      const err = await startFails({ PROXY_REDIS_PORT: String(redis.port), PROXY_REDIS_PASSWORD: 'wrong-one' });
      assert.match(err.message, /WRONGPASS|invalid password|NOAUTH/i);
      assert.ok(!err.message.includes('wrong-one'));
    } finally {
      await redis.stop();
    }
  });
});

describe('Redis lost and back', () => {
  test('fallback off: fail fast while down (BalancerUnavailableError), work again once Redis is back', async () => {
    const redis = await startRedis({ password: PASSWORD });
    const { b, origin } = await redisBalancer(configFor(redis));
    try {
      await b.register(origin('a'));
      assert.equal((await b.pick('k')).serverId, 'a');
      await kill(redis);
      for (const call of [
        () => b.pick('k'),
        () => b.pick('new'),
        () => b.register(origin('a')),
        () => b.hlsSessionById('abcdef0'),
        () => b.lookup('k'),
        () => b.origins(),
      ]) {
        const t0 = Date.now();
        await assert.rejects(call(), BalancerUnavailableError);
        assert.ok(Date.now() - t0 < 1500, `failed after ${Date.now() - t0} ms, not at once`);
      }
      const again = await startRedis({ password: PASSWORD, port: redis.port });
      // The new Redis is empty (no persistence): the origin's next heartbeat registers it again.
      await eventually(() => b.register(origin('a')), 15_000, 200);
      assert.equal((await b.pick('k')).serverId, 'a');
      assert.equal(b.client.status, 'ready');
      await again.stop();
    } finally {
      await b.close();
    }
  });

  test('fallback cache: known pins, origins and sessions are served while Redis is down, for PROXY_REDIS_FALLBACK_TTL', async () => {
    const redis = await startRedis({ password: PASSWORD });
    const clock = { t: 1_000_000 };
    const config = configFor(redis, { PROXY_REDIS_FALLBACK: 'cache', PROXY_REDIS_FALLBACK_TTL: '10s' });
    const { b, origin } = await redisBalancer(config, { clock, sessionTtlMs: 60_000 });
    try {
      await b.register(origin('a'));
      await b.register(origin('b'));
      const pinned = await b.pick('k');
      const hls = await b.hlsSession('k', 'http://h/live/k.m3u8');
      await b.putRtcSession({ ufrag: 'x:y', streamKey: 'k', mediaHost: '127.0.0.1', mediaPort: 8000 });
      await b.origins(); // (the background refresh does this too)
      await kill(redis);
      assert.equal((await b.pick('k')).id, pinned.id);
      assert.equal((await b.lookup('k'))?.id, pinned.id);
      const fresh = await b.pick('new-stream');
      assert.ok(['a', 'b'].includes(fresh.serverId));
      assert.equal((await b.pick('new-stream')).id, fresh.id, 'a local pick stays put on this proxy');
      assert.deepEqual(await b.hlsSessionById(hls.spbhid), hls);
      assert.equal((await b.hlsSession('k', 'http://h/live/k.m3u8')).spbhid, hls.spbhid);
      assert.equal((await b.rtcSession('x:y'))?.mediaPort, 8000);
      assert.equal((await b.origins()).length, 2);
      await assert.rejects(b.register(origin('a')), BalancerUnavailableError, 'writes still fail');
      await assert.rejects(b.hlsSessionById('0000000'), BalancerUnavailableError, 'unknown ids are not guessed');
      // The cache is short-lived: past its TTL, requests fail clearly again.
      clock.t += 10_001;
      await assert.rejects(b.pick('k'), BalancerUnavailableError);
      await assert.rejects(b.hlsSessionById(hls.spbhid), BalancerUnavailableError);
    } finally {
      await b.close();
    }
  });
});
