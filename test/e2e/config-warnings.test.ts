// The proxy process warns about likely misconfiguration at startup and still serves.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy } from '../fixtures/proxy.js';

after(stopAllPeers);

test('a typo, a force-quit shorter than the drain and port 0: three warnings, and the proxy serves', async () => {
  const proxy = await startProxy({
    env: { PROXY_REDIS_HOTS: '10.0.0.1', PROXY_GRACE_QUIT_TIMEOUT: '10s', PROXY_FORCE_QUIT_TIMEOUT: '2s', PROXY_SRT_SERVER: '127.0.0.1:0' },
  });
  const warnings = proxy.peer.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number | string; msg: string })
    .filter((l) => l.level === 40 || l.level === 'warn')
    .map((l) => l.msg);
  assert.ok(warnings.includes('unknown variable PROXY_REDIS_HOTS is ignored; did you mean PROXY_REDIS_HOST?'), proxy.peer.output);
  assert.ok(
    warnings.some((w) => w.startsWith('PROXY_FORCE_QUIT_TIMEOUT (2000 ms) is shorter than PROXY_GRACE_QUIT_TIMEOUT (10000 ms)')),
    proxy.peer.output,
  );
  assert.ok(
    warnings.some((w) => w.startsWith('PROXY_SRT_SERVER has port 0')),
    proxy.peer.output,
  );
  const res = await fetch(`${proxy.systemApi}/api/v1/versions`);
  assert.equal(res.status, 200);
  await proxy.stop();
});
