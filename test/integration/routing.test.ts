// Routing decisions reached through the real register API (spec scenarios 19, 20, 22-24).
// The protocol listeners that would call pick() land in their own issues; until then the proxy runs
// in-process so the test can drive its clock and ask its balancer directly.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NoOriginError } from '../../src/balancer/balancer.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { registerOrigin } from '../fixtures/proxy.js';
import { LOOPBACK_EPHEMERAL_LISTENERS } from '../fixtures/ports.js';

const clock = { t: Date.now() };
const EXPIRE_MS = 30_000;

function body(server: string, rtmp: string) {
  return { ip: '127.0.0.1', server, service: 'svc', pid: '1', rtmp: [rtmp], http: ['8080'] };
}

describe('routing through the register API', () => {
  let proxy: OriginProxy;
  let api: string;
  before(async () => {
    const env = {
      ...LOOPBACK_EPHEMERAL_LISTENERS,
      PROXY_ORIGIN_EXPIRE: '30s',
      // These scenarios are about heartbeats and the driven clock. Probes of the unlistened ports
      // would mark fo1 suspect before fo2 is probed, and every pick in between would avoid fo1.
      PROXY_HEALTH_INTERVAL: '0',
    };
    const { config } = loadConfig({ env, cwd: '/', readDotenv: () => undefined });
    proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }), now: () => clock.t });
    await proxy.start();
    api = `http://127.0.0.1:${proxy.address('systemApi').port}`;
  });
  after(() => proxy.stop(0));

  test('scenario 19: no origin registered → no pick', async () => {
    await assert.rejects(proxy.balancer.pick('__defaultVhost__/live/livestream'), NoOriginError);
  });

  test('scenario 20: two origins, 100 distinct streams → both used', async () => {
    await registerOrigin(api, body('fo1', '19351'));
    await registerOrigin(api, body('fo2', '19352'));
    const used = new Set<string>();
    for (let i = 0; i < 100; i++) used.add((await proxy.balancer.pick(`__defaultVhost__/live/s${i}`)).serverId);
    assert.deepEqual([...used].sort(), ['fo1', 'fo2']);
  });

  test('scenario 22: fo1 silent past the expiry, fo2 alive → new streams go to fo2', async () => {
    clock.t += EXPIRE_MS + 1;
    await registerOrigin(api, body('fo2', '19352'));
    for (let i = 0; i < 30; i++) assert.equal((await proxy.balancer.pick(`__defaultVhost__/live/new${i}`)).serverId, 'fo2');
  });

  test('scenario 24 (improved): a stream pinned to dead fo1 moves to fo2', async () => {
    // Find a stream that was pinned to fo1 in scenario 20.
    const pins = await proxy.balancer.pins(1000);
    const onFo1 = pins.find((p) => p.serverId === 'fo1');
    assert.ok(onFo1, 'some stream was pinned to fo1');
    assert.equal((await proxy.balancer.pick(onFo1.streamKey)).serverId, 'fo2');
  });

  test('scenario 23: only stale origins left → still used (fallback)', async () => {
    clock.t += EXPIRE_MS + 1;
    const o = await proxy.balancer.pick('__defaultVhost__/live/fallback');
    assert.ok(['fo1', 'fo2'].includes(o.serverId));
    const view = (await (await fetch(`${api}/api/v1/origins`)).json()) as { origins: { alive: boolean }[] };
    assert.ok(view.origins.every((x) => !x.alive));
  });
});
