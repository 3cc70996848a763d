// Worker 0 answering for every worker (docs/BEHAVIOUR.md §8.5): the sums of the workers' stats,
// streams and metrics, the paging of their client lists, the gather round trip through the primary
// (bounded: a silent worker is reported missing after the timeout, an exited one at once), and the
// state the primary keeps for the workers (shared origin health, live streams).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import type { ClientJson } from '../../src/api/proxy-view.js';
import { clientWindows, mergeMetrics, mergeStats, mergeStreams } from '../../src/cluster/aggregate.js';
import { registerOriginClientMetrics } from '../../src/metrics/origin-client-metrics.js';
import { clusterView } from '../../src/cluster/cluster-view.js';
import { parseQuery, type Query, type WorkerAnswer } from '../../src/cluster/gather-protocol.js';
import { GatherRelay } from '../../src/cluster/gather-relay.js';
import { answerQueries, Gatherer } from '../../src/cluster/gatherer.js';
import { HealthStore } from '../../src/cluster/health-store.js';
import type { Channel } from '../../src/cluster/ipc-protocol.js';
import { LiveStreams } from '../../src/cluster/live-streams.js';
import { snapshotMetric } from '../../src/metrics/snapshot-metric.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration } from '../../src/balancer/origin.js';
import { createLogger } from '../../src/log.js';
import { HttpError } from '../../src/net/http-util.js';

const silent = createLogger({ level: 'silent', format: 'json' });

