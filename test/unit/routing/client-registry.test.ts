// The live-client side of the relay registry and the per-protocol bookkeeping behind stats():
// ids, listing, kicking, per-stream sums; arrivals through their states; refusal logs per reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RelayRegistry, type RelayClient } from '../../../src/routing/relays.js';
import { ClientCounters, LIVE_BYTES_MAX_AGE_MS, RefusalLog, REFUSAL_LOGS_PER_SECOND, clientAddress, httpRefusalReason } from '../../../src/net/client-stats.js';
import { HttpStreamStats, MAX_PLAYERS, PLAYER_IDLE_MS } from '../../../src/http/stream-stats.js';
import { MAX_SUMMARY_BYTES, MAX_SUMMARY_STREAMS, decodeSummary, encodeSummary, type StreamTally } from '../../../src/api/stream-summary.js';
import type { Logger } from '../../../src/log.js';

function client(over: Partial<RelayClient> = {}): RelayClient {
  return { protocol: 'rtmp', role: 'play', address: '127.0.0.1:5000', bytes: () => ({ in: 10, out: 20 }), ...over };
}

/** A logger that records info lines (only what RefusalLog uses). */
function recordingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = { info: (fields: Record<string, unknown>) => lines.push(fields) } as unknown as Logger;
  return { log, lines };
}

describe('RelayRegistry: live clients', () => {
  test('ids are the cid when free, unique otherwise; relays without a client are counted but not listed', () => {
    const r = new RelayRegistry(() => 1000);
    r.register({ originServerId: 'a', streamKey: 'v/live/s', close: () => undefined, client: client({ cid: 'abc1234' }) });
    r.register({ originServerId: 'a', streamKey: 'v/live/s', close: () => undefined, client: client({ cid: 'abc1234' }) });
    r.register({ originServerId: 'a', streamKey: 'v/live/s', close: () => undefined, client: client({ cid: 'bad id with spaces' }) });
    r.register({ originServerId: 'a', streamKey: 'v/live/s', close: () => undefined });
    const ids = r.listClients().map((c) => c.id);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3);
    assert.equal(ids[0], 'abc1234');
    assert.ok(ids.every((id) => /^[\w.-]+$/.test(id)));
    assert.equal(r.countByStream('v/live/s'), 4);
    assert.equal(r.listClients()[0]!.since, 1000);
  });

  test('kick closes the relay once and forgets it; a second kick finds nothing', () => {
    const r = new RelayRegistry();
    let closed = 0;
    r.register({ originServerId: 'a', streamKey: 's', close: () => closed++, client: client({ cid: 'k1' }) });
    assert.equal(r.kick('k1'), true);
    assert.equal(closed, 1);
    assert.equal(r.kick('k1'), false);
    assert.equal(r.listClients().length, 0);
    assert.equal(r.countByOrigin('a'), 0);
  });

  test('release forgets the client; closeOrigin forgets every client of that origin', () => {
    const r = new RelayRegistry();
    const h = r.register({ originServerId: 'a', streamKey: 's', close: () => undefined, client: client() });
    r.register({ originServerId: 'b', streamKey: 't', close: () => undefined, client: client() });
    h.release();
    assert.deepEqual(
      r.listClients().map((c) => c.relay.streamKey),
      ['t'],
    );
    r.closeOrigin('b');
    assert.equal(r.listClients().length, 0);
  });

  test('streams(): the earliest publisher, players per protocol, bytes summed; filter by stream', () => {
    let t = 0;
    const r = new RelayRegistry(() => t);
    t = 5;
    r.register({ originServerId: 'a', streamKey: 's', close: () => undefined, client: client({ role: 'publish', bytes: () => ({ in: 100, out: 1 }) }) });
    r.register({ originServerId: 'a', streamKey: 's', close: () => undefined, client: client({ protocol: 'flv' }) });
    r.register({ originServerId: 'a', streamKey: 's', close: () => undefined, client: client({ protocol: 'flv' }) });
    r.register({ originServerId: 'a', streamKey: 'other', close: () => undefined, client: client({ protocol: 'srt' }) });
    const s = r.streams().get('s')!;
    assert.equal(s.publisher?.client.role, 'publish');
    assert.deepEqual(s.players, { flv: 2 });
    assert.deepEqual(s.bytes, { in: 120, out: 41 });
    assert.equal(r.listClients('other').length, 1);
    assert.equal(r.listClients('nope').length, 0);
  });

  test('clientAddress brackets IPv6', () => {
    assert.equal(clientAddress('::1', 80), '[::1]:80');
    assert.equal(clientAddress('10.0.0.1', 80), '10.0.0.1:80');
  });
});

