// Metrics of the Redis balancer against a real redis-server: command latency and errors timed in the
// client, the connection gauge, and record counts refreshed by SCAN at most every few seconds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { proxyMetrics, type ProxyMetrics } from '../../src/metrics/index.js';
import type { RedisBalancer } from '../../src/balancer/redis.js';
import { Router } from '../../src/routing/router.js';
import { waitFor } from '../fixtures/wait.js';
import { stopAllPeers } from '../fixtures/process.js';
import { parsePromText, samplesOf, valueOf } from '../fixtures/prom-text.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { adminClient, configFor, PASSWORD, redisBalancer, silentLog } from './redis-harness.js';

let redis: RedisServer;

before(async () => {
  redis = await startRedis({ password: PASSWORD });
  const admin = adminClient(redis);
  await admin.flushdb();
  admin.disconnect();
});
after(stopAllPeers);

function metricsOf(b: RedisBalancer): ProxyMetrics {
  return proxyMetrics({
    balancer: b,
    router: new Router({ balancer: b, log: silentLog, originExpireMs: 30_000 }),
    health: { state: () => 'up' },
    services: () => [],
    processMetrics: false,
  });
}

const page = async (m: ProxyMetrics) => parsePromText((await m.scrape()).text);
const commandCount = (p: ReturnType<typeof parsePromText>, command: string) =>
  samplesOf(p, 'origin_proxy_redis_command_seconds_count', { command }).reduce((n, s) => n + s.value, 0);

describe('Redis metrics', () => {
  test('commands are timed by name as a histogram; failed commands counted; the connection gauge follows the link', async () => {
    const { b, origin } = await redisBalancer(configFor(redis));
    const metrics = metricsOf(b);
    await b.register(origin('o1'));
    await b.pick('live/a');
    let p = await page(metrics);
    assert.equal(p.types.get('origin_proxy_redis_command_seconds'), 'histogram');
    assert.ok(commandCount(p, 'evalsha') >= 2, 'register and pick run scripts');
    const inf = valueOf(p, 'origin_proxy_redis_command_seconds_bucket', { command: 'evalsha', le: '+Inf' });
    assert.equal(inf, commandCount(p, 'evalsha'));
    assert.equal(valueOf(p, 'origin_proxy_redis_up'), 1);

    const admin = adminClient(redis);
    await admin.set('metrics-test-string', 'x');
    admin.disconnect();
    await assert.rejects(b.client.hget('metrics-test-string', 'f'));
    p = await page(metrics);
    assert.equal(valueOf(p, 'origin_proxy_redis_command_errors_total', { command: 'hget' }), 1);
    await b.close();
    await waitFor(async () => valueOf(await page(metrics), 'origin_proxy_redis_up') === 0 || undefined, { what: 'redis_up 0 once the link is closed' });
  });

  test('command labels stay bounded however many distinct names are sent (attack: 100 unknown commands)', async () => {
    const { b } = await redisBalancer(configFor(redis));
    const metrics = metricsOf(b);
    for (let i = 0; i < 100; i++) await b.client.call(`nosuchcmd${i}`).catch(() => undefined);
    await b.client.call('live/<stream name>').catch(() => undefined);
    const p = await page(metrics);
    const commands = new Set(samplesOf(p, 'origin_proxy_redis_command_errors_total').map((s) => s.labels.command));
    assert.ok(commands.size <= 49, `${commands.size} command labels`);
    assert.ok(commands.has('other'));
    assert.ok(!(await metrics.scrape()).text.includes('stream name'));
    await b.close();
  });

  test('pins, HLS and WebRTC session records are counted by SCAN at most every few seconds, never per scrape', async () => {
    const admin = adminClient(redis);
    await admin.flushdb();
    admin.disconnect();
    const { b, origin, clock } = await redisBalancer(configFor(redis), { sessionTtlMs: 60_000 });
    const metrics = metricsOf(b);
    await b.register(origin('o1'));
    for (const s of ['a', 'b', 'c']) await b.pick(`live/${s}`);
    await b.putRtcSession({ ufrag: 'u1', streamKey: 'live/a' });
    await b.putRtcSession({ ufrag: 'u2', streamKey: 'live/b' });
    await b.hlsSession('live/a', 'http://x/live/a.m3u8');

    const first = await waitFor(
      async () => {
        const p = await page(metrics);
        return samplesOf(p, 'origin_proxy_stream_pins').length === 1 ? p : undefined;
      },
      { timeoutMs: 5000, what: 'a first record count' },
    );
    assert.equal(valueOf(first, 'origin_proxy_stream_pins'), 3);
    assert.equal(valueOf(first, 'origin_proxy_webrtc_sessions'), 2);
    assert.equal(valueOf(first, 'origin_proxy_hls_sessions'), 1);

    await b.pick('live/d');
    const scans = commandCount(await page(metrics), 'scan');
    for (let i = 0; i < 5; i++) assert.equal(valueOf(await page(metrics), 'origin_proxy_stream_pins'), 3, 'the cached count');
    assert.equal(commandCount(await page(metrics), 'scan'), scans, 'no SCAN while the count is fresh');

    clock.t += 5000;
    await waitFor(async () => valueOf(await page(metrics), 'origin_proxy_stream_pins') === 4 || undefined, { timeoutMs: 5000, what: 'a refreshed count' });
    await b.close();
  });
});
