import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION, versionParts } from '../../src/version.js';

/** The repository's package.json, whether this runs from test/ (tsx) or dist/test/ (compiled). */
function packageJson(): { version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
}

test('VERSION matches package.json', () => {
  assert.equal(VERSION, packageJson().version);
  const p = versionParts();
  assert.equal(`${p.major}.${p.minor}.${p.revision}`, VERSION);
});
