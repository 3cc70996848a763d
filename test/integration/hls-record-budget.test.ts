// HLS session records are bounded in total bytes, in memory and in Redis: a flood of playlists for new
// streams (long names, long URLs, many names) stops at the byte budget with a refusal (HTTP 503 JSON),
// the records that exist (players' sessions) are never evicted for it, and once records idle out new
// ones are admitted again.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HlsBudgetError, MAX_HLS_URL } from '../../src/balancer/hls-record.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { RedisBalancer } from '../../src/balancer/redis.js';
import { HLS_KEY_PREFIX, SPBHID_KEY_PREFIX } from '../../src/balancer/redis-records.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { stopAllPeers } from '../fixtures/process.js';
import { httpOriginBody, registerOrigin } from '../fixtures/proxy.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { adminClient, configFor, PASSWORD, silentLog } from './redis-harness.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

const BUDGET = 16 * 1024;
const longKey = (i: number) => `__defaultVhost__/live/${'k'.repeat(400)}${i}`;
const longUrl = `http://${'h'.repeat(16 * 1024)}/live/x.m3u8`;

let redis: RedisServer;
before(async () => {
  redis = await startRedis({ password: PASSWORD });
});
after(stopAllPeers);

/** Creates records until the budget refuses one; returns the streams that got a record. */
async function fillUntilRefused(create: (i: number) => Promise<unknown>, max = 1000): Promise<number> {
  for (let i = 0; i < max; i++) {
    try {
      await create(i);
    } catch (err) {
      assert.ok(err instanceof HlsBudgetError, `refused with ${String(err)}`);
      return i;
    }
  }
  assert.fail(`no refusal after ${max} records`);
}

describe('memory balancer: HLS records at the byte budget', () => {
  test('long stream names and long URLs: refused past the budget, the first record kept, admitted again after the TTL', async () => {
    const clock = { t: 0 };
    const b = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 10, maxHlsSessionBytes: BUDGET, now: () => clock.t });
    const first = await b.hlsSession(longKey(0), longUrl);
    assert.ok(first.fullUrl.length <= MAX_HLS_URL);
    const made = await fillUntilRefused((i) => b.hlsSession(longKey(i + 1), longUrl));
    assert.ok(made > 3 && made < 40, `${made} records in ${BUDGET} bytes`);
    // Variant: short names, many of them: only the room left is used, then they are refused too.
    const more = await fillUntilRefused((i) => b.hlsSession(`__defaultVhost__/live/s${i}`, '/s.m3u8'));
    assert.ok(more < 10, `${more} short records after the budget was reached`);
    // Nothing was evicted: the first (oldest) record still answers with its id, and is the same.
    assert.equal((await b.hlsSessionById(first.spbhid))?.streamKey, longKey(0));
    assert.equal((await b.hlsSession(longKey(0), 'other')).spbhid, first.spbhid);
    // Records that idle out make room.
    clock.t += 60_001;
    assert.ok((await b.hlsSession('__defaultVhost__/live/after', '/a.m3u8')).spbhid);
  });
});