describe('ClientCounters', () => {
  test('the reused sum of live bytes counts a client that starts or ends within its age once, never twice', () => {
    let t = 0;
    const c = new ClientCounters('flv', () => t);
    const bytes = [
      { in: 10, out: 100 },
      { in: 20, out: 200 },
      { in: 3, out: 30 },
    ];
    const [a, b, d] = [c.arrive(), c.arrive(), c.arrive()];
    a.start('play', () => bytes[0]!);
    b.start('play', () => bytes[1]!);
    assert.deepEqual(c.snapshot().bytes, { in: 30, out: 300 });
    t += 1;
    bytes[0] = { in: 11, out: 110 }; // grows after the sum was taken
    a.end(); // its final bytes go to the closed total; its part of the reused sum leaves it
    d.start('publish', () => bytes[2]!);
    const s = c.snapshot();
    assert.deepEqual(s.bytes, { in: 11 + 20 + 3, out: 110 + 200 + 30 });
    assert.deepEqual(s.active, { publish: 1, play: 1, pending: 0 });
  });

  test('pending → live → done: active, total, setup and bytes (live read at snapshot, closed kept)', () => {
    let t = 0;
    const c = new ClientCounters('rtmp', () => t);
    const a = c.arrive();
    const b = c.arrive();
    assert.equal(c.snapshot().active.pending, 2);
    t = 30;
    let live = { in: 5, out: 7 };
    a.start('publish', () => live);
    let s = c.snapshot();
    assert.deepEqual(s.active, { publish: 1, play: 0, pending: 1 });
    assert.deepEqual(s.total, { publish: 1, play: 0 });
    assert.equal(s.setup.count, 1);
    assert.equal(s.setup.sum, 0.03);
    assert.deepEqual(s.bytes, { in: 5, out: 7 });
    live = { in: 50, out: 70 };
    // Live bytes are summed at most every LIVE_BYTES_MAX_AGE_MS (thousands of sockets per scrape otherwise).
    assert.deepEqual(c.snapshot().bytes, { in: 5, out: 7 });
    t += LIVE_BYTES_MAX_AGE_MS;
    assert.deepEqual(c.snapshot().bytes, { in: 50, out: 70 });
    a.end();
    a.end();
    a.start('play', () => ({ in: 1, out: 1 }));
    b.end();
    s = c.snapshot();
    assert.deepEqual(s.active, { publish: 0, play: 0, pending: 0 });
    assert.deepEqual(s.bytes, { in: 50, out: 70 });
    assert.deepEqual(s.total, { publish: 1, play: 0 });
  });

  test('refusals are counted by reason; dropped passes through', () => {
    const c = new ClientCounters('srt');
    c.refuse('no-origin');
    c.refuse('no-origin');
    c.refuse('limit');
    const s = c.snapshot({ short: 3 });
    assert.deepEqual(s.refused, { 'no-origin': 2, limit: 1 });
    assert.deepEqual(s.dropped, { short: 3 });
  });

  test('HTTP statuses map to refusal reasons', () => {
    assert.equal(httpRefusalReason({ status: 429 }), 'limit');
    assert.equal(httpRefusalReason({ status: 400 }), 'bad-request');
    assert.equal(httpRefusalReason({ status: 404 }), 'bad-request');
    assert.equal(httpRefusalReason({ status: 502 }), 'unreachable');
    assert.equal(httpRefusalReason({ status: 500 }), 'error');
  });
});

describe('RefusalLog: rate-limited per reason', () => {
  test('a flood of one reason logs at most the budget per second, and the next line says how many were left out', () => {
    let t = 0;
    const { log, lines } = recordingLog();
    const r = new RefusalLog('rtmp', () => t);
    for (let i = 0; i < 1000; i++) r.log(log, 'no-origin', { stream: 'v/live/s' });
    assert.equal(lines.length, REFUSAL_LOGS_PER_SECOND);
    assert.deepEqual(lines[0], { protocol: 'rtmp', reason: 'no-origin', stream: 'v/live/s' });
    // Another reason has its own budget: a flood of one does not hide the other.
    r.log(log, 'limit');
    assert.equal(lines.length, REFUSAL_LOGS_PER_SECOND + 1);
    t = 1000;
    r.log(log, 'no-origin');
    assert.equal(lines.length, REFUSAL_LOGS_PER_SECOND + 2);
    assert.equal(lines.at(-1)!.suppressed, 1000 - REFUSAL_LOGS_PER_SECOND);
  });

  test('many distinct reasons share one budget past the cap (the budget table stays bounded)', () => {
    const { log, lines } = recordingLog();
    const r = new RefusalLog('flv', () => 0, 1, 4);
    for (let i = 0; i < 100; i++) r.log(log, `reason-${i}`);
    // 4 reasons with their own budget, then the rest share one: 5 lines, not 100.
    assert.equal(lines.length, 5);
  });

  test('ClientCounters.refuse logs through the same budget', () => {
    const { log, lines } = recordingLog();
    const c = new ClientCounters('srt', () => 0);
    for (let i = 0; i < 50; i++) c.refuse('unreachable', log);
    assert.equal(lines.length, REFUSAL_LOGS_PER_SECOND);
    assert.equal(c.snapshot().refused.unreachable, 50);
  });
});

