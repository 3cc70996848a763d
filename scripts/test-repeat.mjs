#!/usr/bin/env node
// Proves the suite is not flaky: runs every tier N times in a row (default 5), then once more with a
// CPU hog on every core (stress-ng --cpu, or a busy loop per core when stress-ng is absent).
// Prints each run's wall time and counts; exits non-zero if any run had a failure.
// Usage: node scripts/test-repeat.mjs [runs] [--no-hog] [--hog-only] [test/… prefixes]   (after `npm run build`)
// Each run's full output is kept in a temporary folder, named at the end.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
const hogOnly = args.includes('--hog-only');
const withHog = !args.includes('--no-hog');
const filters = args.filter((a) => a.startsWith('test/'));
const logs = mkdtempSync(join(tmpdir(), 'origin-proxy-repeat-'));
const cores = availableParallelism();

/** Starts the CPU hog; returns its stop function and a description. */
function startHog() {
  const hasStressNg = spawnSync('stress-ng', ['--version'], { stdio: 'ignore' }).status === 0;
  if (hasStressNg) {
    const child = spawn('stress-ng', ['--cpu', String(cores), '--quiet'], { stdio: 'ignore' });
    return { what: `stress-ng --cpu ${cores}`, stop: () => stopChild(child) };
  }
  const children = Array.from({ length: cores }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return { what: `${cores} busy loop${cores === 1 ? '' : 's'}`, stop: () => Promise.all(children.map(stopChild)) };
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

/** One full run of scripts/test.mjs; its output goes to a log file. */
function runSuite(label) {
  const file = join(logs, `${label}.log`);
  const out = createWriteStream(file);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'test.mjs'), ...filters], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let tail = '';
    const keep = (d) => {
      out.write(d);
      tail = (tail + d.toString('utf8')).slice(-200_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => {
      children.delete(child);
      out.end();
      const last = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/m.exec(tail.split('\n').filter(Boolean).at(-1) ?? '');
      const failedTests = [...new Set([...tail.matchAll(/^\s*✖ (.+?)(?: \([\d.]+m?s\))?$/gm)].map((m) => m[1]).filter((t) => t !== 'failing tests:'))];
      resolve({
        label,
        file,
        code,
        seconds: (Date.now() - t0) / 1000,
        passed: last ? Number(last[1]) : 0,
        failed: last ? Number(last[2]) : 1,
        skipped: last?.[3] ? Number(last[3]) : 0,
        failedTests,
      });
    });
  });
}

function report(r) {
  const ok = r.code === 0 && r.failed === 0;
  console.log(
    `${r.label.padEnd(10)} ${ok ? 'ok  ' : 'FAIL'} ${String(r.passed).padStart(4)} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}  wall ${r.seconds.toFixed(1)} s`,
  );
  for (const t of r.failedTests.slice(0, 10)) console.log(`             ✖ ${t}`);
}

// Stopped by a signal: end the running suite and the hog too (both are this script's children).
const children = new Set();
const hogs = [];
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(hogs.map((h) => h.stop()));
    process.exit(130);
  });
}

const results = [];
if (!hogOnly) {
  for (let i = 1; i <= runs; i++) {
    const r = await runSuite(`run ${i}/${runs}`.replace(/[ /]/g, '-'));
    r.label = `run ${i}/${runs}`;
    report(r);
    results.push(r);
  }
}
if (withHog || hogOnly) {
  const hog = startHog();
  hogs.push(hog);
  console.log(`(CPU hog: ${hog.what})`);
  try {
    const r = await runSuite('with-cpu-hog');
    r.label = 'CPU hog';
    report(r);
    results.push(r);
  } finally {
    await hog.stop();
  }
}
const bad = results.filter((r) => r.code !== 0 || r.failed > 0);
console.log(`logs: ${logs}`);
console.log(`${results.length - bad.length} of ${results.length} runs green`);
process.exit(bad.length === 0 ? 0 : 1);