describe('Redis balancer: HLS records at the byte budget (real redis-server)', () => {
  async function balancer(clock: { t: number }) {
    const admin = adminClient(redis);
    await admin.flushdb();
    const b = new RedisBalancer({
      redis: configFor(redis),
      originExpireMs: 30_000,
      sessionTtlMs: 60_000,
      maxStreamPins: 1000,
      log: silentLog,
      now: () => clock.t,
      maxHlsSessionBytes: BUDGET,
    });
    await b.start();
    /** Bytes the HLS keys and values take in Redis (names plus values). */
    const stored = async () => {
      let bytes = 0;
      for (const prefix of [HLS_KEY_PREFIX, SPBHID_KEY_PREFIX]) {
        for (const key of await admin.keys(`${prefix}*`)) bytes += Buffer.byteLength(key) + (await admin.strlen(key));
      }
      return bytes;
    };
    return { b, admin, stored, close: async () => (await b.close(), await admin.quit()) };
  }

  test('variant 1, long stream names: refused past the budget; Redis holds at most the budget; no record is evicted', async () => {
    const clock = { t: 1_000_000 };
    const h = await balancer(clock);
    try {
      const first = await h.b.hlsSession(longKey(0), longUrl);
      const made = await fillUntilRefused((i) => h.b.hlsSession(longKey(i + 1), longUrl));
      assert.ok(made > 3 && made < 40, `${made} records`);
      const bytes = await h.stored();
      assert.ok(bytes <= BUDGET, `${bytes} bytes of HLS records in Redis`);
      assert.equal((await h.b.hlsSessionById(first.spbhid))?.streamKey, longKey(0), 'the oldest record is still there');
      assert.equal((await h.b.hlsSession(longKey(0), 'x')).spbhid, first.spbhid);
      assert.equal(await h.admin.exists(`${HLS_KEY_PREFIX}${longKey(made + 1)}`), 0, 'the refused stream got no key');
    } finally {
      await h.close();
    }
  });

  test('variant 2, many short names: the same cap; records idle out of the budget and new ones are admitted', async () => {
    const clock = { t: 1_000_000 };
    const h = await balancer(clock);
    try {
      const made = await fillUntilRefused((i) => h.b.hlsSession(`__defaultVhost__/live/s${i}`, longUrl));
      assert.ok(made > 10, `${made} records`);
      assert.ok((await h.stored()) <= BUDGET);
      clock.t += 60_001;
      assert.ok((await h.b.hlsSession('__defaultVhost__/live/after', '/a.m3u8')).spbhid);
    } finally {
      await h.close();
    }
  });
});

describe('HTTP: a playlist for a new stream at the budget', () => {
  let origin: Server;
  let proxy: OriginProxy;
  let http: string;
  let b: RedisBalancer;
  before(async () => {
    origin = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
      res.end('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg-1.ts\n');
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const admin = adminClient(redis);
    await admin.flushdb();
    await admin.quit();
    b = new RedisBalancer({
      redis: configFor(redis),
      originExpireMs: 30_000,
      sessionTtlMs: 60_000,
      maxStreamPins: 1000,
      log: silentLog,
      maxHlsSessionBytes: 4 * 1024,
    });
    const env = {
      ...LOOPBACK_EPHEMERAL_LISTENERS,
      PROXY_HEALTH_INTERVAL: '0',
    };
    const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
    proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }), balancer: b });
    await proxy.start();
    http = `http://127.0.0.1:${proxy.address('httpServer').port}`;
    await registerOrigin(`http://127.0.0.1:${proxy.address('systemApi').port}`, httpOriginBody('hls', (origin.address() as AddressInfo).port));
  });
  after(async () => {
    await proxy?.stop(0);
    origin?.close();
  });

  test('new streams get 503 JSON naming the limit; a stream with a session keeps its playlist and segments', async () => {
    const live = await fetch(`${http}/live/playing.m3u8`);
    assert.equal(live.status, 200);
    const spbhid = /spbhid=([0-9a-f]{7})/.exec(await live.text())?.[1];
    assert.ok(spbhid);
    let refused: Response | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await fetch(`${http}/live/${'n'.repeat(200)}${i}.m3u8`);
      if (res.status === 503) refused = res;
      else await res.arrayBuffer();
    }
    assert.ok(refused, 'the flood was refused');
    const body = (await refused.json()) as { code: number; error: string };
    assert.equal(body.code, 503);
    assert.match(body.error, /HLS session limit/);
    // The playing stream is untouched: its playlist keeps its id.
    const again = await fetch(`${http}/live/playing.m3u8`);
    assert.equal(again.status, 200);
    assert.match(await again.text(), new RegExp(`spbhid=${spbhid}`));
  });
});
