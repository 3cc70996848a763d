// A live HTTP-FLV body through the proxy's byte pipe arrives byte-exact whatever the pace on either
// side: an origin writing in odd bursts (single bytes up to 200 kB, the head split or sharing a packet
// with the body) and a player that stalls, then reads in bursts — so the proxy's writes queue and its
// reused read buffer must be handed off (or a small read copied) rather than overwritten.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { httpOriginBody, registerOrigin } from '../fixtures/proxy.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

/** More than the loopback socket buffers on both sides hold, so a stalled player makes the proxy queue. */
const BODY = randomBytes(24 * 1024 * 1024);
const WRITE_SIZES = [1, 7, 100, 4096, 65_536, 200_000, 13, 16_383, 16_384, 70_000];

/** An origin that answers every request with a close-delimited FLV body, written in bursts of odd sizes. */
function burstyOrigin(headTogetherWithBody: boolean): Server {
  return createServer((s: Socket) => {
    s.on('error', () => undefined);
    s.once('data', () => {
      const head = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\nconnection: close\r\n\r\n');
      let at = 0;
      let i = 0;
      if (headTogetherWithBody) {
        s.write(Buffer.concat([head, BODY.subarray(0, 5)]));
        at = 5;
      } else {
        s.write(head.subarray(0, 20));
        s.write(head.subarray(20));
      }
      const more = () => {
        while (at < BODY.length) {
          const n = Math.min(WRITE_SIZES[i++ % WRITE_SIZES.length]!, BODY.length - at);
          const ok = s.write(BODY.subarray(at, at + n));
          at += n;
          // Every few writes, or when the socket is full, a gap: bursts rather than one stream.
          if (!ok) return void s.once('drain', more);
          if (i % 7 === 0) return void setImmediate(more);
        }
        s.end();
      };
      more();
    });
  });
}

/** GETs `path` with a raw socket, stalling first and then reading in bursts; resolves with the body. */
function slowPlayer(port: number, path: string): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let received = 0;
    let sinceStall = 0;
    let stalls = 0;
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      sinceStall += d.length;
      // A long stall first (everything in between queues), then short ones every ~1 MB.
      if (sinceStall >= 1024 * 1024 || (stalls === 0 && received > 0)) {
        sinceStall = 0;
        sock.pause();
        setTimeout(() => sock.resume(), stalls++ === 0 ? 500 : 10);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) return reject(new Error(`no response head: ${all.subarray(0, 200).toString('latin1')}`));
      resolve({ head: all.subarray(0, end).toString('latin1'), body: all.subarray(end + 4) });
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

for (const together of [false, true]) {
  describe(`HTTP-FLV byte pipe, slow bursty player (head ${together ? 'sharing a packet with the body' : 'split in two writes'})`, () => {
    let proxy: OriginProxy;
    let origin: Server;
    before(async () => {
      origin = burstyOrigin(together);
      await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
      const env = { ...LOOPBACK_EPHEMERAL_LISTENERS, PROXY_HEALTH_INTERVAL: '0' };
      const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
      proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }) });
      await proxy.start();
      await registerOrigin(`http://127.0.0.1:${proxy.address('systemApi').port}`, httpOriginBody('bursty', (origin.address() as AddressInfo).port));
    });
    after(async () => {
      await proxy?.stop(0);
      origin?.close();
    });

    test('the player gets every byte the origin sent, in order', async () => {
      const { head, body } = await slowPlayer(proxy.address('httpServer').port, '/live/bursty.flv');
      assert.match(head, /^HTTP\/1\.1 200 /);
      assert.equal(body.length, BODY.length);
      // Compare without printing 24 MB on failure: the first differing offset.
      const differs = body.findIndex((b, i) => b !== BODY[i]);
      assert.equal(differs, -1, `first differing byte at ${differs}`);
    });
  });
}