describe('sums of the workers’ answers', () => {
  test('stats: numbers and buckets summed, the largest backlog is the largest, text kept', () => {
    const w0 = {
      protocols: { rtmp: { active: { play: 2 }, refused: { limit: 1 }, setup: { counts: [1, 0, 2], sum: 0.5, count: 3 } } },
      detail: { rtmp: { connections: 3, largestClientBacklog: 100 }, webrtc: { sessions: 4 } },
      routing: { dials: { ok: 1, failed: 0 } },
      mode: 'x',
    };
    const w1 = {
      protocols: { rtmp: { active: { play: 5 }, refused: { overloaded: 2 }, setup: { counts: [0, 1, 1], sum: 1, count: 2 } } },
      detail: { rtmp: { connections: 6, largestClientBacklog: 40 } },
      routing: { dials: { ok: 2, failed: 3 } },
      mode: 'y',
    };
    assert.deepEqual(mergeStats([w0, w1]), {
      protocols: { rtmp: { active: { play: 7 }, refused: { limit: 1, overloaded: 2 }, setup: { counts: [1, 1, 3], sum: 1.5, count: 5 } } },
      detail: { rtmp: { connections: 9, largestClientBacklog: 100 }, webrtc: { sessions: 4 } },
      routing: { dials: { ok: 3, failed: 3 } },
      mode: 'x',
    });
    // The inputs are not changed.
    assert.equal(w0.protocols.rtmp.active.play, 2);
  });

  test('stats: edge skips per stream summed, then the 100 largest kept', () => {
    const skips = (from: number) => Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`s${from + i}`, from + i]));
    const merged = mergeStats([{ detail: { edge: { skipsByStream: skips(0) } } }, { detail: { edge: { skipsByStream: skips(40) } } }]) as {
      detail: { edge: { skipsByStream: Record<string, number> } };
    };
    const kept = merged.detail.edge.skipsByStream;
    assert.equal(Object.keys(kept).length, 100);
    assert.equal(kept.s60, 120); // on both workers
    assert.equal(kept.s119, 119);
    assert.equal(kept.s0, undefined);
  });

  test('streams: tallies summed per stream; the oldest publisher wins', () => {
    const pub = (since: string) => ({ protocol: 'rtmp' as const, client: `127.0.0.1:${since.length}`, since, bitrate_kbps: 1 });
    const { tallies, publishers } = mergeStreams([
      {
        tallies: [['k', { publishers: 1, players: { rtmp: 2 }, bytes: { in: 10, out: 20 } }]],
        publishers: [['k', pub('2026-01-01T00:00:02.000Z')]],
      },
      {
        tallies: [
          ['k', { publishers: 1, players: { rtmp: 1, flv: 4 }, bytes: { in: 1, out: 2 } }],
          ['j', { publishers: 0, players: { hls: 1 }, bytes: { in: 0, out: 0 } }],
        ],
        publishers: [['k', pub('2026-01-01T00:00:01.000Z')]],
      },
    ]);
    assert.deepEqual(tallies.get('k'), { publishers: 2, players: { rtmp: 3, flv: 4 }, bytes: { in: 11, out: 22 } });
    assert.deepEqual(tallies.get('j')?.players, { hls: 1 });
    assert.equal(publishers.get('k')?.since, '2026-01-01T00:00:01.000Z');
  });

  test('client pages: the workers’ lists end to end in slot order', () => {
    const totals = [
      { w: 1, total: 4 },
      { w: 0, total: 3 },
    ];
    assert.deepEqual(clientWindows(totals, 0, 2), [{ w: 0, offset: 0, limit: 2 }]);
    assert.deepEqual(clientWindows(totals, 2, 3), [
      { w: 0, offset: 2, limit: 1 },
      { w: 1, offset: 0, limit: 2 },
    ]);
    assert.deepEqual(clientWindows(totals, 5, 100), [{ w: 1, offset: 2, limit: 2 }]);
    assert.deepEqual(clientWindows(totals, 7, 10), []);
    assert.deepEqual(
      clientWindows(
        [
          { w: 0, total: 0 },
          { w: 1, total: 2 },
        ],
        0,
        5,
      ),
      [{ w: 1, offset: 0, limit: 2 }],
    );
  });

  test("stats: the origin client's state (detail.http.originClient) is summed over the workers", () => {
    const merged = mergeStats([
      { detail: { http: { originClient: { open: 256, idle: 0, waiting: 200 } } } },
      { detail: { http: { originClient: { open: 3, idle: 2, waiting: 0 } } } },
      { detail: { http: { originClient: { open: 1, idle: 1, waiting: 1 } } } },
    ]) as { detail: { http: { originClient: unknown } } };
    assert.deepEqual(merged.detail.http.originClient, { open: 260, idle: 3, waiting: 201 });
  });

  test('metrics: the origin client gauges are summed over the workers, their labels unchanged', async () => {
    const worker = async (open: number, idle: number, waiting: number) => {
      const registry = new Registry();
      registerOriginClientMetrics(registry, { stats: () => ({ open, idle, waiting }) });
      return JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as { name: string }[];
    };
    const { text } = await mergeMetrics([await worker(256, 0, 200), await worker(3, 2, 1)]);
    assert.match(text, /^origin_proxy_origin_connections\{state="busy"\} 257$/m);
    assert.match(text, /^origin_proxy_origin_connections\{state="idle"\} 2$/m);
    assert.match(text, /^origin_proxy_origin_requests_waiting 201$/m);
  });

  test('metrics: counters summed, unlabelled samples too, shared-state gauges taken once', async () => {
    const worker = async (clients: number, pins: number) => {
      const registry = new Registry();
      const c = new Counter({ name: 'origin_proxy_register_calls_total', help: 'h', labelNames: ['result'], registers: [registry] });
      c.inc({ result: 'ok' }, clients);
      snapshotMetric(registry, { name: 'origin_proxy_hls_cache_entries', help: 'h', type: 'gauge', read: () => [{ value: clients }] });
      snapshotMetric(registry, { name: 'origin_proxy_stream_pins', help: 'h', type: 'gauge', read: () => [{ value: pins }] });
      return JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as { name: string }[];
    };
    const { text } = await mergeMetrics([await worker(2, 7), await worker(3, 7)]);
    assert.match(text, /^origin_proxy_register_calls_total\{result="ok"\} 5$/m);
    assert.match(text, /^origin_proxy_hls_cache_entries 5$/m);
    assert.match(text, /^origin_proxy_stream_pins 7$/m);
  });
});

describe('queries on the wire', () => {
  test('only the known kinds, with bounded fields', () => {
    assert.deepEqual(parseQuery({ k: 'clients', offset: 0, limit: 5, stream: 'a/b/c' }), { k: 'clients', offset: 0, limit: 5, stream: 'a/b/c' });
    assert.deepEqual(parseQuery({ k: 'streams' }), { k: 'streams' });
    for (const bad of [
      null,
      'stats',
      { k: 'nope' },
      { k: 'clients', offset: -1, limit: 5 },
      { k: 'clients', offset: 0, limit: 1.5 },
      { k: 'kick', id: 7 },
      { k: 'kick', id: 'x'.repeat(2000) },
      { k: 'streams', keys: 'a' },
      { k: 'streams', keys: Array.from({ length: 2000 }, () => 'k') },
      { k: 'count', stream: 5 },
      { k: 'forget' },
    ])
      assert.equal(parseQuery(bad), undefined, JSON.stringify(bad)?.slice(0, 80));
  });
});

