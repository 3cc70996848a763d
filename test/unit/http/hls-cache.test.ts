import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENTRY_OVERHEAD_BYTES, HlsCache, cacheKey, manifestTtlMs, playlistTtlMs, type CachedAnswer } from '../../../src/http/hls-cache.js';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function answer(body: string, at: number, ttlMs = 10_000, status = 200): CachedAnswer {
  return { status, headers: [], body: Buffer.from(body), storedAt: at, ttlMs };
}

/** A fill whose origin fetch the test finishes by hand; counts how often it ran. */
function deferredFill() {
  const f = {
    calls: 0,
    resolve: (_a: CachedAnswer | undefined) => undefined as void,
    reject: (_e: Error) => undefined as void,
    run: () => {
      f.calls++;
      return new Promise<CachedAnswer | undefined>((resolve, reject) => {
        f.resolve = resolve;
        f.reject = reject;
      });
    },
  };
  return f;
}

test('concurrent requests for one key share one origin fetch; later ones are hits until the ttl ends', async () => {
  const c = clock();
  const cache = new HlsCache({ maxBytes: 1 << 20, now: c.now });
  const fill = deferredFill();
  const waiting = Array.from({ length: 50 }, () => cache.get('k', fill.run));
  assert.equal(cache.stats().waiting, 49);
  fill.resolve(answer('segment', c.t, 4_000));
  const got = await Promise.all(waiting);
  assert.equal(fill.calls, 1);
  assert.deepEqual(
    got.map((g) => g?.source),
    ['miss', ...Array<string>(49).fill('coalesced')],
  );
  assert.ok(got.every((g) => g?.answer.body.toString() === 'segment'));
  c.t += 3_999;
  assert.equal((await cache.get('k', fill.run))?.source, 'hit');
  c.t += 1;
  const again = cache.get('k', fill.run);
  fill.resolve(answer('segment 2', c.t, 4_000));
  assert.equal((await again)?.source, 'miss');
  assert.equal(fill.calls, 2);
  assert.deepEqual({ hits: cache.stats().hits, coalesced: cache.stats().coalesced, misses: cache.stats().misses }, { hits: 1, coalesced: 49, misses: 2 });
});

test('a fetch that fails or serves its own client is not shared: each waiter fetches its own, nothing is kept', async () => {
  const cache = new HlsCache({ maxBytes: 1 << 20 });
  const leader = deferredFill();
  const first = cache.get('k', leader.run);
  let own = 0;
  const waiters = Array.from({ length: 3 }, () =>
    cache.get('k', async () => {
      own++;
      return undefined;
    }),
  );
  leader.reject(new Error('origin reset'));
  await assert.rejects(first, /origin reset/);
  assert.deepEqual(await Promise.all(waiters), [undefined, undefined, undefined]);
  assert.equal(own, 3);
  assert.equal(cache.stats().entries, 0);
  assert.equal(cache.stats().bytes, 0);
});

test('only 200 answers with a ttl are kept; a ttl of 0 is shared with waiters only', async () => {
  const cache = new HlsCache({ maxBytes: 1 << 20 });
  const notFound = deferredFill();
  const a = cache.get('404', notFound.run);
  const b = cache.get('404', notFound.run);
  notFound.resolve(answer('no', Date.now(), 10_000, 404));
  assert.equal((await a)?.answer.status, 404);
  assert.equal((await b)?.source, 'coalesced');
  await cache.get('master', async () => answer('#EXTM3U', Date.now(), 0));
  assert.equal(cache.stats().entries, 0);
});

test('bytes stay within the budget: least recently used answers go first, an oversized answer is never kept', async () => {
  const c = clock();
  const body = 'x'.repeat(1000 - ENTRY_OVERHEAD_BYTES - 2); // each entry costs 1000 bytes with its key
  const cache = new HlsCache({ maxBytes: 3000, now: c.now });
  for (const k of ['s1', 's2', 's3']) await cache.get(k, async () => answer(body, c.t));
  assert.equal(cache.stats().bytes, 3000);
  await cache.get('s1', async () => assert.fail('s1 is cached')); // s1 is now the most recently used
  await cache.get('s4', async () => answer(body, c.t));
  assert.equal(cache.stats().entries, 3);
  assert.ok(cache.stats().bytes <= 3000);
  let refetched = 0;
  await cache.get('s2', async () => {
    refetched++;
    return answer(body, c.t);
  });
  assert.equal(refetched, 1, 's2 was the least recently used and was evicted');
  await cache.get('big', async () => answer('y'.repeat(cache.maxAnswerBytes + 1), c.t));
  assert.equal(cache.stats().entries, 3);
  assert.ok(cache.stats().evictions >= 2);
});

