// The fuzz runner with many inputs in flight: when the proxy goes down, the failure file holds every input
// that was still being delivered (however long ago it started), the last ones delivered, and the one during
// which the proxy exited, so `--replay` has what may have caused the crash. The proxy and the target are
// fakes here: only the runner's bookkeeping is under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import type { FuzzEnv } from '../fuzz/env.js';
import { fuzzListener, type FailureFile } from '../fuzz/runner.js';
import type { FuzzInput, FuzzTarget } from '../fuzz/target.js';

void test('a crash saves the inputs in flight, even those started hundreds of inputs earlier', async () => {
  const peer = { hasExited: false, output: 'proxy output' };
  const env = { proxy: { peer }, figures: () => ({ rssMb: 1, heapUsedMb: 1, fds: 1 }) } as unknown as FuzzEnv;
  const STUCK = 8;
  const CRASH_AT = 600;
  const release: (() => void)[] = [];
  const target: FuzzTarget = {
    name: 'fake',
    transport: 'tcp',
    port: 1,
    concurrency: 16,
    generate: (_rng, index): FuzzInput => ({ label: `#${index}`, parts: [Buffer.from([index & 0xff])] }),
    async deliver(input) {
      const index = Number(input.label.slice(1));
      // The first inputs hang (a connection the proxy holds open) until the run is over.
      if (index < STUCK) return new Promise<void>((resolve) => release.push(resolve));
      if (index === CRASH_AT) peer.hasExited = true;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
  const run = fuzzListener(env, target, 0, 1, { inputs: 10_000, timeMs: 60_000 }, () => undefined);
  // The runner stops starting inputs at the crash; then the stuck ones end (the sockets close with the proxy).
  while (!peer.hasExited) await new Promise((resolve) => setImmediate(resolve));
  while (release.length < STUCK) await new Promise((resolve) => setImmediate(resolve));
  for (const r of release) r();
  const report = await run;
  assert.equal(report.crashed, true);
  assert.ok(report.failureFile);
  try {
    const file = JSON.parse(readFileSync(report.failureFile, 'utf8')) as FailureFile;
    const saved = file.inputs.map((i) => i.index);
    for (let i = 0; i < STUCK; i++) assert.ok(saved.includes(i), `stuck input ${i} missing from ${saved.slice(0, 20).join(',')}…`);
    assert.ok(saved.includes(CRASH_AT), 'the input during which the proxy exited is saved');
    assert.ok(saved.includes(CRASH_AT - 1), 'the inputs just before are saved');
    assert.deepEqual(
      saved,
      [...saved].sort((a, b) => a - b),
      'saved in input order',
    );
    assert.equal(new Set(saved).size, saved.length, 'each input once');
    assert.ok(saved.length <= 256 + target.concurrency + 1, `bounded: ${saved.length}`);
    assert.equal(file.inputs.find((i) => i.index === 3)!.parts[0], Buffer.from([3]).toString('base64'));
  } finally {
    rmSync(report.failureFile, { force: true });
  }
});