/** A primary with workers on fake channels (each message copied through JSON on a later turn, as IPC does). */
function cluster(answers: ((q: Query) => Promise<unknown>)[], opts: { answerTimeoutMs?: number; silent?: number[] } = {}) {
  const toPrimary: ((from: number, m: unknown) => void)[] = [];
  const workerListeners = answers.map(() => new Set<(m: unknown) => void>());
  const later = (fn: () => void) => setImmediate(fn);
  const copy = (m: unknown) => JSON.parse(JSON.stringify(m)) as unknown;
  const channelOf = (slot: number): Channel => ({
    send: (m) => later(() => toPrimary.forEach((l) => l(slot, copy(m)))),
    onMessage: (l) => (workerListeners[slot]!.add(l), () => workerListeners[slot]!.delete(l)),
  });
  const started = new Set(answers.map((_, i) => i));
  const relay = new GatherRelay({
    started: () => [...started].sort(),
    send: (slot, m) => {
      if (!started.has(slot)) return false;
      later(() => workerListeners[slot]!.forEach((l) => l(copy(m))));
      return true;
    },
    log: silent,
    ...(opts.answerTimeoutMs ? { answerTimeoutMs: opts.answerTimeoutMs } : {}),
  });
  toPrimary.push((from, m) => relay.handle(from, m));
  answers.forEach((a, slot) => {
    if (!opts.silent?.includes(slot)) answerQueries(channelOf(slot), a, silent);
  });
  const gatherer = new Gatherer(channelOf(0));
  return { gatherer, relay, started, view: clusterView(gatherer) };
}

const client = (id: string, since = '2026-01-01T00:00:00.000Z'): ClientJson => ({
  id,
  protocol: 'rtmp',
  role: 'play',
  stream: 'k',
  origin: 'o',
  server: 's',
  client: '127.0.0.1:1',
  since,
  bytes: { in: 0, out: 0 },
});

/** A worker whose clients are `ids`, answering as answerer() does; `kicked` records its kicks. */
function fakeWorker(ids: string[], kicked: string[] = []): (q: Query) => Promise<unknown> {
  return async (q) => {
    switch (q.k) {
      case 'count':
        return ids.length;
      case 'clients':
        return ids.slice(q.offset, q.offset + q.limit).map((id) => client(id));
      case 'kick':
        if (!ids.includes(q.id)) return null;
        kicked.push(q.id);
        ids.splice(ids.indexOf(q.id), 1);
        return client(q.id);
      case 'client':
        return ids.includes(q.id) ? client(q.id) : null;
      case 'stats':
        return { pid: 1, clients: ids.length, stats: { protocols: { rtmp: { active: { play: ids.length } } } } };
      default:
        return null;
    }
  };
}

describe('gathers through the primary', () => {
  test('clients of every worker, paged end to end; a kick goes to the worker its id names', async () => {
    const kicked1: string[] = [];
    const { view, gatherer } = cluster([fakeWorker(['w0-a', 'w0-b']), fakeWorker(['w1-c', 'w1-d', 'w1-e'], kicked1)]);
    const all = await view.clients({ offset: 0, limit: 100 });
    assert.equal(all.total, 5);
    assert.deepEqual(
      all.items.map((c) => c.id),
      ['w0-a', 'w0-b', 'w1-c', 'w1-d', 'w1-e'],
    );
    assert.deepEqual(all.workers, { count: 2, missing: [] });
    const page = await view.clients({ offset: 1, limit: 2 });
    assert.deepEqual(
      page.items.map((c) => c.id),
      ['w0-b', 'w1-c'],
    );
    assert.equal((await view.kick('w1-d'))?.id, 'w1-d');
    assert.deepEqual(kicked1, ['w1-d']);
    assert.equal(await view.kick('w1-d'), undefined);
    assert.equal(await view.kick('w0-d'), undefined);
    assert.equal(await view.kick('no-prefix'), undefined);
    assert.equal((await view.client('w0-a'))?.id, 'w0-a');
    const stats = (await view.stats()) as { protocols: { rtmp: { active: { play: number } } }; workers: { each: unknown[] } };
    assert.equal(stats.protocols.rtmp.active.play, 4);
    assert.equal(stats.workers.each.length, 2);
    gatherer.close();
  });

  test('a silent worker is reported missing after the timeout; the others still count', async () => {
    const { view, gatherer } = cluster([fakeWorker(['w0-a']), fakeWorker(['w1-b'])], { answerTimeoutMs: 50, silent: [1] });
    const started = performance.now();
    const all = await view.clients({ offset: 0, limit: 10 });
    assert.ok(performance.now() - started < 2000);
    assert.equal(all.total, 1);
    assert.deepEqual(all.workers, { count: 2, missing: [1] });
    const stats = (await view.stats()) as { workers: { missing: number[] } };
    assert.deepEqual(stats.workers.missing, [1]);
    // A client on the silent worker cannot be kicked: 503, not a hang and not a false 404.
    await assert.rejects(view.kick('w1-b'), (err: unknown) => err instanceof HttpError && err.status === 503);
    gatherer.close();
  });

  test('a worker that exits while asked is missing at once', async () => {
    const pending: ((v: unknown) => void)[] = [];
    const { relay, gatherer } = cluster([fakeWorker(['w0-a']), () => new Promise((resolve) => pending.push(resolve))], { answerTimeoutMs: 60_000 });
    const asked = gatherer.gather({ k: 'count' });
    // Worker 1 holds the query (it never answers); then it exits.
    while (pending.length === 0) await new Promise((r) => setImmediate(r));
    relay.workerGone(1);
    const answers: WorkerAnswer[] = await asked;
    assert.deepEqual(answers, [
      { w: 0, ok: true, v: 1 },
      { w: 1, ok: false, e: 'worker exited' },
    ]);
    pending.forEach((p) => p(0));
    gatherer.close();
  });

  test('no primary answer: the gather fails within its own timeout (503 from the view)', async () => {
    const channel: Channel = { send: () => undefined, onMessage: () => () => undefined };
    const g = new Gatherer(channel, 30);
    await assert.rejects(clusterView(g).stats(), (err: unknown) => err instanceof HttpError && err.status === 503);
    g.close();
  });

  test('malformed gathers and answers are dropped and counted', () => {
    const { relay, gatherer } = cluster([fakeWorker([])]);
    assert.equal(relay.handle(0, { t: 'origin-proxy:gather', id: 1, q: { k: 'nope' } }), true);
    assert.equal(relay.handle(0, { t: 'origin-proxy:answer', id: 'x', ok: true }), true);
    assert.equal(relay.handle(0, { t: 'something-else' }), false);
    assert.equal(relay.dropped, 2);
    gatherer.close();
  });
});

