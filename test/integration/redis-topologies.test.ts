// The Redis balancer on a three-master Redis Cluster (PROXY_REDIS_CLUSTER_NODES: the Go key names have
// no hash tags, so the balancer uses single-key commands and a single-key script there) and behind a
// Sentinel (PROXY_REDIS_SENTINELS): the same Balancer behaviour, racing proxies still agree.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { stopAllPeers } from '../fixtures/process.js';
import { startRedisCluster, startRedisWithSentinel, type RedisCluster, type RedisWithSentinel } from '../fixtures/redis-topologies.js';
import { balancerContract } from '../fixtures/balancer-contract.js';
import { PASSWORD, redisBalancer, redisConfigFrom, topologyHarness } from './redis-harness.js';

after(stopAllPeers);

describe('Redis Cluster', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster({ password: PASSWORD });
  });
  after(() => cluster.stop());
  const config = () =>
    redisConfigFrom({ PROXY_REDIS_CLUSTER_NODES: `127.0.0.1:${cluster.ports[0]},127.0.0.1:${cluster.ports[1]}`, PROXY_REDIS_PASSWORD: PASSWORD });
  const flush = async () => {
    for (const port of cluster.ports) {
      const node = new Redis({ port, host: '127.0.0.1', password: PASSWORD });
      await node.flushall();
      await node.quit();
    }
  };

  balancerContract('RedisBalancer on a Redis Cluster', topologyHarness(config, flush));

  test('two balancers racing to pin 200 new streams agree; concurrent registrations lose no server', async () => {
    await flush();
    // 400 concurrent picks on a three-node cluster: agreement is tested here, not latency, so the
    // per-command deadline (1 s by default) is widened for a machine busy with other work.
    const racing = () => ({ ...config(), timeoutMs: 10_000 });
    const { b: a, origin } = await redisBalancer(racing(), { random: Math.random });
    const { b: bb } = await redisBalancer(racing(), { random: Math.random });
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `srv${i}`);
      await Promise.all(ids.map((id, i) => (i % 2 ? a : bb).register(origin(id))));
      assert.deepEqual((await a.origins()).map((v) => v.origin.serverId).sort(), [...ids].sort());
      const keys = Array.from({ length: 200 }, (_, i) => `__defaultVhost__/live/race${i}`);
      const [fromA, fromB] = await Promise.all([Promise.all(keys.map((k) => a.pick(k))), Promise.all(keys.map((k) => bb.pick(k)))]);
      keys.forEach((k, i) => assert.equal(fromA[i]!.id, fromB[i]!.id, k));
      assert.equal((await a.pins(1000)).length, 200, 'SCAN covers every master');
      // A restart's twin goes at once, on a cluster too.
      const { replaced } = await a.register(origin('srv3', '1935', 'new', '2'));
      assert.equal(replaced?.id, 'srv3-svc-1');
      assert.equal((await bb.origins()).filter((v) => v.origin.serverId === 'srv3').length, 1);
    } finally {
      await a.close();
      await bb.close();
    }
  });
});

describe('Redis Sentinel', () => {
  let sentinel: RedisWithSentinel;
  before(async () => {
    sentinel = await startRedisWithSentinel({ password: PASSWORD, masterName: 'proxymaster' });
  });
  after(() => sentinel.stop());
  const config = () =>
    redisConfigFrom({
      PROXY_REDIS_SENTINELS: `127.0.0.1:${sentinel.sentinelPort}`,
      PROXY_REDIS_SENTINEL_NAME: 'proxymaster',
      PROXY_REDIS_PASSWORD: PASSWORD,
      PROXY_REDIS_DB: '2',
    });
  const flush = async () => {
    const master = new Redis({ port: sentinel.master.port, host: '127.0.0.1', password: PASSWORD, db: 2 });
    await master.flushdb();
    await master.quit();
  };

  balancerContract('RedisBalancer behind a Sentinel', topologyHarness(config, flush));

  test('the balancer reaches the master the Sentinel names (database 2)', async () => {
    await flush();
    const { b, origin } = await redisBalancer(config());
    try {
      await b.register(origin('viaSentinel'));
      const master = new Redis({ port: sentinel.master.port, host: '127.0.0.1', password: PASSWORD, db: 2 });
      assert.equal(await master.get('srs-proxy-all-servers'), '["srs-proxy-server:viaSentinel-svc-1"]');
      await master.quit();
    } finally {
      await b.close();
    }
  });
});