test('count bound: many tiny answers (an attack of distinct URLs) never exceed maxEntries', async () => {
  const cache = new HlsCache({ maxBytes: 1 << 30, maxEntries: 100 });
  for (let i = 0; i < 10_000; i++) await cache.get(`k${i}`, async () => answer('', Date.now()));
  assert.equal(cache.stats().entries, 100);
  // The survivors are the last 100 keys (k9900…k9999), five characters each.
  assert.equal(cache.stats().bytes, 100 * (ENTRY_OVERHEAD_BYTES + 5));
  assert.equal(cache.stats().evictions, 9_900);
});

test('shared fetches are bounded in count: past maxFilling a request fetches alone and leaves no map entry', async () => {
  const cache = new HlsCache({ maxBytes: 1 << 20, maxFilling: 2 });
  const fills = Array.from({ length: 3 }, () => deferredFill());
  const first = [cache.get('a', fills[0]!.run), cache.get('b', fills[1]!.run), cache.get('c', fills[2]!.run)];
  assert.equal(cache.stats().fetches, 2, 'the third distinct key is not registered for sharing');
  // A second request for the unshared key starts its own fetch instead of waiting.
  const again = deferredFill();
  const second = cache.get('c', again.run);
  assert.equal(again.calls, 1);
  assert.equal(cache.stats().waiting, 0);
  // One for a shared key still waits for the fetch under way.
  const waiter = cache.get('a', deferredFill().run);
  assert.equal(cache.stats().waiting, 1);
  for (const f of [...fills, again]) f.resolve(answer('x', Date.now()));
  await Promise.all([...first, second, waiter]);
  assert.deepEqual([cache.stats().fetches, cache.stats().waiting, cache.stats().entries], [0, 0, 3]);
});

test('reservations bound the bodies being read: past the budget the caller must stream instead', () => {
  const cache = new HlsCache({ maxBytes: 4000 });
  assert.equal(cache.maxAnswerBytes, 1000);
  assert.equal(cache.reserve(1001), false, 'larger than one answer may be');
  assert.ok([1, 2, 3, 4].every(() => cache.reserve(1000)));
  assert.equal(cache.reserve(1), false, 'budget held by bodies being read');
  cache.release(1000);
  assert.equal(cache.reserve(1000), true);
  assert.equal(cache.stats().filling, 4000);
});

test('Age and max-age follow the answer', async () => {
  const c = clock();
  const cache = new HlsCache({ maxBytes: 1 << 20, now: c.now });
  const a = answer('s', c.t, 30_000);
  c.t += 12_500;
  assert.equal(cache.ageSeconds(a), 12);
  assert.equal(cache.remainingSeconds(a), 17);
});

test('playlist ttl: half the target duration; master playlists 0', () => {
  assert.equal(playlistTtlMs('#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\na.ts\n'), 2000);
  assert.equal(playlistTtlMs('#EXTM3U\r\n#EXT-X-TARGETDURATION:10\r\n'), 5000);
  assert.equal(playlistTtlMs('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n'), 0);
  assert.equal(playlistTtlMs('#EXTM3U\n#EXT-X-TARGETDURATION:abc\n'), 0);
});

test('manifest ttl: half minimumUpdatePeriod; static manifests 0', () => {
  assert.equal(manifestTtlMs('<MPD type="dynamic" minimumUpdatePeriod="PT2S">'), 1000);
  assert.equal(manifestTtlMs('<MPD minimumUpdatePeriod="PT1M30.5S">'), 45_250);
  assert.equal(manifestTtlMs('<MPD type="static">'), 0);
  assert.equal(manifestTtlMs('<MPD minimumUpdatePeriod="PT">'), 0);
});

test('cache key: the session parameter is left out, every other parameter (tokens, LL-HLS reload position) kept', () => {
  const key = (q: string) => cacheKey('__defaultVhost__/live/s', '/live/s.m3u8', new URLSearchParams(q), 'spbhid');
  assert.equal(key('spbhid=abcdef0'), key(''));
  assert.equal(key('spbhid=abcdef0&token=1'), key('token=1&spbhid=1234567'));
  assert.notEqual(key('token=1'), key('token=2'));
  assert.notEqual(key('_HLS_msn=5&_HLS_part=1'), key('_HLS_msn=5&_HLS_part=2'));
  assert.notEqual(
    cacheKey('v1/live/s', '/live/s.m3u8', new URLSearchParams(), 'spbhid'),
    cacheKey('v2/live/s', '/live/s.m3u8', new URLSearchParams(), 'spbhid'),
  );
});