describe('state the primary keeps for the workers', () => {
  test('drain marks are seen by every worker; relay counts are summed and leave with their worker', () => {
    let now = 1000;
    const store = new HealthStore({ verdictTtlMs: 100, loadTtlMs: 1000, now: () => now });
    store.setDrain('a', 5);
    store.publishRelays(0, [['a', 2]]);
    store.publishRelays(1, [
      ['a', 3],
      ['b', 1],
    ]);
    store.publishDown('b', { originId: 'b-1', reason: 'probe failed', since: 1 });
    let snap = store.read(['a', 'b']);
    assert.deepEqual(snap.drained, [['a', 5]]);
    assert.deepEqual(
      new Map(snap.relays),
      new Map([
        ['a', 5],
        ['b', 1],
      ]),
    );
    assert.equal(snap.down.length, 1);
    store.workerGone(1);
    now += 200; // the down mark was not repeated
    snap = store.read(['a', 'b']);
    assert.deepEqual(snap.relays, [['a', 2]]);
    assert.deepEqual(snap.down, []);
    store.setDrain('a', undefined);
    assert.deepEqual(store.read(['a']).drained, []);
    // Marks of servers no longer listed are forgotten.
    store.setDrain('gone', 1);
    store.read(['a']);
    assert.deepEqual(store.read(['gone']).drained, []);
  });

  test('live streams: a stream is live while any worker reports it; a worker’s exit drops its streams', () => {
    const live = new LiveStreams();
    assert.equal(live.handle(0, { t: 'origin-proxy:live', on: ['a', 'b'], off: [] }), true);
    assert.equal(live.handle(1, { t: 'origin-proxy:live', on: ['a'], off: [] }), true);
    live.handle(0, { t: 'origin-proxy:live', on: [], off: ['a'] });
    assert.equal(live.isLive('a'), true);
    live.workerGone(1);
    assert.equal(live.isLive('a'), false);
    assert.equal(live.isLive('b'), true);
    assert.equal(live.handle(0, { t: 'other' }), false);
    live.handle(0, { t: 'origin-proxy:live', on: [5, null, 'x'.repeat(5000)], off: 'nope' });
    assert.equal(live.isLive('b'), true);
  });

  test('the pin cap keeps the pin of a stream live in any worker', async () => {
    const live = new LiveStreams();
    const b = new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 2, isLive: (k) => live.isLive(k) });
    await b.register(parseRegistration({ ip: '127.0.0.1', server: 'o', service: 's', pid: '1', rtmp: ['1935'] }, Date.now()));
    await b.pick('a');
    live.handle(1, { t: 'origin-proxy:live', on: ['a'], off: [] }); // worker 1 relays stream a
    await b.pick('b');
    await b.pick('c'); // over the cap: the oldest pin not live goes
    const kept = (await b.pins(10)).map((p) => p.streamKey).sort();
    assert.deepEqual(kept, ['a', 'c']);
    await b.close();
  });
});
