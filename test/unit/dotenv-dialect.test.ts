// The corners where our .env parser deliberately reads differently from godotenv (the Go proxy's loader),
// exactly as docs/BEHAVIOUR.md 1.3 lists them, so the document and the parser cannot drift apart.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DotenvError, parseDotenv } from '../../src/config/dotenv.js';

const parse = (text: string, env: Record<string, string> = {}) => Object.fromEntries(parseDotenv(text, (n) => env[n]));

describe('.env: where we differ from godotenv', () => {
  test('\\t in double quotes is a tab; an unknown escape keeps its backslash', () => {
    assert.deepEqual(parse('A="x\\ty"\nB="x\\qy"'), { A: 'x\ty', B: 'x\\qy' });
  });

  test('${VAR} prefers the process environment over an earlier line of the file', () => {
    assert.deepEqual(parse('B=file\nA=${B}', { B: 'env' }), { B: 'file', A: 'env' });
  });

  test('lower-case names expand', () => {
    assert.deepEqual(parse('A=$lower-${lower}', { lower: 'L' }), { A: 'L-L' });
  });

  test('an unquoted value ends at the first " #"', () => {
    assert.deepEqual(parse('A=b #c #d'), { A: 'b' });
  });

  test('key names: "-" allowed; a leading digit, a "---" line and text after a closing quote are errors', () => {
    assert.deepEqual(parse('A-B=1'), { 'A-B': '1' });
    assert.throws(() => parse('1A=1'), DotenvError);
    assert.throws(() => parse('---\nA=1'), DotenvError);
    assert.throws(() => parse('A="x" junk'), /line 1: unexpected text after the closing quote of A/);
  });

  test('a leading UTF-8 BOM is ignored', () => {
    assert.deepEqual(parse('\uFEFFA=1'), { A: '1' });
  });
});
