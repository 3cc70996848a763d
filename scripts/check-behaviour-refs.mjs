#!/usr/bin/env node
// Every reference to docs/BEHAVIOUR.md in src/, test/ and bench/ must resolve: a section ("spec 3.5",
// "BEHAVIOUR.md §3.5"), an acceptance scenario ("scenario 57", "scenarios 41-54") or a numbered defect of
// section 9.2 ("9.2 #12", "#14"). Run by `npm run lint`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const doc = readFileSync(join(root, 'docs/BEHAVIOUR.md'), 'utf8');

const sections = new Set([...doc.matchAll(/^#{2,3} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1]));
const part10 = doc.slice(doc.indexOf('## 10. '));
const scenarios = new Set([...part10.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1])));
const part92 = doc.slice(doc.indexOf('### 9.2 '), doc.indexOf('## 10. '));
const defects = new Set([...part92.matchAll(/^(\d+)\. \*\*/gm)].map((m) => Number(m[1])));
// Adobe's RTMP specification 1.0 is cited by its own section numbers in the RTMP codec (see the end of BEHAVIOUR.md).
const RTMP_SPEC = new Set(['5.2', '5.2.2', '5.2.3', '5.3.1.2.4', '5.3.2', '5.4', '5.4.5', '7.1', '7.1.7']);

const walk = (d) =>
  readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mjs|js)$/.test(n) ? [p] : [];
  });

const problems = [];
let count = 0;
for (const file of ['src', 'test', 'bench'].flatMap((d) => walk(join(root, d)))) {
  const rel = relative(root, file);
  const isRtmp = /(^|\/)rtmp\//.test(rel);
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const where = `${rel}:${i + 1}`;
      for (const m of line.matchAll(/\b(?:[Ss]pec|BEHAVIOUR\.md) ?§?(\d+(?:\.\d+)*)((?:\s*[/,-]\s*\d+(?:\.\d+)+)*)/g)) {
        for (const n of [m[1], ...(m[2].match(/\d+(?:\.\d+)+/g) ?? [])]) {
          count++;
          if (!sections.has(n) && !(isRtmp && RTMP_SPEC.has(n))) problems.push(`${where}: section ${n}`);
        }
      }
      for (const m of line.matchAll(/\bscenarios? (\d+)((?:(?:\s*[-/,]\s*|\s+and\s+)\d+)*)/g)) {
        const nums = [m[1], ...(m[2].match(/\d+/g) ?? [])].map(Number);
        const range = /^\s*-/.test(m[2]) && nums.length === 2;
        const all = range ? Array.from({ length: nums[1] - nums[0] + 1 }, (_, k) => nums[0] + k) : nums;
        for (const n of all) {
          count++;
          if (!scenarios.has(n)) problems.push(`${where}: scenario ${n}`);
        }
      }
      for (const m of line.matchAll(/\b9\.2 ((?:#\d+(?:\s*(?:,|\/|and)\s*)?)+)/g)) {
        for (const n of m[1].match(/\d+/g) ?? []) {
          count++;
          if (!defects.has(Number(n))) problems.push(`${where}: 9.2 #${n}`);
        }
      }
    });
}
if (problems.length > 0) {
  console.error(`check-behaviour-refs: ${problems.length} reference(s) that docs/BEHAVIOUR.md does not resolve:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check-behaviour-refs: ${count} references, all resolve in docs/BEHAVIOUR.md`);
