// The proxy's own readiness state, in process: every listener unbound before start, ready after,
// draining from the moment stop() begins (while the system API still answers).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { LISTENER_VARIABLES, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { waitFor } from '../fixtures/wait.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

test('unbound before start, ready after, draining during stop while the system API still answers', async () => {
  const env = {
    ...LOOPBACK_EPHEMERAL_LISTENERS,
    PROXY_METRICS_LISTEN: '127.0.0.1:0',
  };
  const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
  const proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }) });
  const before = proxy.readiness();
  assert.deepEqual([...before.unbound].sort(), [...Object.values(LISTENER_VARIABLES), 'PROXY_RTSP_SERVER', 'PROXY_METRICS_LISTEN'].sort());
  assert.equal(before.draining, false);
  await proxy.start();
  const api = `http://127.0.0.1:${proxy.address('systemApi').port}`;
  try {
    assert.deepEqual(proxy.readiness(), { unbound: [], balancer: { usable: true, mode: 'memory' }, draining: false });
    assert.equal((await fetch(`${api}/readyz`)).status, 200);
    // A client connection held open on the RTMP port keeps the drain going.
    const held = connect(proxy.address('rtmp').port, '127.0.0.1');
    held.on('error', () => undefined);
    await new Promise((r) => held.once('connect', r));
    const stopped = proxy.stop(5000);
    assert.equal(proxy.readiness().draining, true, 'draining at once');
    const res = await fetch(`${api}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { reason: string }).reason, 'draining');
    held.destroy();
    await stopped;
    await waitFor(
      async () =>
        fetch(`${api}/readyz`).then(
          () => false,
          () => true,
        ),
      { what: 'system API closed after the drain' },
    );
  } finally {
    await proxy.stop(0);
  }
});

test('the console names the ports the listeners are bound to when they were configured as 0', async () => {
  const env = {
    ...LOOPBACK_EPHEMERAL_LISTENERS,
  };
  const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
  const proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }) });
  await proxy.start();
  try {
    const httpServer = proxy.address('httpServer').port;
    const httpApi = proxy.address('httpApi').port;
    assert.ok(httpServer > 0 && httpApi > 0);
    const res = await fetch(`http://127.0.0.1:${proxy.address('systemApi').port}/console/config.json`);
    assert.deepEqual(await res.json(), { httpServer, httpApi, tokenRequired: false });
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, new RegExp(`connect-src 'self' http://\\*:${httpServer} https://\\*:${httpServer} http://\\*:${httpApi} https://\\*:${httpApi}`));
  } finally {
    await proxy.stop(0);
  }
});
