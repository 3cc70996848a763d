// The flat header lists the HLS/DASH path sends and answers with carry exactly the headers of the object
// versions (the one header policy in src/net/origin-http.ts), whatever the client or the origin sent.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { forwardRequestHeaderList, forwardRequestHeaders, forwardResponseHeaderList, forwardResponseHeaders } from '../../../src/net/origin-http.js';

/** The same headers on the wire: an array of one value is that value. */
function wire(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) && v.length === 1 ? v[0]! : v]));
}

/** A flat `[name, value, …]` list as an object: lower-case names, repeated names as arrays in order. */
function asObject(list: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const prev = out[name];
    out[name] = prev === undefined ? list[i + 1]! : Array.isArray(prev) ? [...prev, list[i + 1]!] : [prev, list[i + 1]!];
  }
  return out;
}

const names = fc.constantFrom(
  'Connection',
  'keep-alive',
  'Transfer-Encoding',
  'content-length',
  'Content-Type',
  'etag',
  'X-Custom',
  'x-forwarded-for',
  'X-Forwarded-Proto',
  'x-forwarded-host',
  'Set-Cookie',
  'Access-Control-Allow-Origin',
  'bad name',
  'Upgrade',
  'host',
  'range',
);
const values = fc.oneof(fc.constantFrom('x-custom', 'etag, close', 'a', '', 'v\u0001', 'text/plain', 'keep-alive'), fc.string({ maxLength: 8 }));
const rawPairs = fc.array(fc.tuple(names, values), { maxLength: 12 });

test('response: the flat list from raw headers equals forwardResponseHeaders of the parsed headers', () => {
  fc.assert(
    fc.property(rawPairs, fc.boolean(), (pairs, keepLength) => {
      const raw = pairs.flatMap(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')]);
      // undici's parsed form: lower-case names, repeated names as arrays.
      const parsed = asObject(pairs.flatMap(([n, v]) => [n.toLowerCase(), v]));
      assert.deepEqual(asObject(forwardResponseHeaderList(raw, { keepLength })), wire(forwardResponseHeaders(parsed, { keepLength })));
    }),
    { numRuns: 1000 },
  );
});

test('request: the flat list equals forwardRequestHeaders with the overrides set and the dropped headers left out', () => {
  const requestNames = names.map((n) => n.toLowerCase()).filter((n) => n !== 'bad name');
  fc.assert(
    fc.property(
      fc.array(fc.tuple(requestNames, values), { maxLength: 12 }),
      fc.constantFrom('127.0.0.1:8080', 'vhost.example.com', undefined),
      fc.boolean(),
      (pairs, host, encrypted) => {
        // Node's parsed request headers: one string per name (set-cookie an array).
        const headers: Record<string, string | string[]> = {};
        for (const [n, v] of pairs) {
          if (n === 'set-cookie') headers[n] = [...((headers[n] as string[] | undefined) ?? []), v];
          else headers[n] = v;
        }
        if (host) headers.host = host;
        else delete headers.host;
        const req = { headers, socket: { remoteAddress: '10.0.0.9', encrypted } } as unknown as IncomingMessage;
        const set = [['accept-encoding', 'identity']] as const;
        const drop = ['range', 'if-range'];
        const expected: Record<string, string | string[]> = { ...forwardRequestHeaders(req, '127.0.0.1:1935'), 'accept-encoding': 'identity' };
        for (const name of drop) delete expected[name];
        assert.deepEqual(asObject(forwardRequestHeaderList(req, '127.0.0.1:1935', set, drop)), wire(expected));
      },
    ),
    { numRuns: 1000 },
  );
});
