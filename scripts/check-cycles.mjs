#!/usr/bin/env node
// Fails when the modules under src/ import each other in a cycle (type-only imports included: a cycle of
// types still ties two modules into one). Reads the TypeScript sources, so it needs no build.
// Usage: node scripts/check-cycles.mjs [folder ...]   (default: src)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const folders = (process.argv.length > 2 ? process.argv.slice(2) : ['src']).map((f) => resolve(root, f));

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return walk(p);
    return /\.ts$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

// Static imports and re-exports (`import … from '…'`, `export … from '…'`, `import '…'`) and dynamic `import('…')`.
const IMPORT = /(?:^|[;\s])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const out = new Set();
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) continue;
    out.add(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

const files = folders.flatMap(walk);
const graph = new Map(files.map((f) => [f, [...importsOf(f)].filter((t) => t !== f)]));

// Depth-first search with colours; each back edge closes one cycle.
const WHITE = 0,
  GREY = 1,
  BLACK = 2;
const colour = new Map(files.map((f) => [f, WHITE]));
const stack = [];
const cycles = [];
function visit(f) {
  colour.set(f, GREY);
  stack.push(f);
  for (const t of graph.get(f) ?? []) {
    if (!graph.has(t)) continue; // outside the checked folders
    if (colour.get(t) === GREY) cycles.push([...stack.slice(stack.indexOf(t)), t]);
    else if (colour.get(t) === WHITE) visit(t);
  }
  stack.pop();
  colour.set(f, BLACK);
}
for (const f of files) if (colour.get(f) === WHITE) visit(f);

const edges = [...graph.values()].reduce((n, l) => n + l.length, 0);
if (cycles.length === 0) {
  console.log(`check-cycles: ${files.length} modules, ${edges} imports, no cycles`);
} else {
  console.error(`check-cycles: ${cycles.length} import cycle(s):`);
  for (const c of cycles) console.error('  ' + c.map((f) => relative(root, f)).join(' -> '));
  process.exit(1);
}
