// The HTTP stream listener under abuse, against origins the test controls: HLS session records are
// created only for playlists the origin really serves and hold only bounded fields; pipelined
// requests behind a live stream open no origin connections; origin headers with control characters
// never reach the client.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { HlsSession } from '../../src/balancer/balancer.js';
import { MAX_HLS_URL } from '../../src/balancer/hls-record.js';
import { MemoryBalancer } from '../../src/balancer/memory.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { eventually } from '../fixtures/media.js';
import { registerOrigin } from '../fixtures/proxy.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

const PLAYLIST = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nok-1.ts\n';

/** Counts HLS records created, whatever the balancer. */
class CountingBalancer extends MemoryBalancer {
  created: HlsSession[] = [];
  override async hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession> {
    const s = await super.hlsSession(streamKey, fullUrl);
    if (!this.created.some((c) => c.spbhid === s.spbhid)) this.created.push(s);
    return s;
  }
}

/** An origin that answers playlists by name: ok → 200, missing → 404, broken → 500, busy → 503. */
function startPlaylistOrigin(): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const name = (req.url ?? '').split('?')[0]!.split('/').pop() ?? '';
    const status = name.startsWith('ok') ? 200 : name.startsWith('missing') ? 404 : name.startsWith('broken') ? 500 : 503;
    res.writeHead(status, { 'content-type': 'application/vnd.apple.mpegurl' });
    res.end(status === 200 ? PLAYLIST : 'no');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A raw HTTP origin for live streams: counts connections, answers each with `head` then FLV bytes until closed. */
function startLiveOrigin(head: string): Promise<{ server: ReturnType<typeof createServer>; requests: string[]; port: number }> {
  const requests: string[] = [];
  const server = createServer((s: Socket) => {
    let buf = '';
    s.on('error', () => {});
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n') || buf === '') return;
      requests.push(buf.split(' ')[1] ?? '');
      buf = '';
      s.write(head);
      const t = setInterval(() => s.write('FLV\x01\x05\x00\x00\x00\x09'), 50);
      s.once('close', () => clearInterval(t));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, requests, port: (server.address() as AddressInfo).port })));
}

async function startInProcessProxy(balancer: MemoryBalancer): Promise<{ proxy: OriginProxy; http: string; api: string; port: number }> {
  const env = {
    ...LOOPBACK_EPHEMERAL_LISTENERS,
    // The scripted HTTP origins have no RTMP port: health probes would mark them down mid-test and
    // close their live relays. What is tested here is the HTTP listener, not health.
    PROXY_HEALTH_INTERVAL: '0',
  };
  const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
  const proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }), balancer });
  await proxy.start();
  const port = proxy.address('httpServer').port;
  return { proxy, http: `http://127.0.0.1:${port}`, api: `http://127.0.0.1:${proxy.address('systemApi').port}`, port };
}

/** Sends raw bytes on one connection; resolves with everything read until the proxy closes it or `until` matches. */
function rawExchange(port: number, payload: string, until?: RegExp): Promise<{ data: string; socket: Socket }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(payload));
    let data = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve({ data, socket: s });
    };
    s.on('data', (d) => {
      data += d.toString('latin1');
      if (until && until.test(data)) finish();
    });
    s.on('close', finish);
    s.on('error', finish);
    // A connection the proxy should have closed but did not: report what was read instead of hanging.
    setTimeout(finish, 5000).unref();
  });
}

describe('HLS session records', () => {
  let origin: Server;
  const balancer = new CountingBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 1000 });
  let p: Awaited<ReturnType<typeof startInProcessProxy>>;
  before(async () => {
    origin = await startPlaylistOrigin();
    p = await startInProcessProxy(balancer);
    await registerOrigin(p.api, {
      ip: '127.0.0.1',
      server: 'hls',
      service: 's',
      pid: '1',
      rtmp: ['1935'],
      http: [String((origin.address() as AddressInfo).port)],
    });
  });
  after(async () => {
    await p.proxy.stop(0);
    origin.close();
  });

  test('playlists the origin refuses (404, 500, 503) create no record, for many stream names', async () => {
    for (const [prefix, status] of [
      ['missing', 404],
      ['broken', 500],
      ['busy', 503],
    ] as const) {
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`${p.http}/live/${prefix}${i}.m3u8`);
        assert.equal(res.status, status);
        await res.arrayBuffer();
      }
    }
    assert.equal(balancer.created.length, 0);
  });

  test('a served playlist creates one record per stream, bounded whatever the Host header', async () => {
    const hugeHost = `${'h'.repeat(15 * 1024)}.example`;
    for (const host of [hugeHost, 'bad host\u0001', '127.0.0.1']) {
      const res = await fetch(`${p.http}/live/ok.m3u8`, { headers: { Host: host } }).catch(() => undefined);
      if (res) await res.arrayBuffer();
    }
    // Node's fetch may refuse some Host values; a raw request sends them regardless.
    await rawExchange(p.port, `GET /live/ok2.m3u8 HTTP/1.1\r\nHost: ${'x'.repeat(12 * 1024)}\r\nConnection: close\r\n\r\n`);
    assert.ok(balancer.created.length >= 1 && balancer.created.length <= 4, `records: ${balancer.created.length}`);
    for (const s of balancer.created) {
      assert.ok(s.fullUrl.length <= MAX_HLS_URL, `fullUrl of ${s.fullUrl.length} characters`);
      assert.ok(!s.fullUrl.includes('hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh'), 'no raw Host kept');
    }
    // The rewritten playlist's session still routes segments.
    const text = await (await fetch(`${p.http}/live/ok.m3u8`)).text();
    assert.match(text, /ok-1\.ts\?spbhid=[0-9a-f]{7}/);
  });
});

