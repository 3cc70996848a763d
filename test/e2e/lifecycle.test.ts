// The proxy as users run it: configuration, startup failures, signals and exit codes
// (spec scenarios 1-5 and 7, issue: foundation).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from '../fixtures/ports.js';
import { MAIN_JS, tempDir } from '../fixtures/paths.js';
import { run, startPeer, stopAllPeers, type Peer } from '../fixtures/process.js';
import { startProxy } from '../fixtures/proxy.js';

after(stopAllPeers);

interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

function logLines(peer: Peer): LogLine[] {
  return peer.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

function listening(peer: Peer, variable: string): LogLine | undefined {
  return logLines(peer).find((l) => l.msg === 'listening' && l.listener === variable);
}

async function exitWithin(peer: Peer, ms: number) {
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  return Promise.race([peer.exited, timer]);
}

describe('startup', () => {
  test('scenario 1: no env, no .env, default static folder missing → starts with a warning', async () => {
    const tmp = tempDir('cwd');
    try {
      const proxy = await startProxy({ cwd: tmp.dir });
      const warn = logLines(proxy.peer).find((l) => l.level === 'warn' && /static files off/.test(l.msg));
      assert.ok(warn, proxy.peer.output);
      const res = await fetch(`${proxy.systemApi}/api/v1/versions`);
      assert.equal(res.status, 200);
      await proxy.stop();
    } finally {
      tmp.remove();
    }
  });

  test('scenarios 2-3: .env supplies unset variables, the environment wins', async () => {
    const tmp = tempDir('dotenv');
    const dotenvApi = await freePort();
    try {
      writeFileSync(join(tmp.dir, '.env'), `PROXY_RTMP_SERVER=1936\nPROXY_HTTP_API=127.0.0.1:${dotenvApi}\n# comment\nPROXY_LOG_LEVEL="debug"\n`);
      // Scenario 2: the environment's PROXY_RTMP_SERVER beats the file's.
      const proxy = await startProxy({ cwd: tmp.dir, env: { PROXY_RTMP_SERVER: '1937' } });
      const effective = logLines(proxy.peer).find((l) => l.msg === 'origin-proxy starting')?.config as Record<string, string>;
      assert.equal(effective.PROXY_RTMP_SERVER, '1937');
      await proxy.stop();

      // Scenario 3: PROXY_HTTP_API absent from the environment → the file's value is used.
      const env = {
        PATH: process.env.PATH ?? '',
        PROXY_SYSTEM_API: `127.0.0.1:${await freePort()}`,
        PROXY_HTTP_SERVER: `127.0.0.1:${await freePort()}`,
        PROXY_LOG_FORMAT: 'json',
      };
      const peer = startPeer('proxy', process.execPath, [MAIN_JS], { cwd: tmp.dir, env });
      await peer.waitForOutput(/origin-proxy started/);
      assert.equal(listening(peer, 'PROXY_HTTP_API')?.port, dotenvApi);
      const res = await fetch(`http://127.0.0.1:${dotenvApi}/api/v1/versions`);
      assert.equal(res.status, 200);
      await peer.stop();
    } finally {
      tmp.remove();
    }
  });

  test('scenario 4: a bare-number timeout stops startup with a message naming the variable', async () => {
    const r = await run(process.execPath, [MAIN_JS], 10_000, { env: { PATH: process.env.PATH ?? '', PROXY_GRACE_QUIT_TIMEOUT: '20' } });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /PROXY_GRACE_QUIT_TIMEOUT="20"/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });

  test('an unknown load balancer type is fatal', async () => {
    const r = await run(process.execPath, [MAIN_JS], 10_000, { env: { PATH: process.env.PATH ?? '', PROXY_LOAD_BALANCER_TYPE: 'etcd' } });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /PROXY_LOAD_BALANCER_TYPE="etcd"/);
  });

  test('scenario 5: ip:port listens on that address only', async () => {
    const proxy = await startProxy();
    assert.equal(listening(proxy.peer, 'PROXY_SYSTEM_API')?.address, '127.0.0.1');
    assert.equal(listening(proxy.peer, 'PROXY_SYSTEM_API')?.port, proxy.ports.systemApi);
    await proxy.stop();
  });

  test('a port already in use stops startup naming the variable; nothing is left listening', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const proxy = await startProxy({ env: { PROXY_HTTP_SERVER: `127.0.0.1:${port}` }, waitReady: false });
      const { code } = await proxy.peer.exited;
      assert.equal(code, 255);
      assert.match(proxy.peer.output, /PROXY_HTTP_SERVER="127\.0\.0\.1:\d+": cannot listen: EADDRINUSE/);
      // The listeners started before the failing one were closed again.
      await assert.rejects(fetch(`${proxy.systemApi}/api/v1/versions`));
    } finally {
      blocker.close();
    }
  });

  test('the Redis password never reaches the log', async () => {
    const proxy = await startProxy({ env: { PROXY_REDIS_PASSWORD: 'hunter2-secret', PROXY_REGISTER_TOKEN: 'tok-secret-9' } });
    await proxy.stop();
    assert.ok(!proxy.peer.output.includes('hunter2-secret'));
    assert.ok(!proxy.peer.output.includes('tok-secret-9'));
    assert.match(proxy.peer.output, /"PROXY_REDIS_PASSWORD":"\*\*\*\*\*\*"/);
  });

  test('text logs when PROXY_LOG_FORMAT=text', async () => {
    const proxy = await startProxy({ env: { PROXY_LOG_FORMAT: 'text' } });
    await proxy.stop();
    assert.match(proxy.peer.output, /INFO.*origin-proxy started/);
    assert.ok(!proxy.peer.output.includes('{"level"'));
  });
});

