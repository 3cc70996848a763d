// A short fuzz run of every listener (client side) and of every origin protocol (origin side) against the
// proxy as users run it, with a fixed seed: the proxy stays up, its memory stays bounded, a real publish +
// HLS play works after each listener, and origin heartbeats keep being accepted. `npm run fuzz` is the
// long version (100,000 inputs per listener by default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stopAllPeers } from '../fixtures/process.js';
import { ALL_LISTENERS, runFuzz } from '../fuzz/run.js';

const SEED = 20_261_203;
/** Growth allowed over a short run (connections still timing out, pools, JIT); a leak per input grows far more. */
const RSS_GROWTH_LIMIT_MB = 150;
/**
 * Origin-side attempts in flight: the narrow pool this test has always used, so a few seconds per origin
 * protocol on a busy machine stay light (`npm run fuzz` uses a wide one to reach 100,000 attempts).
 */
const ORIGIN_POOL = 32;

void test(
  'one minute of fuzzing (every listener, then every origin protocol answering garbage) leaves the proxy up and working',
  { timeout: 6 * 60_000 },
  async () => {
    const lines: string[] = [];
    try {
      const report = await runFuzz({ seed: SEED, inputs: 100_000, minutes: 1, listeners: ALL_LISTENERS, originPool: ORIGIN_POOL, log: (l) => lines.push(l) });
      const context = `seed ${SEED}:\n${lines.join('\n')}`;
      assert.equal(report.listeners.length, ALL_LISTENERS.length, context);
      for (const r of report.listeners) {
        assert.equal(r.crashed, false, `${r.listener} crashed the proxy (${r.failureFile}); ${context}`);
        assert.ok(r.inputs > 0, `${r.listener}: no input delivered; ${context}`);
        assert.ok(r.check.ok, `${r.listener}: publish + HLS play failed after fuzzing (${r.check.detail}); ${context}`);
        assert.ok(
          r.after.rssMb - report.startRssMb < RSS_GROWTH_LIMIT_MB,
          `${r.listener}: RSS ${report.startRssMb.toFixed(0)} → ${r.after.rssMb.toFixed(0)} MB; ${context}`,
        );
      }
      for (const r of report.listeners.filter((l) => l.outcomes)) {
        const outcomes = r.outcomes!;
        // HTTP and WHIP attempts must always end with a status or a close; SRT callers may see no answer when
        // the rejection is lost, and an RTMP session may still be relaying when the garbage origin accepted it.
        if (r.listener === 'origin-http' || r.listener === 'origin-whip') {
          assert.equal(outcomes['no answer'] ?? 0, 0, `${r.listener}: attempts were left hanging: ${JSON.stringify(outcomes)}`);
        }
        assert.ok(!outcomes['bytes that are not an HTTP status line'], `${r.listener}: the proxy passed garbage on as its answer: ${JSON.stringify(outcomes)}`);
      }
      assert.equal(report.heartbeats.refused, 0, `heartbeats refused or failed during the run: ${report.heartbeats.failures.join('; ')}; ${context}`);
      assert.ok(report.proxyUp, context);
    } finally {
      await stopAllPeers();
    }
  },
);
