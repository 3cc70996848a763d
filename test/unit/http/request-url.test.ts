import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { requestUrl } from '../../../src/net/http-util.js';

const parse = (url: string) => requestUrl({ url } as IncomingMessage);

test('requestUrl: a request target parsed in one go is the URL it was against a base', () => {
  for (const url of [
    '/',
    '/live/a.ts?spbhid=abcdef0',
    '/a/../b',
    '/a/%2e%2e/b',
    '//evil/x',
    '/\\evil/x',
    '/a b',
    '/\t/x',
    '/a@b:c',
    '/x?y#z',
    'http://other/x',
  ])
    assert.equal(parse(url).href, new URL(url, 'http://localhost').href, url);
  const piece = fc.oneof(fc.constantFrom('/', '\\', '.', '..', '%2e', '?', '#', '@', ':', ' ', '\t', '%', 'a', '&'), fc.string({ maxLength: 3 }));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 10 }), (parts) => {
      const url = `/${parts.join('')}`;
      let want: string | Error;
      try {
        want = new URL(url, 'http://localhost').href;
      } catch (err) {
        want = err as Error;
      }
      if (want instanceof Error) assert.throws(() => parse(url));
      else assert.equal(parse(url).href, want, url);
    }),
    { numRuns: 5000 },
  );
});
