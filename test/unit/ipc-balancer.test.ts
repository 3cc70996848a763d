// The workers' balancer (src/cluster/): the IPC client in front of the primary's memory balancer must
// behave as the memory balancer itself (the shared contract, over a channel that copies every message
// through JSON as the cluster IPC does), and its protocol must stay bounded: answers time out, the
// number of waiting requests is capped, malformed or unmatched messages are dropped.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BalancerUnavailableError, NoOriginError } from '../../src/balancer/balancer.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { parseRegistration, type Origin } from '../../src/balancer/origin.js';
import { BalancerServer } from '../../src/cluster/balancer-server.js';
import { IpcBalancer } from '../../src/cluster/ipc-balancer.js';
import { parseRequestBatch, REQUEST_TAG, RESPONSE_TAG, type Channel } from '../../src/cluster/ipc-protocol.js';
import { restartDelayMs } from '../../src/cluster/primary.js';
import { createLogger } from '../../src/log.js';
import type { HealthState } from '../../src/routing/health.js';
import { NoServiceError } from '../../src/routing/policy.js';
import { balancerContract, EXPIRE } from '../fixtures/balancer-contract.js';

const TTL = 120_000;
const silent = createLogger({ level: 'silent', format: 'json' });

/** Two connected channel ends; each message is copied through JSON and delivered on a later turn. */
function channelPair(): { worker: Channel & { sent: unknown[] }; primary: Channel } {
  const toPrimary = new Set<(m: unknown) => void>();
  const toWorker = new Set<(m: unknown) => void>();
  const deliver = (listeners: Set<(m: unknown) => void>, m: unknown) => {
    const copy: unknown = JSON.parse(JSON.stringify(m));
    setImmediate(() => {
      for (const l of listeners) l(copy);
    });
  };
  const sent: unknown[] = [];
  return {
    worker: {
      sent,
      send: (m) => {
        sent.push(m);
        deliver(toPrimary, m);
      },
      onMessage: (l) => (toWorker.add(l), () => toWorker.delete(l)),
    },
    primary: { send: (m) => deliver(toWorker, m), onMessage: (l) => (toPrimary.add(l), () => toPrimary.delete(l)) },
  };
}

function setup(opts: { random?: () => number } = {}) {
  const clock = { t: 1_000_000 };
  let seq = 0;
  const memory = new MemoryBalancer({
    originExpireMs: EXPIRE,
    sessionTtlMs: TTL,
    maxStreamPins: 1000,
    now: () => clock.t,
    randomInt: opts.random ? (n) => Math.floor(opts.random!() * n) : (n) => seq++ % n,
    newId: () => (0x1000000 + seq++).toString(16).slice(-7),
  });
  const pair = channelPair();
  const server = new BalancerServer(memory, silent);
  pair.primary.onMessage((m) => server.handle(m, (r) => pair.primary.send(r)));
  const b = new IpcBalancer({ channel: pair.worker, now: () => clock.t, originsCacheMs: 0 });
  const origin = (server: string, rtmp = '1935', service = 'svc', pid = '1'): Origin =>
    parseRegistration({ ip: '127.0.0.1', server, service, pid, rtmp: [rtmp] }, clock.t);
  return { b, memory, clock, origin, pair, server };
}

balancerContract('IpcBalancer (memory balancer in the primary)', async (opts) => {
  const { b, memory, clock, origin } = setup(opts?.random ? { random: opts.random } : {});
  return {
    b,
    clock,
    origin,
    nearlyTtlMs: TTL - 10,
    pastTtlMs: TTL + 1,
    elapseSessions: async (ms) => {
      clock.t += ms;
    },
    sweep: () => memory.sweep(),
    close: async () => {
      await b.close();
      await memory.close();
    },
  };
});

/** A channel whose other end never answers (and records what was sent). */
function silentChannel(): Channel & { sent: unknown[]; deliver(m: unknown): void } {
  const listeners = new Set<(m: unknown) => void>();
  const sent: unknown[] = [];
  return {
    sent,
    send: (m) => sent.push(m),
    onMessage: (l) => (listeners.add(l), () => listeners.delete(l)),
    deliver: (m) => {
      for (const l of listeners) l(m);
    },
  };
}

