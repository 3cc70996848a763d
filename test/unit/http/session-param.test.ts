import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SESSION_PARAM, sessionParamOf } from '../../../src/http/session-param.js';

describe('sessionParamOf (the segment path reads spbhid without URLSearchParams)', () => {
  const cases: [string, string | null][] = [
    ['/a.ts', null],
    ['/a.ts?', null],
    ['/a.ts?spbhid=abcdef0', 'abcdef0'],
    ['/a.ts?x=1&spbhid=abcdef0&y=2', 'abcdef0'],
    ['/a.ts?spbhid=first&spbhid=second', 'first'],
    ['/a.ts?spbhid', ''],
    ['/a.ts?spbhid=', ''],
    ['/a.ts?spbhidx=1', null],
    ['/a.ts?xspbhid=1', null],
    ['/a.ts?&&spbhid=a=b', 'a=b'],
    ['/a.ts?sp%62hid=abcdef0', 'abcdef0'],
    ['/a.ts?spbhid=ab%63def0', 'abcdef0'],
    ['/a.ts?spbhid=a+b', 'a b'],
    ['/a.ts?x=1#spbhid=frag', null],
  ];
  for (const [path, want] of cases) test(`${path} → ${want}`, () => assert.equal(sessionParamOf(new URL(path, 'http://localhost')), want));

  test('agrees with URLSearchParams on any query', () => {
    const part = fc.oneof(fc.constantFrom(SESSION_PARAM, `${SESSION_PARAM}=`, '=', '&', '%', '+', 'a', '%62', '#', '?'), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
        const url = new URL(`/a.ts?${parts.join('')}`, 'http://localhost');
        assert.equal(sessionParamOf(url), url.searchParams.get(SESSION_PARAM));
      }),
      { numRuns: 2000 },
    );
  });
});
