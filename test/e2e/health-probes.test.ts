// /healthz and /readyz on a real proxy process: alive and ready on start; not ready while its Redis
// is away and ready again once Redis is back; not ready at once on SIGTERM while a live stream drains.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { publish, useTestFlv } from '../fixtures/media.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy } from '../fixtures/proxy.js';
import { redisEnv } from '../fixtures/redis-proxies.js';
import { startRedis } from '../fixtures/redis.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);
const testFlv = useTestFlv('health-probes');

interface Probe {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function probe(base: string, path: '/healthz' | '/readyz'): Promise<Probe> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

describe('health probes', () => {
  test('a started proxy is alive and ready, without a token, and names no address', async () => {
    const proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: 'probe-secret' } });
    try {
      const live = await probe(proxy.systemApi, '/healthz');
      assert.equal(live.status, 200, live.text);
      assert.equal(live.body.status, 'alive');
      assert.equal(typeof live.body.eventLoopDelayMs, 'number');
      const ready = await probe(proxy.systemApi, '/readyz');
      assert.equal(ready.status, 200, ready.text);
      assert.deepEqual(ready.body, { code: 0, status: 'ready', balancer: 'memory' });
      // Admin reads still need the token; the probes do not and show nothing worth protecting.
      assert.equal((await fetch(`${proxy.systemApi}/api/v1/origins`)).status, 401);
      for (const p of [live, ready]) assert.ok(!/127\.0\.0\.1|probe-secret/.test(p.text), p.text);
      assert.equal((await fetch(`${proxy.systemApi}/readyz`, { method: 'POST' })).status, 405);
    } finally {
      await proxy.stop();
    }
  });

  test('Redis stopped → readyz 503 naming the balancer (healthz stays 200); Redis back → 200 again', async () => {
    const redis = await startRedis();
    const proxy = await startProxy({ env: redisEnv(redis) });
    let again: Awaited<ReturnType<typeof startRedis>> | undefined;
    try {
      assert.deepEqual((await probe(proxy.systemApi, '/readyz')).body, { code: 0, status: 'ready', balancer: 'redis' });
      redis.peer.child.kill('SIGKILL');
      await redis.peer.exited;
      const down = await waitFor(
        async () => {
          const p = await probe(proxy.systemApi, '/readyz');
          return p.status === 503 ? p : undefined;
        },
        { what: 'readyz 503 after Redis stopped' },
      );
      assert.equal(down.body.code, 503);
      assert.equal(down.body.reason, 'balancer');
      assert.match(String(down.body.error), /Redis is not connected/);
      assert.ok(!down.text.includes(String(redis.port)), `no address in ${down.text}`);
      assert.equal((await probe(proxy.systemApi, '/healthz')).status, 200, 'Redis away is no reason to restart the proxy');
      again = await startRedis({ port: redis.port });
      await waitFor(async () => (await probe(proxy.systemApi, '/readyz')).status === 200, { what: 'readyz 200 after Redis restarted', timeoutMs: 30_000 });
    } finally {
      await proxy.stop();
      await again?.stop();
      await redis.stop();
    }
  });

  test('Redis stopped with PROXY_REDIS_FALLBACK=cache → still ready, in fallback mode', async () => {
    const redis = await startRedis();
    const proxy = await startProxy({ env: redisEnv(redis, { env: { PROXY_REDIS_FALLBACK: 'cache' } }) });
    try {
      redis.peer.child.kill('SIGKILL');
      await redis.peer.exited;
      const p = await waitFor(
        async () => {
          const r = await probe(proxy.systemApi, '/readyz');
          return r.body.balancer === 'redis-fallback' ? r : undefined;
        },
        { what: 'readyz in fallback mode' },
      );
      assert.equal(p.status, 200, p.text);
    } finally {
      await proxy.stop();
    }
  });

  test('SIGTERM with a live RTMP publish and HTTP-FLV play → readyz 503 at once while both drain; exit 0 after', async () => {
    const nms = await startNodeMediaServer();
    const proxy = await startProxy({ env: { PROXY_GRACE_QUIT_TIMEOUT: '4s', PROXY_FORCE_QUIT_TIMEOUT: '20s' } });
    const controller = new AbortController();
    try {
      await registerOrigin(proxy.systemApi, {
        ip: '127.0.0.1',
        server: 'nms',
        service: 's',
        pid: '1',
        rtmp: [String(nms.rtmpPort)],
        http: [String(nms.httpPort)],
      });
      publish(testFlv(), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/drain`);
      let received = 0;
      const reading = waitFor(
        async () => {
          const res = await fetch(`${proxy.httpServer}/live/drain.flv`, { signal: controller.signal });
          if (res.status !== 200) {
            await res.body?.cancel();
            return false;
          }
          void (async () => {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
          })().catch(() => undefined);
          return true;
        },
        { what: 'HTTP-FLV play through the proxy', timeoutMs: 30_000, everyMs: 250 },
      );
      await reading;
      // Media, not just the FLV header: the publish through the proxy's RTMP listener is live.
      await waitFor(() => received > 20_000, { what: 'FLV media through the proxy', timeoutMs: 20_000 });

      proxy.peer.child.kill('SIGTERM');
      const draining = await waitFor(
        async () => {
          const p = await probe(proxy.systemApi, '/readyz');
          return p.status === 503 ? p : undefined;
        },
        { what: 'readyz 503 after SIGTERM', timeoutMs: 3000 },
      );
      assert.deepEqual(draining.body, { code: 503, error: 'shutting down: draining existing connections', reason: 'draining' });
      assert.equal((await probe(proxy.systemApi, '/healthz')).status, 200, 'draining is alive');
      // The live play keeps receiving during the grace period: nothing was cut.
      const seen = received;
      await waitFor(() => received > seen, { what: 'FLV bytes after readyz turned 503', timeoutMs: 3000 });
      assert.equal(proxy.peer.hasExited, false, 'still draining');
      const { code } = await proxy.peer.exited;
      assert.equal(code, 0);
    } finally {
      controller.abort();
      await proxy.stop();
      await nms.stop();
    }
  });
});
