// HLS segments through the proxy's own origin client (src/net/origin-client.ts), against a node:http origin
// that counts its connections and the bytes it got to send: keep-alive reuse across segment requests, a slow
// player pausing the origin (bounded buffering; every byte intact once it reads on), a player leaving
// mid-segment closing the origin connection, and HEAD/Range passing through.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, get, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
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
