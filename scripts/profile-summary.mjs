#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof) as self time by function and by module, so two
// processes' profiles (the proxy and a baseline relay under the same load) can be compared side by side.
// Usage: node scripts/profile-summary.mjs <file.cpuprofile> [--top N] [--per COUNT] [--from µs --to µs]
//   --per COUNT  also print each row as microseconds per COUNT units (e.g. requests served while profiling)
//   --from/--to  only samples in this window, in µs of CLOCK_MONOTONIC (process.hrtime.bigint() / 1000n in
//                another process on the same machine): V8 stamps samples with the same clock
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : Number(args[i + 1]);
};
if (!file) {
  process.stderr.write('usage: node scripts/profile-summary.mjs <file.cpuprofile> [--top N] [--per COUNT] [--from µs --to µs]\n');
  process.exit(2);
}
const top = opt('--top', 25);
const per = opt('--per', 0);
const from = opt('--from', -Infinity);
const to = opt('--to', Infinity);

const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map(); // node id → µs
let at = profile.startTime;
let windowStart = Infinity;
let windowEnd = -Infinity;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  at += profile.timeDeltas[i];
  if (at < from || at > to) continue;
  windowStart = Math.min(windowStart, at);
  windowEnd = Math.max(windowEnd, at);
  // timeDeltas[i] is the time since the previous sample: it belongs to the sample before (V8's convention
  // as Chrome DevTools reads it is close enough either way at 1 ms granularity).
  const dt = profile.timeDeltas[i + 1] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
}

/** Where a function lives: a package, a project file, node's own code, or V8's pseudo-frames. */
function moduleOf(url, name) {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    const inner = rest.slice(rest[0].startsWith('@') ? 2 : 1).join('/');
    return `${pkg}:${inner.replace(/^lib\//, '')}`;
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

let total = 0;
let idle = 0;
const fns = new Map();
const mods = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const { functionName, url, lineNumber } = n.callFrame;
  const name = functionName || '(anonymous)';
  if (name === '(idle)') {
    idle += us;
    continue;
  }
  total += us;
  const mod = moduleOf(url, name);
  const fkey = `${name}  ${mod}${url ? `:${lineNumber + 1}` : ''}`;
  fns.set(fkey, (fns.get(fkey) ?? 0) + us);
  mods.set(mod, (mods.get(mod) ?? 0) + us);
}

// Inclusive (self + callees) time of the project's own functions: where the JavaScript we wrote spends,
// counted once per sample even when a function recurses.
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map();
for (const [id, us] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const { functionName, url, lineNumber } = byId.get(cur).callFrame;
    if (!url || url.includes('node_modules/') || url.startsWith('node:')) continue;
    const key = `${functionName || '(anonymous)'}  ${moduleOf(url, functionName)}:${lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

const wall = windowEnd - windowStart;
const line = (us, label) => {
  const pct = ((100 * us) / total).toFixed(1).padStart(5);
  const ms = (us / 1000).toFixed(0).padStart(7);
  const each = per > 0 ? `${(us / per).toFixed(2).padStart(8)} µs/unit  ` : '';
  return `${pct} % ${ms} ms  ${each}${label}`;
};
const out = [];
out.push(`${file}`);
out.push(
  `busy ${(total / 1000).toFixed(0)} ms of ${(wall / 1000).toFixed(0)} ms wall (idle ${(idle / 1000).toFixed(0)} ms)${per > 0 ? `; ${(total / per).toFixed(2)} µs busy per unit (${per} units)` : ''}`,
);
out.push('', `Self time by module (top ${top}):`);
for (const [k, v] of [...mods].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(line(v, k));
out.push('', `Self time by function (top ${top}):`);
for (const [k, v] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(line(v, k));
out.push('', `Inclusive time of project functions (top ${top}):`);
for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(line(v, k));
process.stdout.write(`${out.join('\n')}\n`);
