#!/usr/bin/env node
// Lists exports of src/ that no module of src/ imports: "test-only" when test/ or bench/ imports them,
// "unused" otherwise. Most are fine (types, constants used inside their own module); a function listed
// here with no use in its own file is code the proxy never runs and belongs in test/fixtures/.
// Usage: node scripts/test-only-exports.mjs   (a review aid; not part of lint)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const walk = (d) =>
  readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
const src = walk(join(root, 'src'));
const others = [...walk(join(root, 'test')), ...walk(join(root, 'bench'))];

const DECLARATION = /^export\s+(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(function\*?|const|let|class|interface|type|enum)\s+([A-Za-z0-9_$]+)/gm;

/** `file#name` → number of importing statements, over `files`. */
function importedNames(files) {
  const used = new Map();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s+(?:type\s+)?\{([^}]*)\}\s+from\s+['"]([^'"]+)['"]/g)) {
      if (!m[2].startsWith('.')) continue;
      const target = resolve(dirname(f), m[2].replace(/\.js$/, '.ts'));
      for (const part of m[1].split(',')) {
        const name = part
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)[0];
        if (name) used.set(`${target}#${name}`, (used.get(`${target}#${name}`) ?? 0) + 1);
      }
    }
  }
  return used;
}

const bySrc = importedNames(src);
const byOthers = importedNames(others);
for (const f of src) {
  const text = readFileSync(f, 'utf8');
  for (const [, kind, name] of text.matchAll(DECLARATION)) {
    const key = `${f}#${name}`;
    if (bySrc.has(key) || relative(root, f) === 'src/main.ts') continue;
    const ownUses = (text.match(new RegExp(`\\b${name.replace('$', '\\$')}\\b`, 'g')) ?? []).length - 1;
    const where = byOthers.has(key) ? 'test-only' : 'unused';
    console.log(`${where.padEnd(9)} ${relative(root, f)} ${kind} ${name}${ownUses === 0 ? '  (no use in its own module)' : ''}`);
  }
}