describe('pipelined requests behind a live stream', () => {
  let live: Awaited<ReturnType<typeof startLiveOrigin>>;
  let p: Awaited<ReturnType<typeof startInProcessProxy>>;
  before(async () => {
    live = await startLiveOrigin('HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\n');
    p = await startInProcessProxy(new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 1000 }));
    await registerOrigin(p.api, { ip: '127.0.0.1', server: 'live', service: 's', pid: '1', rtmp: ['1935'], http: [String(live.port)] });
  });
  after(async () => {
    await p.proxy.stop(0);
    live.server.close();
  });

  /** Every origin connection the flood opened shows up before a later, separate request's. */
  async function originRequestsAfter(marker: string): Promise<string[]> {
    const { socket } = await rawExchange(p.port, `GET /live/${marker}.flv HTTP/1.1\r\nHost: x\r\n\r\n`, /FLV/);
    await eventually(async () => assert.ok(live.requests.includes(`/live/${marker}.flv`)), 5000);
    socket.destroy();
    return live.requests.slice();
  }

  test('a few pipelined .flv requests in one write: one origin connection', async () => {
    live.requests.length = 0;
    const req = (i: number) => `GET /live/p${i}.flv HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { socket, data } = await rawExchange(p.port, [0, 1, 2, 3].map(req).join(''), /FLV/);
    assert.match(data, /^HTTP\/1\.1 200/);
    socket.destroy();
    const seen = await originRequestsAfter('marker1');
    assert.deepEqual(seen, ['/live/p0.flv', '/live/marker1.flv']);
  });

  test('a flood of pipelined requests (200 in one write): one origin connection, then the connection is closed', async () => {
    live.requests.length = 0;
    const flood = Array.from({ length: 200 }, (_, i) => `GET /live/f${i}.flv HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const { data } = await rawExchange(p.port, flood);
    assert.ok(data.length < 64 * 1024, 'the connection ends instead of streaming');
    const seen = await originRequestsAfter('marker2');
    assert.ok(seen.filter((u) => u.startsWith('/live/f')).length <= 1, JSON.stringify(seen));
    // Normal keep-alive use is unaffected: sequential requests on one connection are all answered.
    const versions = await rawExchange(
      p.port,
      'GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.equal(versions.data.match(/HTTP\/1\.1 200/g)?.length, 2);
  });
});

describe('origin response headers with control characters', () => {
  for (const [name, bad] of [
    ['SOH', '\x01'],
    ['ESC', '\x1b'],
    ['DEL', '\x7f'],
    ['NUL', '\x00'],
  ] as const) {
    test(`a header value holding ${name} is dropped; the stream and other headers pass`, async () => {
      const live = await startLiveOrigin(`HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nX-Bad: a${bad}b\r\nX-Good: yes\r\nConnection: close\r\n\r\n`);
      const p = await startInProcessProxy(new MemoryBalancer({ originExpireMs: 30_000, sessionTtlMs: 60_000, maxStreamPins: 1000 }));
      try {
        await registerOrigin(p.api, { ip: '127.0.0.1', server: 'h', service: 's', pid: '1', rtmp: ['1935'], http: [String(live.port)] });
        const { data, socket } = await rawExchange(p.port, 'GET /live/h.flv HTTP/1.1\r\nHost: x\r\n\r\n', /FLV/);
        socket.destroy();
        const head = data.slice(0, data.indexOf('\r\n\r\n'));
        assert.match(head, /^HTTP\/1\.1 200/);
        assert.match(head, /\r\nx-good: yes/i);
        assert.ok(!/x-bad/i.test(head), head);
      } finally {
        await p.proxy.stop(0);
        live.server.close();
      }
    });
  }
});
