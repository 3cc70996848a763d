// HLS segments through the proxy's own origin client (src/net/origin-client.ts), against a node:http origin
// that counts its connections and the bytes it got to send: keep-alive reuse across segment requests, a slow
// player pausing the origin (bounded buffering; every byte intact once it reads on), a player leaving
// mid-segment closing the origin connection, and HEAD/Range passing through.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, get, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
import { parsePromText, valueOf } from '../fixtures/prom-text.js';
import { waitFor } from '../fixtures/wait.js';

/** 48 MB: more than the kernel's socket buffers on both hops can hold, so a paused player must pause the origin. */
const BLOCK = Buffer.alloc(1024 * 1024);
for (let i = 0; i < BLOCK.length; i++) BLOCK[i] = (i * 7 + (i >> 10)) & 0xff;
const BLOCKS = 48;
const BIG_SHA = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < BLOCKS; i++) h.update(BLOCK);
  return h.digest('hex');
})();

describe('HLS segments through the origin client', () => {
  let origin: Server;
  let originPort = 0;
  let rtmp: RtmpListener;
  let proxy: RunningProxy;
  const open = new Set<Socket>();
  let connections = 0;
  let sent = 0;
  let segment = '';
  /** The origin connection that carried the latest big segment, and whether it has closed. */
  let bigSocket: { socket: Socket; closed: boolean } | undefined;

  before(async () => {
    origin = createServer((req, res) => {
      if (req.url?.startsWith('/live/s.m3u8')) {
        const body = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\ns-1.ts\n#EXTINF:2.0,\nbig-1.ts\n';
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'content-length': body.length });
        res.end(body);
        return;
      }
      if (req.url?.startsWith('/live/s-1.ts')) {
        const body = BLOCK.subarray(0, 650 * 1024);
        const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (range) {
          const part = body.subarray(Number(range[1]), Number(range[2]) + 1);
          res.writeHead(206, { 'content-type': 'video/mp2t', 'content-length': part.length, 'content-range': `bytes ${range[1]}-${range[2]}/${body.length}` });
          res.end(req.method === 'HEAD' ? undefined : part);
          return;
        }
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      if (req.url?.startsWith('/live/big-1.ts')) {
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': BLOCK.length * BLOCKS });
        const mark = { socket: req.socket, closed: false };
        req.socket.once('close', () => (mark.closed = true));
        bigSocket = mark;
        let i = 0;
        // Written as the socket takes it: `sent` is what the proxy has read (or the kernel holds).
        const more = () => {
          while (i < BLOCKS) {
            i++;
            const ok = res.write(BLOCK, () => (sent += BLOCK.length));
            if (!ok) return void res.once('drain', more);
          }
          res.end();
        };
        res.on('close', () => res.off('drain', more));
        more();
        return;
      }
      res.writeHead(404).end();
    });
    origin.on('connection', (s: Socket) => {
      connections++;
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    origin.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originPort = (origin.address() as AddressInfo).port;
    rtmp = await RtmpListener.start();
    proxy = await startProxy({ env: { PROXY_HLS_CACHE_MAX: '0' } });
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'o', service: 's', pid: '1', rtmp: [String(rtmp.port)], http: [String(originPort)] });
    const playlist = await (await fetch(`${proxy.httpServer}/live/s.m3u8`)).text();
    segment = playlist.split('\n').find((l) => l.startsWith('s-1.ts?spbhid='))!;
    assert.ok(segment, playlist);
  });
  after(async () => {
    await proxy?.stop();
    await rtmp?.close();
    for (const s of open) s.destroy();
    await new Promise<void>((r) => origin.close(() => r()));
  });

  test('segment requests reuse one kept-alive origin connection', async () => {
    const before = connections;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${proxy.httpServer}/live/${segment}`);
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, 650 * 1024);
      assert.ok(body.equals(BLOCK.subarray(0, 650 * 1024)));
    }
    // The first may have needed a connection (the playlist's was kept); none after it.
    assert.ok(connections - before <= 1, `${connections - before} new origin connections for 5 segments`);
  });

  test('HEAD and Range pass through to the origin', async () => {
    const head = await fetch(`${proxy.httpServer}/live/${segment}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(650 * 1024));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const part = await fetch(`${proxy.httpServer}/live/${segment}`, { headers: { range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-19/${650 * 1024}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(BLOCK.subarray(10, 20)));
  });

  test('a paused player pauses the origin (bounded buffering); reading on, it gets every byte intact', async () => {
    sent = 0;
    const path = `/live/${segment.replace('s-1.ts', 'big-1.ts')}`;
    const res = await new Promise<IncomingMessage>((resolve, reject) => get(`${proxy.httpServer}${path}`, resolve).on('error', reject));
    assert.equal(res.statusCode, 200);
    res.pause();
    // The origin stops being read: what it got out settles well below the body's size.
    let last = -1;
    await waitFor(
      () => {
        const settled = sent === last && sent > 0;
        last = sent;
        return settled;
      },
      { what: 'the origin blocked by the paused player', everyMs: 300, timeoutMs: 20_000 },
    );
    assert.ok(sent < (BLOCK.length * BLOCKS) / 2, `origin sent ${sent} bytes to a paused player`);
    const h = createHash('sha256');
    let n = 0;
    res.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    res.resume();
    await new Promise<void>((resolve, reject) => res.on('end', resolve).on('error', reject));
    assert.equal(n, BLOCK.length * BLOCKS);
    assert.equal(h.digest('hex'), BIG_SHA, 'every byte as the origin sent it');
  });

  test('a player reading in bursts gets every byte intact (read buffers handed off and recycled under queued writes)', async () => {
    const path = `/live/${segment.replace('s-1.ts', 'big-1.ts')}`;
    const res = await new Promise<IncomingMessage>((resolve, reject) => get(`${proxy.httpServer}${path}`, resolve).on('error', reject));
    const h = createHash('sha256');
    let n = 0;
    let sincePause = 0;
    res.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
      sincePause += d.length;
      // Pacing is what is under test: a player that takes a burst, then stops a moment, again and again.
      if (sincePause > 512 * 1024) {
        sincePause = 0;
        res.pause();
        setTimeout(() => res.resume(), 5);
      }
    });
    await new Promise<void>((resolve, reject) => res.on('end', resolve).on('error', reject));
    assert.equal(n, BLOCK.length * BLOCKS);
    assert.equal(h.digest('hex'), BIG_SHA);
  });

  test('a player leaving mid-segment closes the origin connection', async () => {
    const path = `/live/${segment.replace('s-1.ts', 'big-1.ts')}`;
    const gotSome = await new Promise<number>((resolve, reject) => {
      const req = request(`${proxy.httpServer}${path}`, (res) => {
        res.once('data', (d: Buffer) => {
          resolve(d.length);
          req.destroy();
        });
      });
      req.on('error', () => undefined);
      req.on('close', () => reject(new Error('closed before any byte')));
      req.end();
    });
    assert.ok(gotSome > 0);
    // The origin connection that carried the cut body is closed (never reused mid-body).
    await waitFor(() => bigSocket?.closed, { what: 'the origin connection of the abandoned segment closed' });
  });
});

