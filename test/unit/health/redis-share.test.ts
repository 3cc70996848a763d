// The Redis health share against a real redis-server: keys, TTLs, what a reader trusts, and what a
// vanished proxy leaves behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DRAIN_KEY_PREFIX, HEALTH_KEY_PREFIX, LOAD_KEY_PREFIX, RedisHealthShare, RELAYS_FRESH_MS, RELAYS_KEY_PREFIX } from '../../../src/health/redis-share.js';
import { startRedis, type RedisServer } from '../../fixtures/redis.js';
import { stopAllPeers } from '../../fixtures/process.js';

after(stopAllPeers);

describe('Redis health share', () => {
  let redis: RedisServer;
  let client: Redis;
  let t = 1_700_000_000_000;
  const share = (proxyId: string) => new RedisHealthShare({ client, verdictTtlMs: 3000, loadTtlMs: 30_000, now: () => t, proxyId });
  before(async () => {
    redis = await startRedis();
    client = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 1 });
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  test('a down verdict is a key with a TTL, read back by any proxy; withdrawn only for the same record', async () => {
    const a = share('a');
    const b = share('b');
    await a.publishDown('s1', { originId: 's1-x-1', reason: 'probe: refused', since: t });
    const pttl = await client.pttl(HEALTH_KEY_PREFIX + 's1');
    assert.ok(pttl > 0 && pttl <= 3000);
    const snap = await b.read(['s1', 's2']);
    assert.deepEqual(snap.down.get('s1'), { originId: 's1-x-1', reason: 'probe: refused', since: t });
    assert.equal(snap.down.has('s2'), false);
    await b.publishUp('s1', 's1-x-2'); // another record (a restart): not ours to withdraw
    assert.ok(await client.exists(HEALTH_KEY_PREFIX + 's1'));
    await b.publishUp('s1', 's1-x-1');
    assert.equal(await client.exists(HEALTH_KEY_PREFIX + 's1'), 0);
  });

  test('drain marks and load reports round-trip; garbage in our keys is ignored, never trusted', async () => {
    const a = share('a');
    await a.setDrain('s3', t);
    await a.publishLoad('s3', { originId: 's3-x-1', load: { cpu: 0.5, connections: 9 }, weight: 2 });
    let snap = await a.read(['s3']);
    assert.equal(snap.drained.get('s3'), t);
    assert.deepEqual(snap.loads.get('s3'), { originId: 's3-x-1', load: { cpu: 0.5, connections: 9 }, weight: 2 });
    await a.setDrain('s3', undefined);
    assert.equal((await a.read(['s3'])).drained.has('s3'), false);

    await client.set(HEALTH_KEY_PREFIX + 'g', '{"origin":5}');
    await client.set(DRAIN_KEY_PREFIX + 'g', 'not json');
    await client.set(LOAD_KEY_PREFIX + 'g', JSON.stringify({ origin: 'g-x-1', load: { cpu: 1e9, connections: -5 }, weight: 1e9 }));
    await client.set(LOAD_KEY_PREFIX + 'h', 'x'.repeat(100_000));
    await client.hset(RELAYS_KEY_PREFIX + 'g', 'p', 'lots');
    snap = await a.read(['g', 'h']);
    assert.equal(snap.down.size, 0);
    assert.equal(snap.drained.size, 0);
    assert.deepEqual(snap.loads.get('g'), { originId: 'g-x-1', load: { cpu: 1 } }, 'clamped CPU, negative count and absurd weight dropped');
    assert.equal(snap.loads.has('h'), false, 'an oversized value is ignored');
    assert.equal(snap.relays.has('g'), false);
    assert.equal(await client.hexists(RELAYS_KEY_PREFIX + 'g', 'p'), 0, 'a malformed field is removed');
  });

  test('relay counts: summed over proxies; a drop to zero is reported; a vanished proxy is ignored and removed', async () => {
    const a = share('a');
    const b = share('b');
    await a.publishRelays(new Map([['s4', 3]]));
    await b.publishRelays(
      new Map([
        ['s4', 2],
        ['s5', 1],
      ]),
    );
    assert.equal((await a.read(['s4', 's5'])).relays.get('s4'), 5);
    assert.ok((await client.pttl(RELAYS_KEY_PREFIX + 's4')) > 0, 'the hash expires if every proxy stops');
    await a.publishRelays(new Map());
    assert.equal((await b.read(['s4'])).relays.get('s4'), 2, 'a dropped to zero');
    t += RELAYS_FRESH_MS + 1; // b stops refreshing (it crashed)
    const snap = await a.read(['s4', 's5']);
    assert.equal(snap.relays.has('s4'), false);
    assert.equal(snap.relays.has('s5'), false);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await client.hlen(RELAYS_KEY_PREFIX + 's4'), 0, 'stale fields are removed by readers');
  });

  test("close removes this proxy's relay fields at once", async () => {
    const a = share('c');
    await a.publishRelays(new Map([['s6', 4]]));
    assert.equal((await client.hget(RELAYS_KEY_PREFIX + 's6', 'c')) !== null, true);
    await a.close();
    assert.equal(await client.hget(RELAYS_KEY_PREFIX + 's6', 'c'), null);
  });
});
