// The heartbeat sidecar as operators run it: a failed heartbeat is reported with its cause.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAIN_JS } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { run } from '../fixtures/process.js';

test('the CLI (--once) prints the cause and exits 1', async () => {
  const port = await freePort();
  const r = await run(
    process.execPath,
    [MAIN_JS, 'heartbeat', '--once', '--url', `http://127.0.0.1:${port}/api/v1/srs/register`, '--ip', '127.0.0.1', '--rtmp', '1935'],
    30_000,
    {
      env: { PATH: process.env.PATH ?? '', PROXY_LOG_FORMAT: 'json' },
    },
  );
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`connection refused by 127\\.0\\.0\\.1:${port}`));
  assert.doesNotMatch(r.stdout, /fetch failed/);
});
