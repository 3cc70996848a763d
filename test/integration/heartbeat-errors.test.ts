// The heartbeat sidecar says why a heartbeat failed (refused connection, timeout, the proxy's HTTP status
// and the error it named), not fetch's bare "fetch failed". Real sockets on loopback, in-process.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { failureReason, refusalReason, sendHeartbeat, type HeartbeatOptions } from '../../src/heartbeat/heartbeat.js';
import { createLogger } from '../../src/log.js';
import { freePort } from '../fixtures/ports.js';

interface Line {
  level: string;
  msg: string;
  reason?: string;
  code?: string;
  status?: number;
}

/** A logger whose JSON lines land in an array. */
function capture(): { log: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', format: 'json', destination }), lines };
}

function options(url: string, timeoutMs = 2000): HeartbeatOptions {
  return {
    url,
    ip: '127.0.0.1',
    server: 'hb-test',
    service: 's1',
    deviceId: '',
    rtmp: ['1935'],
    http: [],
    api: [],
    srt: [],
    rtc: [],
    rtsp: [],
    intervalMs: 10_000,
    token: undefined,
    timeoutMs,
  };
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const servers: { close(): unknown }[] = [];
after(() => {
  for (const s of servers) s.close();
});

describe('heartbeat failures name their cause', () => {
  test('a closed port: connection refused, with the address', async () => {
    const port = await freePort();
    const { log, lines } = capture();
    assert.equal(await sendHeartbeat(options(`http://127.0.0.1:${port}/api/v1/srs/register`), log), false);
    const warn = lines.find((l) => l.level === 'warn');
    assert.ok(warn, JSON.stringify(lines));
    assert.equal(warn.code, 'ECONNREFUSED');
    assert.equal(warn.msg, `heartbeat failed: connection refused by 127.0.0.1:${port} (nothing listens there)`);
    assert.doesNotMatch(warn.msg, /fetch failed/);
  });

  test('a 4xx answer: the status and the error the proxy named in its JSON body', async () => {
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: 400, error: 'invalid rtmp[0]: port 99999 is out of range' }));
      });
    });
    servers.push(server);
    const port = await listen(server);
    const { log, lines } = capture();
    assert.equal(await sendHeartbeat(options(`http://127.0.0.1:${port}/api/v1/srs/register`), log), false);
    const warn = lines.find((l) => l.level === 'warn');
    assert.equal(warn?.status, 400);
    assert.equal(warn?.msg, 'heartbeat refused: HTTP 400: invalid rtmp[0]: port 99999 is out of range');
  });

  test('a 401 with a plain-text body, and a 5xx with none', async () => {
    let status = 401;
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(status === 401 ? 'token required\n' : '');
      });
    });
    servers.push(server);
    const port = await listen(server);
    const url = `http://127.0.0.1:${port}/api/v1/srs/register`;
    const first = capture();
    await sendHeartbeat(options(url), first.log);
    assert.equal(first.lines.find((l) => l.level === 'warn')?.reason, 'HTTP 401: token required');
    status = 503;
    const second = capture();
    await sendHeartbeat(options(url), second.log);
    assert.equal(second.lines.find((l) => l.level === 'warn')?.reason, 'HTTP 503');
  });

  test('a server that accepts and never answers: no answer within the timeout', async () => {
    const sockets: Socket[] = [];
    const server = createTcpServer((s) => sockets.push(s));
    servers.push({ close: () => (sockets.forEach((s) => s.destroy()), server.close()) });
    const port = await listen(server);
    const { log, lines } = capture();
    assert.equal(await sendHeartbeat(options(`http://127.0.0.1:${port}/x`, 300), log), false);
    assert.equal(lines.find((l) => l.level === 'warn')?.msg, 'heartbeat failed: no answer within 300 ms');
  });

  test('a server that closes the connection without answering', async () => {
    const server = createTcpServer((s) => s.destroy());
    servers.push(server);
    const port = await listen(server);
    const { log, lines } = capture();
    await sendHeartbeat(options(`http://127.0.0.1:${port}/x`), log);
    assert.match(
      lines.find((l) => l.level === 'warn')?.msg ?? '',
      new RegExp(`^heartbeat failed: 127\\.0\\.0\\.1:${port} closed the connection before answering`),
    );
  });
});

describe('failure reasons from the errors fetch raises (no network)', () => {
  const fetchFailed = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause });
  const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

  test('DNS: the host that cannot be resolved', () => {
    assert.deepEqual(failureReason(fetchFailed(errno('ENOTFOUND', 'getaddrinfo ENOTFOUND proxy.example')), 'http://proxy.example:12025/x', 5000), {
      reason: 'cannot resolve proxy.example (ENOTFOUND)',
      code: 'ENOTFOUND',
    });
  });

  test('several addresses refused: the first error of the AggregateError', () => {
    const agg = Object.assign(new AggregateError([errno('ECONNREFUSED', 'connect ECONNREFUSED ::1:12025'), errno('ECONNREFUSED', 'x')], ''), {
      code: 'ECONNREFUSED',
    });
    assert.equal(failureReason(fetchFailed(agg), 'http://localhost:12025/x', 5000).reason, 'connection refused by localhost:12025 (nothing listens there)');
  });

  test('an unknown cause keeps its own message and code; no cause keeps the error message', () => {
    assert.deepEqual(failureReason(fetchFailed(errno('CERT_HAS_EXPIRED', 'certificate has expired')), 'https://p/x', 5000), {
      reason: 'certificate has expired (CERT_HAS_EXPIRED)',
      code: 'CERT_HAS_EXPIRED',
    });
    assert.equal(failureReason(new Error('boom'), 'http://p/x', 5000).reason, 'boom');
  });

  test('refusal bodies: JSON error, text, empty', () => {
    assert.equal(refusalReason(400, '{"code":400,"error":"empty ip"}'), 'HTTP 400: empty ip');
    assert.equal(refusalReason(404, '404 page not found\n'), 'HTTP 404: 404 page not found');
    assert.equal(refusalReason(502, ''), 'HTTP 502');
  });
});
