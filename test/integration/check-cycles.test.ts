// The import-cycle check that `npm run lint` runs: it names a cycle (type-only and dynamic imports included)
// and exits 1, and passes an acyclic tree.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT, tempDir } from '../fixtures/paths.js';
import { run } from '../fixtures/process.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'check-cycles.mjs');
const tmp = tempDir('cycles');
after(() => tmp.remove());

function tree(name: string, files: Record<string, string>): string {
  const dir = join(tmp.dir, name);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

test('a cycle through a type-only import and a dynamic import is found and named', async () => {
  const dir = tree('cyclic', {
    'a.ts': "import type { B } from './sub/b.js';\nexport type A = B;\n",
    'sub/b.ts': "import { x } from '../c.js';\nexport type B = number;\nexport const y = x;\n",
    'c.ts': "export const x = () => import('./a.js');\n",
  });
  const r = await run(process.execPath, [SCRIPT, dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /1 import cycle\(s\)/);
  assert.match(r.stderr, /a\.ts -> .*sub\/b\.ts -> .*c\.ts -> .*a\.ts/);
});

test('an acyclic tree passes; imports in comments and of packages are ignored', async () => {
  const dir = tree('acyclic', {
    'a.ts': "import { b } from './sub/b.js';\nimport { readFileSync } from 'node:fs';\nexport const a = b + String(readFileSync);\n",
    'sub/b.ts': "// import { a } from '../a.js';\nexport const b = 1;\n",
  });
  const r = await run(process.execPath, [SCRIPT, dir]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 modules, 1 imports, no cycles/);
});

test("the repository's own src/ has no cycle", async () => {
  const r = await run(process.execPath, [SCRIPT], 30_000, { cwd: REPO_ROOT });
  assert.equal(r.code, 0, r.stderr);
});
