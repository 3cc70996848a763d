// Origins that answer outside the standards: an HTTP status outside 200-599 (999, 600, 000, a 1xx as the
// final answer) reaches the client as 502 JSON on every HTTP path (playlist, segment, live passthrough,
// WHIP); a live answer with conflicting framing reaches the client with one framing (or as a 502); an SRT
// rejection code no standard defines reaches the caller as a generic standard code, while a standard one is
// relayed unchanged.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { AccessRejectionCode, RejectionCode } from '../../src/srt/handshake.js';
import { callerRejectionCode } from '../../src/srt/origin-rejection.js';
import { registerOrigin } from '../fixtures/proxy.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
import { FakeOrigin, TestCaller } from '../fixtures/srt-peers.js';
import { fakeOffer } from '../fixtures/webrtc-fake-origin.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

/** A raw HTTP origin answering every request with `HTTP/1.1 <status> X`, a small body, then close. */
async function statusOrigin(status: () => string): Promise<{ server: Server; port: number; requests: number }> {
  const state = { requests: 0 };
  const server = createServer((s: Socket) => {
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      state.requests++;
      s.end(`HTTP/1.1 ${status()} Whatever\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    get requests() {
      return state.requests;
    },
  };
}

async function inProcessProxy() {
  const env = {
    ...LOOPBACK_EPHEMERAL_LISTENERS,
    PROXY_DIAL_TIMEOUT: '2s',
    // Probes off: the probe would read the same odd statuses and mark the origin down, which is not tested here.
    PROXY_HEALTH_INTERVAL: '0',
  };
  const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
  const proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }) });
  await proxy.start();
  const port = (name: Parameters<OriginProxy['address']>[0]) => proxy.address(name).port;
  return { proxy, port, systemApi: `http://127.0.0.1:${port('systemApi')}` };
}

describe('HTTP origin statuses outside 200-599', () => {
  let p: Awaited<ReturnType<typeof inProcessProxy>>;
  let origin: Awaited<ReturnType<typeof statusOrigin>>;
  let rtmp: RtmpListener;
  let status = '999';
  before(async () => {
    origin = await statusOrigin(() => status);
    rtmp = await RtmpListener.start();
    p = await inProcessProxy();
    await registerOrigin(p.systemApi, {
      ip: '127.0.0.1',
      server: 'odd',
      service: 's',
      pid: '1',
      rtmp: [String(rtmp.port)],
      http: [String(origin.port)],
      api: [String(origin.port)],
      rtc: ['udp://0.0.0.0:8000'],
    });
  });
  after(async () => {
    await p?.proxy.stop(0);
    origin?.server.close();
    await rtmp?.close();
  });

  const paths = ['/live/s.m3u8', '/live/s-1.ts', '/live/s.flv', '/live/s.mpd'];
  for (const odd of ['999', '600', '000', '100', '199', '1000']) {
    test(`status ${odd}: 502 JSON on playlist, segment, live and manifest paths`, async () => {
      status = odd;
      for (const path of paths) {
        const res = await fetch(`http://127.0.0.1:${p.port('httpServer')}${path}`);
        const text = await res.text();
        assert.equal(res.status, 502, `${path}: ${res.status} ${text}`);
        const body = JSON.parse(text) as { code: number; error: string };
        assert.equal(body.code, 502);
        // 999 and 600 parse as statuses and are refused by the proxy; undici itself refuses 000, 1000 and
        // a final 1xx as malformed answers. Either way the client gets a 502 with a JSON error.
        assert.match(body.error, odd.length === 3 && Number(odd) >= 600 ? /non-standard HTTP status/ : /origin/);
        assert.doesNotMatch(text, /127\.0\.0\.1|\d{4,5}/, 'no origin address in the answer');
      }
    });
  }

  test('status 999 on a WHIP offer: 502 JSON; a standard status (418) still passes through', async () => {
    status = '999';
    const url = `http://127.0.0.1:${p.port('httpApi')}/rtc/v1/whip/?app=live&stream=w`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: fakeOffer('a', 'pwd-pwd-pwd-pwd-pwd-pwd-a') });
    assert.equal(res.status, 502);
    assert.match(((await res.json()) as { error: string }).error, /non-standard HTTP status/);
    status = '418';
    const ok = await fetch(`http://127.0.0.1:${p.port('httpServer')}/live/s.m3u8`);
    assert.equal(ok.status, 418);
    assert.equal(await ok.text(), 'hello');
  });
});

describe('HTTP origin answers cut short, or with conflicting framing', () => {
  let p: Awaited<ReturnType<typeof inProcessProxy>>;
  let origin: Server;
  let answer = '';
  before(async () => {
    origin = createServer((s: Socket) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end(answer));
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    p = await inProcessProxy();
    await registerOrigin(p.systemApi, {
      ip: '127.0.0.1',
      server: 'cut',
      service: 's',
      pid: '1',
      rtmp: ['1935'],
      http: [String((origin.address() as AddressInfo).port)],
    });
  });
  after(async () => {
    await p?.proxy.stop(0);
    origin?.close();
  });

  const cuts = {
    'a Content-Length longer than the body': 'HTTP/1.1 200 OK\r\ncontent-type: application/vnd.apple.mpegurl\r\ncontent-length: 100\r\n\r\n#EXTM3U\n',
    'a chunk that never ends': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n50\r\n#EXTM3U\n',
  };
  for (const [what, raw] of Object.entries(cuts)) {
    test(`a playlist with ${what}: 502 JSON (the origin's fault), not 500`, async () => {
      answer = raw;
      for (const path of ['/live/c.m3u8', '/live/c.mpd']) {
        const res = await fetch(`http://127.0.0.1:${p.port('httpServer')}${path}`);
        assert.equal(res.status, 502, path);
        assert.match(((await res.json()) as { error: string }).error, /ended its answer early/);
      }
    });
  }

  for (const [what, head] of Object.entries({
    'Content-Length and chunked': 'content-length: 5\r\ntransfer-encoding: chunked',
    'chunked and then Content-Length': 'transfer-encoding: chunked\r\ncontent-length: 999',
  })) {
    test(`${what}: the client gets one framing (chunked), never both`, async () => {
      answer = `HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\n${head}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
      for (const path of ['/live/f.flv', '/live/f.ts']) {
        // fetch (undici) refuses an answer carrying both: reading it proves the proxy sent one framing.
        const res = await fetch(`http://127.0.0.1:${p.port('httpServer')}${path}`);
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get('content-length'), null, path);
        assert.equal(await res.text(), 'hello', path);
      }
    });
  }

  for (const [what, head] of Object.entries({
    'two different Content-Length fields': 'content-length: 5\r\ncontent-length: 7',
    'a Content-Length listing two values': 'content-length: 5, 7',
    'a Content-Length that is not a number': 'content-length: five',
  })) {
    test(`${what}: 502 JSON, nothing relayed`, async () => {
      answer = `HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\n${head}\r\n\r\nhello`;
      const res = await fetch(`http://127.0.0.1:${p.port('httpServer')}/live/g.flv`);
      assert.equal(res.status, 502);
      assert.match(((await res.json()) as { error: string }).error, /conflicting Content-Length/);
    });
  }

  test('repeated identical Content-Length values are one length', async () => {
    answer = 'HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello';
    const res = await fetch(`http://127.0.0.1:${p.port('httpServer')}/live/h.flv`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello');
  });
});

