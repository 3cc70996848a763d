// Origin probes when the proxy itself stalls (a long GC, a starved CPU): an origin that answered while the
// process was not running must not be declared late, since its answer is already waiting in the socket.
// Each stall is a synchronous busy loop started right after the probe's connect was issued, so the kernel
// completes the loopback connection (and the origin answers) during it.
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fairTimeout } from '../../src/net/fair-timeout.js';
import { netProbeDialer } from '../../src/health/probe-dialer.js';
import { Prober } from '../../src/health/prober.js';

function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // the process is not running its event loop
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('probes across a stall of the proxy', () => {
  const sockets = new Set<Socket>();
  const keep = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined).once('close', () => sockets.delete(s));
  };
  const tcp = createServer(keep);
  const silent = createServer(keep); // accepts, never answers
  const http = createHttpServer((_req, res) => res.end('{}'));
  let ports: { tcp: number; silent: number; http: number };
  before(async () => {
    ports = { tcp: await listen(tcp), silent: await listen(silent), http: await listen(http as unknown as Server) };
  });
  after(() => {
    for (const s of sockets) s.destroy();
    tcp.close();
    silent.close();
    http.close();
  });

  test('a TCP probe whose connection completed during the stall passes', async () => {
    const probe = netProbeDialer.tcp('127.0.0.1', ports.tcp, 50);
    process.nextTick(() => stall(300));
    await probe;
  });

  test('an HTTP probe stalled before its request was even written gets a fresh window, and passes', async () => {
    const probe = netProbeDialer.httpGet('127.0.0.1', ports.http, '/api/v1/versions', 100);
    process.nextTick(() => stall(400));
    assert.equal(await probe, 200);
  });

  test('an origin that never answers still fails, with or without a stall (the window is re-armed once only)', async () => {
    await assert.rejects(netProbeDialer.httpGet('127.0.0.1', ports.silent, '/api/v1/versions', 100), /got no answer within 100 ms/);
    const stalled = netProbeDialer.httpGet('127.0.0.1', ports.silent, '/api/v1/versions', 100);
    process.nextTick(() => stall(300));
    await assert.rejects(stalled, /got no answer within 100 ms/);
  });

  test('the prober keeps an origin up across a stall longer than its interval', async () => {
    const changes: unknown[] = [];
    const prober = new Prober({ intervalMs: 100, fails: 1, dialer: netProbeDialer, onChange: (c) => changes.push(c) });
    prober.setTargets([{ originId: 'o-1', serverId: 'o', rtmp: { host: '127.0.0.1', port: ports.tcp }, api: { host: '127.0.0.1', port: ports.http } }]);
    prober.tick();
    process.nextTick(() => stall(500));
    while (prober.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    assert.equal(prober.verdict('o-1')?.up, true);
    assert.deepEqual(changes, []);
    prober.stop();
  });

  test('fairTimeout: cleared before it fires, it never runs; not stalled, it runs once on time', async () => {
    let ran = 0;
    const t = fairTimeout(() => ran++, 20);
    t.clear();
    t.clear();
    const fired = new Promise<void>((resolve) => fairTimeout(resolve, 20));
    await fired;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(ran, 0);
  });
});
