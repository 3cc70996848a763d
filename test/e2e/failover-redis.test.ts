// Two proxies on one Redis share origin health: a down verdict found by one proxy's probes, a drain
// set through one proxy, and the load an origin reported to one proxy are seen by the other; the Go
// proxy's keys keep their shape.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { killTree } from '../fixtures/kill-tree.js';
import { eventually } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { redisAdmin, redisEnv } from '../fixtures/redis-proxies.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';

after(stopAllPeers);

const INTERVAL_MS = 500;

async function originOf(proxy: RunningProxy, server: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${proxy.systemApi}/api/v1/origins`);
  assert.equal(res.status, 200);
  const o = ((await res.json()) as { origins: Record<string, unknown>[] }).origins.find((x) => x.server_id === server);
  assert.ok(o, `origin ${server} listed`);
  return o;
}

describe('origin health shared through Redis', () => {
  let redis: RedisServer;
  let admin: Redis;
  let prober: RunningProxy;
  let listener: RunningProxy;
  before(async () => {
    redis = await startRedis();
    admin = redisAdmin(redis);
    // One proxy probes; the other has probes off, so whatever it knows of health it learned from Redis.
    [prober, listener] = await Promise.all([
      startProxy({ env: redisEnv(redis, { env: { PROXY_HEALTH_INTERVAL: `${INTERVAL_MS}ms` } }) }),
      startProxy({ env: redisEnv(redis, { env: { PROXY_HEALTH_INTERVAL: '0' } }) }),
    ]);
  });
  after(async () => {
    await Promise.all([prober?.stop(), listener?.stop()]);
    admin?.disconnect();
    await redis?.stop();
  });

  test('a down verdict found by one proxy is seen by the other within a probe interval', async () => {
    const nginx = await startNginxRtmp();
    await registerOrigin(prober.systemApi, { ip: '127.0.0.1', server: 'shared-1', service: 'svc', pid: '1', rtmp: [String(nginx.rtmpPort)] });
    await eventually(async () => {
      assert.equal((await originOf(prober, 'shared-1')).state, 'up');
      assert.equal((await originOf(listener, 'shared-1')).state, 'up');
    });
    killTree(nginx.peer.pid);
    const seenByProber = await eventually(
      async () => {
        assert.equal((await originOf(prober, 'shared-1')).state, 'down');
        return Date.now();
      },
      10_000,
      25,
    );
    const o = await eventually(
      async () => {
        const x = await originOf(listener, 'shared-1');
        assert.equal(x.state, 'down');
        return x;
      },
      10_000,
      25,
    );
    const lagMs = Date.now() - seenByProber;
    assert.match(String(o.reason), /ECONNREFUSED.*seen by another proxy/);
    assert.ok(lagMs <= INTERVAL_MS + 1000, `the other proxy agreed ${lagMs} ms later`);
    const raw = await admin.get('origin-proxy-health:shared-1');
    assert.ok(raw && JSON.parse(raw).origin === 'shared-1-svc-1');
    assert.ok((await admin.pttl('origin-proxy-health:shared-1')) > 0, 'the verdict key has a TTL');
  });

  test('a drain set through one proxy holds on the other; undrain too', async () => {
    const nginx = await startNginxRtmp();
    await registerOrigin(listener.systemApi, { ip: '127.0.0.1', server: 'shared-2', service: 'svc', pid: '1', rtmp: [String(nginx.rtmpPort)] });
    const r = await fetch(`${prober.systemApi}/api/v1/origins/shared-2/drain`, { method: 'POST' });
    assert.equal(r.status, 200);
    await eventually(async () => assert.equal((await originOf(listener, 'shared-2')).state, 'draining'), 5000, 50);
    assert.equal((await fetch(`${listener.systemApi}/api/v1/origins/shared-2/undrain`, { method: 'POST' })).status, 200);
    await eventually(async () => assert.equal((await originOf(prober, 'shared-2')).state, 'up'), 5000, 50);
    await nginx.stop();
  });

  test('load reported to one proxy is known to the other; the Go record keeps its fields', async () => {
    const nginx = await startNginxRtmp();
    const summaries = { data: { ok: true, now_ms: 1, self: {}, system: { cpu_percent: 0.9, conn_srs: 12 } } };
    await registerOrigin(prober.systemApi, {
      ip: '127.0.0.1',
      server: 'shared-3',
      service: 'svc',
      pid: '1',
      rtmp: [String(nginx.rtmpPort)],
      summaries,
      weight: 3,
    });
    await eventually(
      async () => {
        const o = await originOf(listener, 'shared-3');
        assert.deepEqual(o.load, { cpu: 0.9, connections: 12 });
        assert.equal(o.weight, 3);
      },
      5000,
      50,
    );
    const record = JSON.parse((await admin.get('srs-proxy-server:shared-3-svc-1')) ?? '{}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(record).sort(), ['ip', 'pid', 'rtmp', 'server_id', 'service_id', 'update_at']);
    await nginx.stop();
  });
});
