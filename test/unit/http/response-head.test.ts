import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HttpError } from '../../../src/net/http-util.js';
import { parseResponseHead } from '../../../src/http/live-passthrough.js';

test('parses status, headers (repeated ones as arrays) and the body bytes that came along', () => {
  const raw = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nFLV\x01\x05',
  );
  const head = parseResponseHead(raw)!;
  assert.equal(head.status, 200);
  assert.equal(head.reason, 'OK');
  assert.deepEqual(head.headers, { 'content-type': 'video/x-flv', 'set-cookie': ['a=1', 'b=2'], 'transfer-encoding': 'chunked' });
  assert.equal(head.rest.toString('latin1'), '5\r\nFLV\x01\x05');
});

test('incomplete head → undefined; oversized or malformed → 502 HttpError', () => {
  assert.equal(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nA: b\r\n')), undefined);
  assert.throws(
    () => parseResponseHead(Buffer.alloc(70_000, 0x41)),
    (e: unknown) => e instanceof HttpError && e.status === 502,
  );
  for (const bad of [
    'HTTP/2 200\r\n\r\n',
    'FOO 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nnocolon\r\n\r\n',
    `HTTP/1.1 200 OK\r\n${'a: b\r\n'.repeat(101)}\r\n`,
  ]) {
    assert.throws(() => parseResponseHead(Buffer.from(bad)), HttpError, bad.slice(0, 20));
  }
});

test('property: arbitrary bytes give a head, undefined or an HttpError — nothing else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, terminate) => {
      const buf = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n'), Buffer.from(bytes), Buffer.from(terminate ? '\r\n\r\n' : '')]);
      try {
        parseResponseHead(buf);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
      }
    }),
  );
});