/** One raw HTTP/1.1 request from a player socket; `answer` settles with the status, headers and body once the proxy ends it. */
interface RawPlayer {
  socket: Socket;
  id: string;
  answer?: { status: number; headers: Record<string, string>; body: string };
}

let playerIds = 0;

/** `id` goes to the origin as X-Player (the proxy forwards end-to-end headers): the origin knows which player it serves. */
function rawPlayer(port: number, path: string): RawPlayer {
  const p: RawPlayer = { socket: connect(port, '127.0.0.1'), id: String(++playerIds) };
  let buf = '';
  p.socket.on('error', () => undefined);
  p.socket.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1 || p.answer) return;
    const [status, ...lines] = buf.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    const length = Number(headers['content-length'] ?? Number.NaN);
    if (!(buf.length - end - 4 >= length)) return;
    p.answer = { status: Number(status!.split(' ')[1]), headers, body: buf.slice(end + 4, end + 4 + length) };
  });
  p.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Player: ${p.id}\r\n\r\n`);
  return p;
}

describe('attack: a flood of segment requests on one origin endpoint (pool 256, queue 256)', () => {
  // PROXY_DIAL_TIMEOUT is also how long a request waits for a pooled connection.
  const WAIT_S = 10;
  const EXTRA = 40;
  let origin: Server;
  let rtmp: RtmpListener;
  let proxy: RunningProxy;
  const sockets = new Set<Socket>();
  /** Origin answers held open (every `hold.ts`), ended at cleanup; the players they are for. */
  const held: import('node:http').ServerResponse[] = [];
  const heldFor = new Set<string>();
  let flowRest: (() => void) | undefined;
  const FLOW = BLOCK.subarray(0, 640 * 1024);
  const players: RawPlayer[] = [];

  before(async () => {
    origin = createServer((req, res) => {
      if (req.url?.startsWith('/live/f.m3u8')) {
        const body = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nflow.ts\n#EXTINF:2.0,\nhold.ts\n';
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'content-length': body.length });
        res.end(body);
        return;
      }
      if (req.url?.startsWith('/live/flow.ts')) {
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': FLOW.length });
        res.write(FLOW.subarray(0, 64 * 1024));
        flowRest = () => res.end(FLOW.subarray(64 * 1024));
        return;
      }
      if (req.url?.startsWith('/live/hold.ts')) {
        held.push(res);
        heldFor.add(String(req.headers['x-player']));
        return;
      }
      res.writeHead(404).end();
    });
    origin.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    origin.keepAliveTimeout = 60_000;
    origin.requestTimeout = 0;
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    rtmp = await RtmpListener.start();
    proxy = await startProxy({
      env: {
        PROXY_HLS_CACHE_MAX: '0',
        PROXY_DIAL_TIMEOUT: `${WAIT_S}s`,
        PROXY_ORIGIN_ANSWER_TIMEOUT: '120s',
        PROXY_HEALTH_INTERVAL: '0',
        // Exact counts of one pool and one queue: each worker process has its own (BEHAVIOUR.md §8.5 item 5).
        PROXY_WORKERS: '1',
      },
    });
    const port = (origin.address() as AddressInfo).port;
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'o', service: 's', pid: '1', rtmp: [String(rtmp.port)], http: [String(port)] });
  });
  after(async () => {
    for (const p of players) p.socket.destroy();
    for (const r of held) r.destroy();
    await proxy?.stop();
    await rtmp?.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => origin.close(() => r()));
  });

  test('exact 503s past pool + queue while a segment under way flows byte-exact; a player leaving frees its place; the rest get 504 at the deadline', async () => {
    const playlist = await (await fetch(`${proxy.httpServer}/live/f.m3u8`)).text();
    const flowPath = `/live/${playlist.split('\n').find((l) => l.startsWith('flow.ts?spbhid='))!}`;
    const holdPath = `/live/${playlist.split('\n').find((l) => l.startsWith('hold.ts?spbhid='))!}`;
    const port = Number(new URL(proxy.httpServer).port);
    const before = (await proxy.stats()).protocols.hls?.refused ?? {};
    const originClient = async () => (await proxy.stats()).detail.http.originClient;

    // A segment under way: its first 64 KiB reached the player, the rest comes when the origin is told.
    const flowing = await new Promise<IncomingMessage>((resolve, reject) => get(`${proxy.httpServer}${flowPath}`, resolve).on('error', reject));
    const flowHash = createHash('sha256');
    let flowBytes = 0;
    flowing.on('data', (d: Buffer) => {
      flowHash.update(d);
      flowBytes += d.length;
    });
    const flowEnded = new Promise<void>((resolve, reject) => flowing.on('end', resolve).on('error', reject));
    await waitFor(() => flowBytes >= 64 * 1024, { what: 'the first part of the flowing segment' });

    // 255 more requests take every other pooled connection; then 256 queue, and EXTRA are refused at once.
    for (let i = 0; i < 255; i++) players.push(rawPlayer(port, holdPath));
    await waitFor(() => held.length === 255, { what: '255 held requests at the origin', timeoutMs: 30_000 });
    const flood: RawPlayer[] = [];
    for (let i = 0; i < 256 + EXTRA; i++) flood.push(rawPlayer(port, holdPath));
    players.push(...flood);
    // Every flood request is accounted for: answered (refused) or waiting in the client's queue.
    await waitFor(async () => flood.filter((p) => p.answer).length + (await originClient()).waiting === flood.length, {
      what: 'every flood request answered or waiting',
      timeoutMs: 30_000,
    });
    const refused = flood.filter((p) => p.answer);
    assert.equal(refused.length, EXTRA, 'exactly the requests past pool + queue refused');
    for (const p of refused) {
      assert.equal(p.answer!.status, 503);
      assert.equal(p.answer!.headers['retry-after'], '1');
      assert.equal(p.answer!.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(p.answer!.body), { code: 503, error: 'origin busy: too many requests waiting, retry shortly' });
    }
    assert.equal(held.length, 255, 'no request beyond the pool reached the origin');
    assert.deepEqual(await originClient(), { open: 256, idle: 0, waiting: 256 });
    const page = parsePromText(await (await fetch(`${proxy.systemApi}/metrics`)).text());
    assert.equal(valueOf(page, 'origin_proxy_origin_requests_waiting'), 256);
    assert.equal(valueOf(page, 'origin_proxy_origin_connections', { state: 'busy' }), 256);
    assert.equal(valueOf(page, 'origin_proxy_origin_connections', { state: 'idle' }), 0);

    // The segment under way is untouched: every byte as the origin sent it.
    flowRest!();
    await flowEnded;
    assert.equal(flowBytes, FLOW.length);
    assert.equal(flowHash.digest('hex'), createHash('sha256').update(FLOW).digest('hex'));
    // Its connection went to the first waiting request.
    await waitFor(() => held.length === 256, { what: 'the first queued request on the freed connection' });
    assert.deepEqual(await originClient(), { open: 256, idle: 0, waiting: 255 });

    // A new request is refused (503) or waits: the proxy's own count of waiting requests tells which, no clock.
    let retried = 0;
    const tryQueue = async (): Promise<RawPlayer | undefined> => {
      const { waiting } = await originClient();
      const p = rawPlayer(port, holdPath);
      players.push(p);
      const queued = await waitFor(async () => (p.answer ? 'answered' : (await originClient()).waiting === waiting + 1 ? 'queued' : undefined), {
        what: 'the new request answered or waiting',
      });
      if (queued === 'queued') return p;
      assert.equal(p.answer!.status, 503, 'refused at once, not answered at the deadline');
      retried++;
      return undefined;
    };
    // The dequeued request left one place: taken again, the queue is full (the next one is refused).
    const filler = await tryQueue();
    assert.ok(filler, 'the place left by the dequeued request is taken');
    assert.equal(await tryQueue(), undefined, 'the queue is full again');
    assert.equal((await originClient()).waiting, 256);

    // A waiting player leaves: its place is free at once (a new request waits instead of being refused).
    const queued = flood.filter((p) => !p.answer && !heldFor.has(p.id));
    assert.equal(queued.length, 255);
    const leaver = queued.pop()!;
    leaver.socket.destroy();
    // The first change of the count is the leaver's place; had the deadline come first, it would free many.
    const { waiting: afterLeave } = await waitFor(
      async () => {
        const { waiting } = await originClient();
        return waiting < 256 ? { waiting } : undefined;
      },
      { what: 'a place in the queue freed', timeoutMs: (WAIT_S + 10) * 1000 },
    );
    assert.equal(afterLeave, 255, "the leaver's place freed at once (not places freed by the deadline)");
    const late = await tryQueue();
    assert.ok(late, 'the freed place is taken');
    // …before the deadline emptied the queue (which would free places whether or not the leaver's was): the
    // queue is full again and, a round trip later, none of the flood's waiting requests has an answer (the
    // deadline ends waits in queue order, the flood's first).
    assert.deepEqual(await originClient(), { open: 256, idle: 0, waiting: 256 });
    assert.ok(
      queued.every((p) => !p.answer),
      'the others still wait',
    );

    // The deadline: everyone still waiting gets 504 (the leaver excepted), the late one too.
    const waiting = [...queued, filler, late];
    await waitFor(() => waiting.every((p) => p.answer), { what: 'the waiting requests answered at the deadline', timeoutMs: (WAIT_S + 10) * 1000 });
    for (const p of waiting) {
      assert.equal(p.answer!.status, 504);
      assert.equal(p.answer!.headers['retry-after'], undefined);
      assert.deepEqual(JSON.parse(p.answer!.body), { code: 504, error: 'origin busy: no connection free in time' });
    }
    assert.equal(held.length, 256, 'no waiting request reached the origin');

    // Counted under their own reasons; logged once per burst, not once per refusal.
    const after = (await proxy.stats()).protocols.hls!.refused;
    assert.equal((after['origin-busy'] ?? 0) - (before['origin-busy'] ?? 0), EXTRA + retried);
    assert.equal((after['origin-wait-timeout'] ?? 0) - (before['origin-wait-timeout'] ?? 0), waiting.length);
    const busyLines = proxy.peer.output.split('\n').filter((l) => l.includes('"reason":"origin-busy"')).length;
    assert.ok(busyLines >= 1 && busyLines < EXTRA, `${busyLines} log lines for ${EXTRA + retried} refusals`);
  });
});