describe('IpcBalancer protocol', () => {
  test('requests of one turn travel as one message; picks for one stream agree across two workers', async () => {
    const { b, memory, origin, pair } = setup({ random: Math.random });
    const server = new BalancerServer(memory, silent);
    const other = channelPair();
    other.primary.onMessage((m) => server.handle(m, (r) => other.primary.send(r)));
    const b2 = new IpcBalancer({ channel: other.worker });
    for (const s of ['a', 'b', 'c', 'd']) await b.register(origin(s));
    const before = pair.worker.sent.length;
    const keys = Array.from({ length: 20 }, (_, i) => `live/s${i}`);
    const first = await Promise.all(keys.map((k) => b.pick(k)));
    assert.equal(pair.worker.sent.length - before, 1, 'twenty picks in one message');
    const second = await Promise.all(keys.map((k) => b2.pick(k)));
    assert.deepEqual(
      second.map((o) => o.id),
      first.map((o) => o.id),
    );
    assert.ok(new Set(first.map((o) => o.id)).size > 1, 'picks spread over origins');
    await b.close();
    await b2.close();
  });

  test("a pick's health is judged in the worker: a down origin never gets a new stream", async () => {
    const { b, origin } = setup({ random: Math.random });
    await b.register(origin('a'));
    await b.register(origin('b'));
    const health = { state: (o: Origin): HealthState => (o.serverId === 'a' ? 'down' : 'up'), loadOf: () => 0 };
    for (let i = 0; i < 20; i++) assert.equal((await b.claim(`k${i}`, { health })).origin.serverId, 'b');
    await b.close();
  });

  test('errors keep their kind across the channel', async () => {
    const { b, origin } = setup();
    await assert.rejects(b.pick('k'), NoOriginError);
    await b.register(parseRegistration({ ip: '127.0.0.1', server: 'x', service: 's', pid: '1', rtmp: ['1935'] }, 1_000_000));
    await assert.rejects(b.pick('k2', { needs: ['srt'] }), NoServiceError);
    void origin;
    await b.close();
  });

  test('an unanswered request fails after its timeout as an unavailable balancer, and leaves nothing pending', async () => {
    const ch = silentChannel();
    const b = new IpcBalancer({ channel: ch, timeoutMs: 30 });
    await assert.rejects(b.origins(), (err: unknown) => err instanceof BalancerUnavailableError && /did not answer within 30 ms/.test(err.message));
    assert.equal(b.pendingCount, 0);
    await b.close();
  });

  test('waiting requests are capped: beyond the cap a call fails at once', async () => {
    const ch = silentChannel();
    const b = new IpcBalancer({ channel: ch, timeoutMs: 60_000, maxPending: 3 });
    // Three distinct requests (concurrent origins() reads would share one).
    const waiting = [b.lookup('a'), b.lookup('b'), b.lookup('c')];
    for (const w of waiting) w.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve)); // a lookup asks after building its request
    await assert.rejects(b.origins(), (err: unknown) => err instanceof BalancerUnavailableError && /3 requests already wait/.test(err.message));
    assert.equal(b.pendingCount, 3);
    b.failAll('test over');
    for (const w of waiting) await assert.rejects(w, BalancerUnavailableError);
    assert.equal(b.pendingCount, 0);
    await b.close();
  });

  test('malformed and unmatched answers are dropped and counted; the matching one still settles', async () => {
    const ch = silentChannel();
    const dropped: number[] = [];
    const b = new IpcBalancer({ channel: ch, timeoutMs: 60_000, onDropped: (n) => dropped.push(n) });
    const p = b.hlsSessionById('abc');
    await new Promise((r) => setImmediate(r));
    const [sent] = ch.sent as { t: string; b: { id: number }[] }[];
    assert.equal(sent!.t, REQUEST_TAG);
    const id = sent!.b[0]!.id;
    ch.deliver('garbage');
    ch.deliver({ t: 'something else' });
    ch.deliver({ t: RESPONSE_TAG, b: 'not a list' });
    ch.deliver({
      t: RESPONSE_TAG,
      b: [
        { id: 'x', ok: true },
        { id: 999_999, ok: true, v: 1 },
        { id, ok: 'maybe' },
        null,
        { id, ok: true, v: { spbhid: 'abc', streamKey: 'k', fullUrl: '/k.m3u8' } },
      ],
    });
    assert.deepEqual(await p, { spbhid: 'abc', streamKey: 'k', fullUrl: '/k.m3u8' });
    assert.equal(b.dropped, 1 + 4);
    assert.deepEqual(dropped, [1, 4]);
    await b.close();
  });

  test('the server drops malformed requests and answers bad arguments with an error, never throws', async () => {
    const memory = new MemoryBalancer({ originExpireMs: EXPIRE, sessionTtlMs: TTL, maxStreamPins: 10 });
    const server = new BalancerServer(memory, silent);
    assert.equal(
      server.handle('x', () => assert.fail('no reply')),
      false,
    );
    assert.equal(parseRequestBatch({ t: REQUEST_TAG, b: [{ id: 1, m: 'close', a: [] }] })!.valid.length, 0, 'close is no remote method');
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve) =>
      server.handle(
        {
          t: REQUEST_TAG,
          b: [
            { id: 1, m: 'start', a: [] },
            { id: 2, m: 'pick', a: [42] },
            { id: 3, m: 'pins', a: [-1] },
            { id: 4, m: 'origins', a: [] },
          ],
        },
        (r) => {
          replies.push(r);
          resolve();
        },
      ),
    );
    await done;
    assert.equal(server.dropped, 1);
    const [reply] = replies as { b: { id: number; ok: boolean }[] }[];
    assert.deepEqual(
      reply!.b.map((r) => [r.id, r.ok]),
      [
        [2, false],
        [3, false],
        [4, true],
      ],
    );
    await memory.close();
  });

  test('read cache: a pinned stream and its HLS session are reused without asking, unless health says the origin is not up', async () => {
    const memory = new MemoryBalancer({ originExpireMs: EXPIRE, sessionTtlMs: TTL, maxStreamPins: 100 });
    const pair = channelPair();
    const server = new BalancerServer(memory, silent);
    pair.primary.onMessage((m) => server.handle(m, (r) => pair.primary.send(r)));
    const b = new IpcBalancer({ channel: pair.worker, readCacheMs: 60_000 });
    await b.register(parseRegistration({ ip: '127.0.0.1', server: 'a', service: 's', pid: '1', rtmp: ['1935'] }, Date.now()));
    let down = false;
    const health = { state: (): HealthState => (down ? 'down' : 'up'), loadOf: () => 0 };
    const first = await b.claim('k', { health, tentative: true });
    assert.equal(first.created, true, 'a new pin is a lease: never cached');
    await b.commitPin('k', first.origin); // answered: the pin is committed, cached from now on
    const s1 = await b.hlsSession('k', '/live/k.m3u8');
    const sent = pair.worker.sent.length;
    await b.commitPin('k', first.origin); // changes nothing: not sent
    assert.equal((await b.claim('k', { health })).origin.id, first.origin.id);
    assert.equal((await b.lookup('k', { health }))?.id, first.origin.id);
    assert.deepEqual(await b.hlsSession('k', '/live/k.m3u8'), s1);
    assert.deepEqual(await b.hlsSessionById(s1.spbhid), s1);
    assert.equal(pair.worker.sent.length, sent, 'answered from the cache');
    await assert.rejects(b.claim('k', { health, needs: ['srt'] }), NoServiceError);
    assert.ok(pair.worker.sent.length > sent, 'a cached origin that lacks the needed service is asked again');
    const afterNeeds = pair.worker.sent.length;
    down = true;
    await b.claim('k', { health });
    assert.ok(pair.worker.sent.length > afterNeeds, 'a pin on an origin this worker calls down is asked again');
    await b.close();
    await memory.close();
  });

  test('the origin list is read once per originsCacheMs, shared by concurrent readers, and read again after a registration here', async () => {
    const memory = new MemoryBalancer({ originExpireMs: EXPIRE, sessionTtlMs: TTL, maxStreamPins: 100 });
    const pair = channelPair();
    const server = new BalancerServer(memory, silent);
    pair.primary.onMessage((m) => server.handle(m, (r) => pair.primary.send(r)));
    const b = new IpcBalancer({ channel: pair.worker, originsCacheMs: 60_000 });
    await b.register(parseRegistration({ ip: '127.0.0.1', server: 'a', service: 's', pid: '1', rtmp: ['1935'] }, Date.now()));
    const sent = pair.worker.sent.length;
    const [x, y] = await Promise.all([b.origins(), b.origins()]);
    assert.deepEqual(x, y);
    await b.origins();
    assert.equal(pair.worker.sent.length, sent + 1, 'one read for three callers');
    await b.register(parseRegistration({ ip: '127.0.0.1', server: 'b', service: 's', pid: '1', rtmp: ['1936'] }, Date.now()));
    assert.deepEqual((await b.origins()).map((v) => v.origin.serverId).sort(), ['a', 'b'], 'a registration here is seen at once');
    b.originRemoved();
    const before = pair.worker.sent.length;
    await b.origins();
    assert.equal(pair.worker.sent.length, before + 1, 'a removal elsewhere drops the cached list');
    b.originsChanged();
    const afterRemoval = pair.worker.sent.length;
    await b.origins();
    assert.equal(pair.worker.sent.length, afterRemoval + 1, 'a registration elsewhere drops the cached list');
    await b.close();
    await memory.close();
  });

  test('restart backoff doubles from 250 ms up to 10 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(restartDelayMs), [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});