describe('HttpStreamStats: HLS/DASH players', () => {
  test('a player is an address per stream, counted once while it keeps asking; it lapses after the idle time', () => {
    let t = 0;
    const h = new HttpStreamStats(() => t);
    assert.equal(h.playerRequest('10.0.0.1', 'v/live/s', 'hls', 0, 100), true);
    assert.equal(h.playerRequest('10.0.0.1', 'v/live/s', 'hls', 10, 1000), false);
    assert.equal(h.playerRequest('10.0.0.2', 'v/live/s', 'hls', 0, 100), true);
    assert.equal(h.playerRequest('10.0.0.2', 'v/live/t', 'dash', 0, 100), true);
    assert.deepEqual(h.playersByStream().get('v/live/s'), { hls: 2 });
    const s = h.stats();
    assert.equal(s.hls!.active.play, 2);
    assert.equal(s.dash!.active.play, 1);
    assert.deepEqual(s.hls!.bytes, { in: 10, out: 1200 });
    t = PLAYER_IDLE_MS + 1;
    assert.equal(h.stats().hls!.active.play, 0);
  });

  test('a flood of addresses keeps at most MAX_PLAYERS entries', () => {
    const h = new HttpStreamStats(() => 0);
    for (let i = 0; i < MAX_PLAYERS + 500; i++) h.playerRequest(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'v/live/s', 'hls', 0, 1);
    assert.equal(h.stats().hls!.active.play, MAX_PLAYERS);
  });

  test('request kinds map to protocol labels', () => {
    const h = new HttpStreamStats();
    assert.equal(h.protocolOf('live', '/live/s.flv', null), 'flv');
    assert.equal(h.protocolOf('live', '/live/s.ts', null), 'ts');
    assert.equal(h.protocolOf('playlist', '/live/s.m3u8', null), 'hls');
    assert.equal(h.protocolOf('manifest', '/live/s.mpd', null), 'dash');
    assert.equal(h.protocolOf('segment', '/live/s-1.m4s', 'abcdef0'), 'dash');
    assert.equal(h.protocolOf('segment', '/live/s-1.ts', 'abcdef0'), 'hls');
    assert.equal(h.protocolOf('static', '/index.html', null), undefined);
  });
});

describe('stream summary (cluster view)', () => {
  const tally = (pub: number, rtmp: number): StreamTally => ({ publishers: pub, players: { rtmp }, bytes: { in: 1, out: 2 } });

  test('round trip; the busiest streams are kept under the stream cap and the byte cap', () => {
    const local = new Map<string, StreamTally>();
    for (let i = 0; i < MAX_SUMMARY_STREAMS + 200; i++) local.set(`v/live/s${i}`, tally(1, i));
    const text = encodeSummary(local, 42);
    assert.ok(text.length <= MAX_SUMMARY_BYTES);
    const back = decodeSummary(text)!;
    assert.equal(back.at, 42);
    assert.equal(back.streams.size, MAX_SUMMARY_STREAMS);
    assert.ok(back.streams.has(`v/live/s${MAX_SUMMARY_STREAMS + 199}`), 'the busiest stream is kept');
    assert.ok(!back.streams.has('v/live/s0'), 'the quietest stream is left out');
    const long = new Map([[`v/live/${'x'.repeat(400)}`, tally(1, 1)]]);
    for (let i = 0; i < 2000; i++) long.set(`v/live/${'y'.repeat(400)}${i}`, tally(1, 1));
    assert.ok(encodeSummary(long, 1).length <= MAX_SUMMARY_BYTES);
  });

  test('garbage from another writer is refused or clamped, never trusted', () => {
    assert.equal(decodeSummary('not json'), undefined);
    assert.equal(decodeSummary('[]'), undefined);
    assert.equal(decodeSummary('{"at":"x","streams":{}}'), undefined);
    assert.equal(decodeSummary('{"at":1,"streams":[]}'), undefined);
    assert.equal(decodeSummary(`{"at":1,"streams":{"k":{"pub":1}},"pad":"${'x'.repeat(MAX_SUMMARY_BYTES)}"}`), undefined);
    const s = decodeSummary(
      JSON.stringify({
        at: 1,
        streams: {
          good: { pub: 1, players: { rtmp: 2, evil: 5 }, in: 3, out: 4 },
          bad: { pub: -3, players: { flv: 1e300, hls: 'x' }, in: 'x', out: 1.5 },
          '': { pub: 1 },
          scalar: 7,
        },
      }),
    )!;
    assert.deepEqual([...s.streams.keys()], ['good', 'bad']);
    assert.deepEqual(s.streams.get('good'), { publishers: 1, players: { rtmp: 2 }, bytes: { in: 3, out: 4 } });
    assert.deepEqual(s.streams.get('bad'), { publishers: 0, players: {}, bytes: { in: 0, out: 0 } });
    const many: Record<string, unknown> = {};
    for (let i = 0; i < MAX_SUMMARY_STREAMS * 2; i++) many[`s${i}`] = { pub: 1 };
    assert.equal(decodeSummary(JSON.stringify({ at: 1, streams: many }))!.streams.size, MAX_SUMMARY_STREAMS);
  });
});
