// One dial time per origin: an origin whose three RTMP endpoints are silent (they accept nothing and
// answer nothing: their accept queues are full and the kernel drops every further SYN) costs an RTMP
// publisher one PROXY_DIAL_TIMEOUT, not three; then the publish fails over to a real nginx-rtmp
// origin. Asserted on the proxy's own dial counters (one dial timed out, two endpoints skipped), not
// on elapsed time (timings belong in the failover benchmark).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { startSilentPorts, type SilentPorts } from '../fixtures/silent-listener.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

describe('an origin whose every endpoint is silent costs one dial time in total', () => {
  let proxy: RunningProxy;
  let silent: SilentPorts;

  before(async () => {
    silent = await startSilentPorts(3);
    const ports = silent.ports;
    const nginx = await startNginxRtmp();
    // Probes off: the silent origin stays eligible, so only the dial budget bounds what it costs.
    proxy = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0', PROXY_DIAL_TIMEOUT: '1s' } });
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'silent', service: 'svc', pid: '1', rtmp: ports.map(String) });
    // The live origin reports a busy CPU, so new streams go to the silent one first.
    const summaries = { data: { ok: true, now_ms: 1, self: {}, system: { cpu_percent: 0.95 } } };
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'live', service: 'svc', pid: '1', rtmp: [String(nginx.rtmpPort)], summaries });
  });
  after(async () => {
    await proxy?.stop();
    await silent?.stop();
  });

  test('an RTMP publish picked onto it fails over after one timed-out dial, its other endpoints skipped', async () => {
    const before = (await proxy.stats()).routing.dials;
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`, { timeoutMs: 10_000, ackEverySegment: true });
    try {
      const info = await client.start('publish', 'budget', await client.createStream());
      assert.equal(String(info.get('code')), 'NetStream.Publish.Start');
    } finally {
      client.close();
    }
    const pins = await waitFor(
      async () => {
        const r = (await (await fetch(`${proxy.systemApi}/api/v1/streams`)).json()) as { streams: { stream: string; server: string }[] };
        return r.streams.find((p) => p.stream === '__defaultVhost__/live/budget');
      },
      { what: 'the stream pinned' },
    );
    assert.equal(pins.server, 'live', 'the publish landed on the live origin');
    const after = (await proxy.stats()).routing.dials;
    assert.deepEqual(
      { failed: after.failed - before.failed, skipped: after.skipped - before.skipped, ok: after.ok - before.ok },
      { failed: 1, skipped: 2, ok: 1 },
      'one dial timed out on the silent origin, its two other endpoints skipped, then the live origin',
    );
  });
});
