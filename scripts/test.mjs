#!/usr/bin/env node
// Runs the compiled tests (dist/test/**/*.test.js) with Node's test runner, tier by tier:
//   unit         codecs and pure logic; no process, no socket (runs on a fresh clone without peers)
//   integration  in-process servers on loopback sockets, redis-server
//   e2e          the proxy as a child process against real peers
// Usage: node scripts/test.mjs [--coverage] [--file-timeout=<seconds>] [dir-or-file-prefix under test/ ...]
//   no prefix: every tier, in the order above. --coverage: line coverage of src/ (c8) at the end.
//   --file-timeout: how long one test file may run before it is killed (default 300).
// Each integration and e2e file runs in a process group of its own, killed whole when the file ends, times
// out or the run is cancelled: no peer a test started outlives its file.
// Prints each tier's counts and wall time; the last line is "N passed, N failed" (CI reads it).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const TIERS = ['unit', 'integration', 'e2e'];
const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    // Only tests whose source still exists: a moved or deleted test leaves its old build in dist/.
    else if (name.endsWith('.test.js') && existsSync(join(root, relative(dist, p)).replace(/\.js$/, '.ts'))) out.push(p);
  }
  return out;
}

const argv = process.argv.slice(2);
const coverage = argv.includes('--coverage');
// Per file (and per test): 5 minutes unless --file-timeout=<seconds> says otherwise.
const timeoutArg = argv.find((a) => a.startsWith('--file-timeout='));
const fileTimeoutMs = timeoutArg ? Math.round(Number(timeoutArg.slice('--file-timeout='.length)) * 1000) : 300_000;
if (!(fileTimeoutMs > 0)) {
  console.error(`bad ${timeoutArg}: want a number of seconds`);
  process.exit(1);
}
const filters = argv
  .filter((a) => a !== '--coverage' && a !== timeoutArg)
  .map((f) =>
    f
      .replace(/\.ts$/, '')
      .replace(/^dist\//, '')
      .replace(/^\.\//, ''),
  );
let all;
try {
  all = walk(join(dist, 'test')).sort();
} catch (err) {
  console.error(`no compiled tests (${err.code ?? err.message}): run \`npm run build\` first`);
  process.exit(1);
}
const chosen = filters.length ? all.filter((f) => filters.some((flt) => relative(dist, f).startsWith(flt))) : all;
if (chosen.length === 0) {
  console.error('no test files matched', filters);
  process.exit(1);
}

/** Files grouped by tier (the folder under test/), tiers in TIERS order, any other folder last. */
function byTier(files) {
  const groups = new Map();
  for (const f of files) {
    const tier = relative(join(dist, 'test'), f).split('/')[0];
    if (!groups.has(tier)) groups.set(tier, []);
    groups.get(tier).push(f);
  }
  const rank = (t) => (TIERS.includes(t) ? TIERS.indexOf(t) : TIERS.length);
  return [...groups.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

/**
 * Pids of the processes whose environment holds `marker` (`NAME=value`). /proc/<pid>/environ is what the
 * process was started with, so a process that left its group (Playwright starts Chromium with setsid) still
 * carries the marker it inherited.
 */
function pidsMarked(marker) {
  const needle = Buffer.from(`\0${marker}\0`);
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`)]).includes(needle)) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

let groupCount = 0;

/**
 * Runs `node --test` over `files` in a process group of its own and echoes its output. Every process a test
 * file starts (peers, proxies, their workers) is in that group, and carries TEST_RUN_GROUP in its environment
 * unless it was started with an environment of its own. Once the runner's process has exited, or the file
 * timed out, or this run is cancelled, the whole group and every process so marked get SIGKILL: nothing a
 * killed test file started outlives it (a file node's runner kills on its timeout dies by SIGTERM and runs
 * no exit handler of its own, and Playwright starts Chromium in a session of its own).
 */
function runGroup(files, concurrency, baseEnv) {
  const marker = `TEST_RUN_GROUP=${process.pid}-${++groupCount}`;
  const env = { ...baseEnv, TEST_RUN_GROUP: marker.slice('TEST_RUN_GROUP='.length) };
  // A hung test fails after fileTimeoutMs instead of holding the suite (and CI) forever; node's runner
  // gives each file (and each test in it) that long, then SIGTERMs the file's process.
  const args = ['--enable-source-maps', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, `--test-timeout=${fileTimeoutMs}`, ...files];
  return new Promise((resolve) => {
    // detached: setsid(), so the child leads a new process group (pgid = its pid) that its descendants join.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env, detached: true });
    const killGroup = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        // the group is empty: everything in it has exited
      }
      // A marked process that leads a group of its own (Chromium) takes that group with it: its helpers
      // rewrite their environment (the process title) and carry no marker.
      for (const pid of pidsMarked(marker)) {
        for (const target of [-pid, pid]) {
          try {
            process.kill(target, sig);
          } catch {
            // not a group leader, or exited meanwhile
          }
        }
      }
    };
    let tail = '';
    // The runner's summary counts, read as they pass: a long failure list after them outgrows the tail.
    const seen = new Map();
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString('utf8')).slice(-8192);
      for (const m of tail.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)\r?\n/gm)) seen.set(m[1], Number(m[2]));
    });
    // Backstop for one file: node's own timeout should have ended it long before.
    const backstop = files.length === 1 ? setTimeout(() => killGroup('SIGKILL'), fileTimeoutMs + 60_000) : undefined;
    const cancel = () => {
      // SIGTERM lets node's runner report what was cancelled; SIGKILL follows for anything that stays.
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 5000).unref();
    };
    cancellers.add(cancel);
    child.on('close', (code, signal) => {
      clearTimeout(backstop);
      cancellers.delete(cancel);
      killGroup('SIGKILL');
      const plain = tail.replace(/\x1b\[[0-9;]*m/g, '');
      const count = (name) => seen.get(name);
      const passed = count('pass');
      const failed = count('fail');
      // The runner's own list of failures, repeated at the very end so a log's last lines show them.
      const at = plain.lastIndexOf('✖ failing tests:');
      const failures = at >= 0 ? plain.slice(at, at + 4000).trim() : '';
      resolve({
        failures,
        code: code ?? (signal ? 1 : 0),
        passed: passed ?? 0,
        // A runner that died before its summary counts as one failure.
        failed: failed ?? (code === 0 ? 0 : 1),
        skipped: (count('skipped') ?? 0) + (count('todo') ?? 0),
        cancelled: count('cancelled') ?? 0,
      });
    });
  });
}

/** Runs one tier; returns its summary counts. */
async function runTier(tier, files, env) {
  // Unit files use no process or socket: they run side by side in one group. Integration and e2e files run
  // one at a time, each in a group of its own: they start peers and time things, and the CI machine has 2 cores.
  if (tier === 'unit') return runGroup(files, Math.max(1, availableParallelism()), env);
  const total = { failures: '', code: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const file of files) {
    if (cancelled) break;
    const r = await runGroup([file], 1, env);
    if (r.failures) total.failures = `${total.failures}\n${r.failures}`.trim();
    total.code ||= r.code;
    for (const k of ['passed', 'failed', 'skipped', 'cancelled']) total[k] += r[k];
  }
  return total;
}

/** Cancelling a run (SIGINT, SIGTERM) kills the running group and runs no further file. */
const cancellers = new Set();
let cancelled = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cancelled = true;
    for (const c of cancellers) c();
  });
}

const env = { ...process.env };
if (process.stdout.isTTY && env.FORCE_COLOR === undefined) env.FORCE_COLOR = '1';
const coverageDir = coverage ? mkdtempSync(join(tmpdir(), 'origin-proxy-coverage-')) : undefined;
if (coverageDir) env.NODE_V8_COVERAGE = coverageDir;

const started = Date.now();
const results = [];
for (const [tier, files] of byTier(chosen)) {
  console.log(`\n=== ${tier}: ${files.length} file${files.length === 1 ? '' : 's'} ===`);
  const t0 = Date.now();
  const r = await runTier(tier, files, env);
  results.push({ tier, ...r, seconds: (Date.now() - t0) / 1000 });
  if (cancelled) break;
}
const wallSeconds = (Date.now() - started) / 1000;

if (coverageDir && cancelled) rmSync(coverageDir, { recursive: true, force: true });
else if (coverageDir) {
  console.log('\n=== coverage of src/ (lines, branches, functions; unit + integration + e2e, the proxy processes included) ===');
  const c8 = join(root, 'node_modules', 'c8', 'bin', 'c8.js');
  const r = spawnSync(
    process.execPath,
    [
      c8,
      'report',
      '--temp-directory',
      coverageDir,
      '--reports-dir',
      join(coverageDir, 'report'),
      '--reporter=text',
      '--all',
      '--src',
      join(dist, 'src'),
      '--include',
      'dist/src/**',
      '--exclude-after-remap',
      '--include',
      'src/**',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (r.status !== 0) console.log(`(coverage report failed: exit ${r.status})`);
  rmSync(coverageDir, { recursive: true, force: true });
}

const sum = (k) => results.reduce((n, r) => n + r[k], 0);
for (const r of results.filter((x) => x.failures)) console.log(`\n=== ${r.tier}: failures ===\n${r.failures}`);
console.log('');
for (const r of results) {
  const extra = [r.skipped ? `${r.skipped} skipped` : '', r.cancelled ? `${r.cancelled} cancelled` : ''].filter(Boolean).join(', ');
  console.log(`tier ${r.tier.padEnd(12)} ${String(r.passed).padStart(4)} passed, ${r.failed} failed${extra ? `, ${extra}` : ''} in ${r.seconds.toFixed(1)} s`);
}
console.log(`wall time: ${wallSeconds.toFixed(1)} s`);
const skipped = sum('skipped');
console.log(`${sum('passed')} passed, ${sum('failed') + sum('cancelled')} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(!cancelled && results.every((r) => r.code === 0) ? 0 : 1);
