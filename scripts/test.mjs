#!/usr/bin/env node
// Runs the compiled tests (dist/test/**/*.test.js) with Node's test runner, tier by tier:
//   unit         codecs and pure logic; no process, no socket (runs on a fresh clone without peers)
//   integration  in-process servers on loopback sockets, redis-server
//   e2e          the proxy as a child process against real peers
// Usage: node scripts/test.mjs [--coverage] [dir-or-file-prefix under test/ ...]
//   no prefix: every tier, in the order above. --coverage: line coverage of src/ (c8) at the end.
// Prints each tier's counts and wall time; the last line is "N passed, N failed" (CI reads it).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
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
const filters = argv
  .filter((a) => a !== '--coverage')
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

/** Runs one tier; echoes the runner's output and returns its summary counts. */
function runTier(tier, files, env) {
  // Unit files use no process or socket: they run side by side. Integration and e2e files run one at
  // a time: they start peers and time things, and the CI machine has 2 cores.
  const concurrency = tier === 'unit' ? Math.max(1, availableParallelism()) : 1;
  // A hung test fails after 5 minutes instead of holding the suite (and CI) forever.
  const args = ['--enable-source-maps', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let tail = '';
    // The runner's summary counts, read as they pass: a long failure list after them outgrows the tail.
    const seen = new Map();
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString('utf8')).slice(-8192);
      for (const m of tail.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)\r?\n/gm)) seen.set(m[1], Number(m[2]));
    });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
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
}
const wallSeconds = (Date.now() - started) / 1000;

if (coverageDir) {
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
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