describe('shutdown', () => {
  test('scenario 7: idle proxy, SIGTERM → exits 0 promptly and logs done', async () => {
    const proxy = await startProxy();
    const t0 = Date.now();
    proxy.peer.child.kill('SIGTERM');
    const { code } = await proxy.peer.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 3000, 'prompt');
    assert.match(proxy.peer.output, /origin-proxy done/);
  });

  /** Opens a request that stays in flight: headers plus half of the declared body. */
  async function inFlightRequest(port: number) {
    const s = connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('POST /api/v1/srs/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ip":');
    s.on('error', () => {});
    return s;
  }

  test('an in-flight request is drained for PROXY_GRACE_QUIT_TIMEOUT, then cut; exit 0', async () => {
    const proxy = await startProxy({ env: { PROXY_GRACE_QUIT_TIMEOUT: '800ms', PROXY_FORCE_QUIT_TIMEOUT: '10s' } });
    const s = await inFlightRequest(proxy.ports.systemApi);
    const t0 = Date.now();
    proxy.peer.child.kill('SIGTERM');
    assert.equal(await exitWithin(proxy.peer, 400), 'timeout', 'still draining');
    const { code } = await proxy.peer.exited;
    const took = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(took >= 700 && took < 5000, `took ${took} ms`);
    s.destroy();
  });

  test('PROXY_FORCE_QUIT_TIMEOUT ends a drain that takes too long, exit 1', async () => {
    const proxy = await startProxy({ env: { PROXY_GRACE_QUIT_TIMEOUT: '30s', PROXY_FORCE_QUIT_TIMEOUT: '700ms' } });
    const s = await inFlightRequest(proxy.ports.systemApi);
    proxy.peer.child.kill('SIGTERM');
    const { code } = await proxy.peer.exited;
    assert.equal(code, 1);
    assert.match(proxy.peer.output, /force exit/);
    s.destroy();
  });

  test('a second signal forces exit at once', async () => {
    const proxy = await startProxy({ env: { PROXY_GRACE_QUIT_TIMEOUT: '30s', PROXY_FORCE_QUIT_TIMEOUT: '60s' } });
    const s = await inFlightRequest(proxy.ports.systemApi);
    proxy.peer.child.kill('SIGTERM');
    assert.equal(await exitWithin(proxy.peer, 300), 'timeout');
    proxy.peer.child.kill('SIGINT');
    const r = await exitWithin(proxy.peer, 3000);
    assert.notEqual(r, 'timeout');
    assert.equal((r as { code: number }).code, 1);
    s.destroy();
  });
});
