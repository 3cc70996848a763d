#!/usr/bin/env node
// Runs the compiled tests (dist/test/**/*.test.js) with Node's test runner.
// Usage: node scripts/test.mjs [dir-or-file-prefix under test/ ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2).map((f) => f.replace(/\.ts$/, '').replace(/^dist\//, ''));
const all = walk(join(dist, 'test')).sort();
const chosen = filters.length
  ? all.filter((f) => filters.some((flt) => relative(dist, f).startsWith(flt)))
  : all;
if (chosen.length === 0) {
  console.error('no test files matched', filters);
  process.exit(1);
}
// One file at a time: e2e files start real peers and the CI machine has 2 cores.
const args = ['--enable-source-maps', '--test', '--test-reporter=spec', '--test-concurrency=1', ...chosen];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