describe('SRT origin rejection codes', () => {
  test('the mapping: standard codes unchanged, others to a generic standard code', () => {
    assert.equal(callerRejectionCode(AccessRejectionCode.NotFound), AccessRejectionCode.NotFound);
    assert.equal(callerRejectionCode(RejectionCode.BadSecret), RejectionCode.BadSecret);
    assert.equal(callerRejectionCode(1999), RejectionCode.Peer);
    assert.equal(callerRejectionCode(1018), RejectionCode.Peer);
    assert.equal(callerRejectionCode(2777), AccessRejectionCode.Fallback);
    assert.equal(callerRejectionCode(3456), AccessRejectionCode.Fallback);
    assert.equal(callerRejectionCode(0x7fffffff), AccessRejectionCode.Fallback);
  });

  let p: Awaited<ReturnType<typeof inProcessProxy>>;
  const origins: FakeOrigin[] = [];
  const callers: TestCaller[] = [];
  before(async () => {
    p = await inProcessProxy();
  });
  after(async () => {
    for (const c of callers) await c.close();
    await p?.proxy.stop(0);
    for (const o of origins) await o.close();
  });

  /** A fresh origin rejecting with `code`, registered alone; returns the code the caller got. */
  async function rejectedWith(code: number, n: number): Promise<number> {
    const origin = await FakeOrigin.start('reject', { rejectCode: code });
    origins.push(origin);
    await registerOrigin(p.systemApi, origin.registerBody(`rej${n}`));
    const caller = await TestCaller.open(p.port('srt'));
    callers.push(caller);
    const { response } = await caller.connect(`live/r${n}`);
    // Each stream is pinned to the newest origin only if it is the only one: deregister for the next.
    await fetch(`${p.systemApi}/api/v1/origins/rej${n}`, { method: 'DELETE' });
    return response.handshakeType;
  }

  test('an origin rejecting with user-defined, unknown and standard codes: the caller gets standard codes only', async () => {
    const cases: [number, number][] = [
      [3456, AccessRejectionCode.Fallback],
      [2999, AccessRejectionCode.Fallback],
      [1500, RejectionCode.Peer],
      [AccessRejectionCode.Forbidden, AccessRejectionCode.Forbidden],
      [RejectionCode.BadSecret, RejectionCode.BadSecret],
    ];
    let n = 0;
    for (const [sent, expected] of cases) assert.equal(await rejectedWith(sent, n++), expected, `origin sent ${sent}`);
  });
});
