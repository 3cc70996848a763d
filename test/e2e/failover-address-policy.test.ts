// Origin addresses are checked again when a stream is routed, not only when the origin registered:
// two proxies share one Redis; the origin (a real nginx-rtmp on 127.0.0.1) registers through the first,
// whose policy allows it. The second proxy allows only 127.0.0.2/32 (PROXY_ORIGIN_ALLOW_CIDRS), so it
// must refuse to dial that origin, although the record reached it through Redis without any check of
// its own (as a record written by another proxy, or a host name whose DNS answer changed, would).
// Asserted on the client's answer, on the proxy's dial counters, and against the origin (no publish).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { redisEnv } from '../fixtures/redis-proxies.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

async function publishCode(proxy: RunningProxy, stream: string): Promise<string> {
  const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`, { timeoutMs: 10_000, ackEverySegment: true });
  try {
    return String((await client.start('publish', stream, await client.createStream())).get('code'));
  } finally {
    client.close();
  }
}

describe('an origin address refused by the policy of the proxy that routes the stream', () => {
  let redis: RedisServer;
  let open: RunningProxy;
  let strict: RunningProxy;

  before(async () => {
    redis = await startRedis();
    [open, strict] = await Promise.all([
      startProxy({ env: redisEnv(redis, { env: { PROXY_HEALTH_INTERVAL: '0' } }) }),
      startProxy({ env: redisEnv(redis, { env: { PROXY_HEALTH_INTERVAL: '0', PROXY_ORIGIN_ALLOW_CIDRS: '127.0.0.2/32' } }) }),
    ]);
    const nginx = await startNginxRtmp();
    await registerOrigin(open.systemApi, { ip: '127.0.0.1', server: 'loopback-1', service: 'svc', pid: '1', rtmp: [String(nginx.rtmpPort)] });
  });
  after(async () => {
    await Promise.all([open?.stop(), strict?.stop()]);
    await redis?.stop();
  });

  test('is not dialled: the publish is refused as unreachable and counted; the other proxy still reaches it', async () => {
    await waitFor(
      async () => {
        const r = (await (await fetch(`${strict.systemApi}/api/v1/origins`)).json()) as { origins: { server_id: string }[] };
        return r.origins.some((o) => o.server_id === 'loopback-1');
      },
      { what: 'the origin listed through Redis on the strict proxy' },
    );
    const before = (await strict.stats()).routing.dials;
    assert.equal(await publishCode(strict, 'vetted'), 'NetStream.Publish.Failed');
    const after = (await strict.stats()).routing.dials;
    assert.equal(after.refused - before.refused, 1, 'the endpoint was refused by the policy');
    assert.equal(after.ok + after.failed - before.ok - before.failed, 0, 'and never dialled');
    // The same origin through the proxy whose policy admits it: the origin itself is fine.
    assert.equal(await publishCode(open, 'vetted-open'), 'NetStream.Publish.Start');
  });
});
