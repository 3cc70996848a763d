import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DotenvError, parseDotenv } from '../../src/config/dotenv.js';
import { parseDuration } from '../../src/config/duration.js';
import { formatListenAddress, parseListenAddress } from '../../src/config/listen.js';

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['20s', 20_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2h', 7_200_000],
    ['1h2m3s4ms', 3_723_004],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['1000000ns', 1],
    ['.5s', 500],
    ['+3s', 3000],
  ];
  for (const [text, ms] of good) test(`${text} = ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  test('a bare number is rejected with a hint to add a unit', () => {
    assert.throws(() => parseDuration('20'), /no unit; write e\.g\. "20s"/);
  });
  for (const bad of ['', 's', '20x', '1m 30s', '-5s', 'abc', '20s junk', '1..5s']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseDuration(bad)));
  }
});

describe('parseDotenv', () => {
  test('godotenv dialect', () => {
    const vars = parseDotenv(
      [
        '# comment',
        'PLAIN=value',
        'export EXPORTED=yes',
        "SINGLE='lit ${PLAIN} \\n'",
        'DOUBLE="a\\nb \\"q\\" ${PLAIN}"',
        'EXPANDED=x-${PLAIN}-$PLAIN',
        'INLINE=abc # trailing comment',
        'HASH=abc#notacomment',
        'EMPTY=',
        'COLON: yaml-style',
        'MULTI="line1',
        'line2"',
        '  SPACED  =  padded  ',
        'FROM_ENV=${OUTSIDE}',
        'ESCAPED_DOLLAR="\\$PLAIN"',
      ].join('\r\n'),
      (name) => (name === 'OUTSIDE' ? 'env-value' : undefined),
    );
    assert.deepEqual(Object.fromEntries(vars), {
      PLAIN: 'value',
      EXPORTED: 'yes',
      SINGLE: 'lit ${PLAIN} \\n',
      DOUBLE: 'a\nb "q" value',
      EXPANDED: 'x-value-value',
      INLINE: 'abc',
      HASH: 'abc#notacomment',
      EMPTY: '',
      COLON: 'yaml-style',
      MULTI: 'line1\nline2',
      SPACED: 'padded',
      FROM_ENV: 'env-value',
      ESCAPED_DOLLAR: '$PLAIN',
    });
  });
  test('an unparsable line names its line number', () => {
    assert.throws(
      () => parseDotenv('A=1\nthis is not valid\n'),
      (e: unknown) => e instanceof DotenvError && /line 2/.test(e.message),
    );
  });
  test('an unterminated quote is an error', () => {
    assert.throws(() => parseDotenv('A="open\nB=2\n'), /unterminated/);
  });
  test('an invalid name is an error', () => {
    assert.throws(() => parseDotenv('1BAD=x'), /invalid variable name/);
  });
});

describe('parseListenAddress', () => {
  const good: [string, string | undefined, number][] = [
    ['1935', undefined, 1935],
    [':1935', undefined, 1935],
    ['127.0.0.1:19350', '127.0.0.1', 19350],
    ['[::1]:1935', '::1', 1935],
    ['localhost:0', 'localhost', 0],
    ['0', undefined, 0],
  ];
  for (const [text, host, port] of good) {
    test(text, () => assert.deepEqual(parseListenAddress(text), { host, port }));
  }
  for (const bad of ['', 'abc', '70000', '1.2.3.4:', '::1:1935', '[::1]', '[abc]:1', 'host:port', '-1', 'a b:1']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseListenAddress(bad)));
  }
  test('format round trip', () => {
    for (const t of [':1935', '127.0.0.1:1', '[::1]:2']) assert.equal(formatListenAddress(parseListenAddress(t)), t);
  });
});
