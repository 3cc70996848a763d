import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { keepAliveTimeout, ResponseParseError, ResponseParser } from '../../../src/net/http1-response.js';

interface Parsed {
  status?: number;
  headers?: string[];
  body: string;
  ended: boolean;
  keepAlive: boolean;
  extra: boolean;
}

/** Feeds `parts` one push each (then EOF when `eof`); returns what the parser reported. */
function parse(parts: (string | Buffer)[], o: { head?: boolean; eof?: boolean } = {}): Parsed {
  const out: Parsed = { body: '', ended: false, keepAlive: true, extra: false };
  const p = new ResponseParser(
    {
      onHead: (status, headers) => Object.assign(out, { status, headers }),
      // Body slices are views of the pushed buffer: copied here as the client's callers must.
      onBody: (chunk) => (out.body += chunk.toString('latin1')),
      onEnd: () => {
        assert.equal(out.ended, false, 'onEnd once');
        out.ended = true;
      },
    },
    o.head ?? false,
  );
  for (const part of parts) p.push(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
  if (o.eof) p.finish();
  out.keepAlive = p.keepAlive;
  out.extra = p.extra;
  return out;
}

const rejects = (parts: string[], message: RegExp, o: { head?: boolean; eof?: boolean } = {}) =>
  assert.throws(
    () => parse(parts, o),
    (e: unknown) => e instanceof ResponseParseError && message.test(e.message) && !/\d+\.\d+\.\d+\.\d+/.test(e.message),
    `${JSON.stringify(parts)} → ${message}`,
  );

test('Content-Length body: head, body, end; keep-alive', () => {
  const r = parse(['HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: 5\r\n\r\nhello']);
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers, ['Content-Type', 'video/mp2t', 'Content-Length', '5']);
  assert.equal(r.body, 'hello');
  assert.equal(r.ended, true);
  assert.equal(r.keepAlive, true);
  assert.equal(r.extra, false);
});

test('chunked body with extensions and trailers is de-chunked; Content-Length beside it is dropped and the connection not reused', () => {
  const r = parse(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n']);
  assert.equal(r.body, 'hello world');
  assert.equal(r.ended, true);
  assert.equal(r.keepAlive, true);
  const both = parse(['HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n']);
  assert.equal(both.body, 'ok');
  assert.deepEqual(both.headers, ['Transfer-Encoding', 'chunked']);
  assert.equal(both.keepAlive, false);
});

test('no framing: the body runs to EOF and the connection is not reused', () => {
  const r = parse(['HTTP/1.1 200 OK\r\n\r\nabc', 'def'], { eof: true });
  assert.equal(r.body, 'abcdef');
  assert.equal(r.ended, true);
  assert.equal(r.keepAlive, false);
});

test('HEAD, 204 and 304 have no body whatever their headers say; zero length ends at once', () => {
  assert.deepEqual(
    [parse(['HTTP/1.1 200 OK\r\nContent-Length: 650000\r\n\r\n'], { head: true })].map((r) => [r.ended, r.body, r.keepAlive]),
    [[true, '', true]],
  );
  for (const s of ['204 No Content', '304 Not Modified']) assert.equal(parse([`HTTP/1.1 ${s}\r\nContent-Length: 10\r\n\r\n`]).ended, true);
  assert.equal(parse(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']).ended, true);
});

test('interim 1xx answers are skipped; the final one is reported', () => {
  const r = parse(['HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno']);
  assert.equal(r.status, 404);
  assert.equal(r.body, 'no');
});

test('Connection: close, and HTTP/1.0 without keep-alive, end the connection after the answer', () => {
  assert.equal(parse(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx']).keepAlive, false);
  assert.equal(parse(['HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx']).keepAlive, false);
  assert.equal(parse(['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx']).keepAlive, true);
});

test('bytes after the end of the answer (never asked for: no pipelining) mark the connection unusable', () => {
  const r = parse(['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n']);
  assert.equal(r.body, 'x');
  assert.equal(r.extra, true);
  assert.equal(r.keepAlive, false);
});

test('malformed answers are refused with a ResponseParseError that names the problem', () => {
  rejects(['HTTP/2 200 OK\r\n\r\n'], /status line/);
  rejects(['HTTP/1.1 000 X\r\n\r\n'], /status line/);
  rejects(['HTTP/1.1 1000 X\r\n\r\n'], /status line/);
  rejects(['HTTP/1.1 20 OK\r\n\r\n'], /status line/);
  rejects(['ICY 200 OK\r\n\r\n'], /status line/);
  rejects(['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'], /switched protocols/);
  rejects(['HTTP/1.1 200 OK\r\nno colon\r\n\r\n'], /header line/);
  rejects(['HTTP/1.1 200 OK\r\n: empty name\r\n\r\n'], /header line/);
  rejects(['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n'], /header name/);
  rejects(['HTTP/1.1 200 OK\r\nName : x\r\n\r\n'], /header name/);
  rejects(['HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n'], /header name|header line/);
  rejects(['HTTP/1.1 200 OK\r\nA: b\nB: c\r\n\r\n'], /header value/);
  rejects([`HTTP/1.1 200 OK\r\n${'a: b\r\n'.repeat(101)}\r\n`], /too many headers/);
  rejects([`HTTP/1.1 200 OK\r\nA: ${'x'.repeat(70_000)}`], /oversized response head/);
  rejects([`HTTP/1.1 200 OK\r\nA: ${'x'.repeat(70_000)}\r\n\r\n`], /oversized response head/);
  // Content-Length: one decimal length, however often it is repeated.
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n'], /conflicting Content-Length/);
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: 5, 7\r\n\r\n'], /conflicting Content-Length/);
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n'], /conflicting Content-Length/);
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'], /conflicting Content-Length/);
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n'], /conflicting Content-Length/);
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n'], /conflicting Content-Length/);
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n'], /conflicting/, { head: true });
  // Transfer codings other than chunked cannot be removed.
  rejects(['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'], /Transfer-Encoding/);
  rejects(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'], /Transfer-Encoding/);
  rejects(['HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'], /Transfer-Encoding/);
  // Chunks: hex sizes within bounds, exactly CRLF after the data, bounded lines and trailers.
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  rejects([`${chunked}zz\r\n`], /chunk size/);
  rejects([`${chunked}-5\r\n`], /chunk size/);
  rejects([`${chunked}\r\n`], /chunk size/);
  rejects([`${chunked}ffffffffffffff\r\n`], /chunk size/);
  rejects([`${chunked}5\n`], /malformed chunk line/);
  rejects([`${chunked}3\r\nhello\r\n`], /longer than its size/);
  rejects([`${chunked}5\r\nhelloXY`], /longer than its size/);
  rejects([`${chunked}${'1'.repeat(10)};${'x'.repeat(5000)}`], /oversized chunk line/);
  rejects([`${chunked}0\r\n${'X-A: b\r\n'.repeat(3000)}`], /oversized trailers/);
  rejects([`${chunked}0\r\nnot a trailer\r\n\r\n`], /invalid trailer/);
  // Cut short: EOF before the head, or before the framing's end.
  rejects(['HTTP/1.1 200 OK\r\n'], /closed before answering/, { eof: true });
  rejects([], /closed before answering/, { eof: true });
  rejects(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'], /ended its answer early/, { eof: true });
  rejects([`${chunked}50\r\n#EXTM3U\n`], /ended its answer early/, { eof: true });
  rejects([`${chunked}5\r\nhello\r\n`], /ended its answer early/, { eof: true });
});

test('property: any split of the bytes into pushes gives the same head, body and end', () => {
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: 25\r\n\r\n#EXTM3U\n#EXT-X-VERSION:3\n',
    'HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3;e=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz',
  ];
  fc.assert(
    fc.property(fc.constantFrom(...answers), fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 12 }), (answer, cuts) => {
      const bytes = Buffer.from(answer, 'latin1');
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const parts: Buffer[] = [];
      let from = 0;
      for (const p of [...points, bytes.length]) {
        parts.push(bytes.subarray(from, p));
        from = p;
      }
      assert.deepEqual(parse(parts), parse([bytes]));
      assert.equal(parse([bytes]).ended, true);
    }),
  );
});

test('property: random bytes never throw anything but ResponseParseError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withHead) => {
      const prefix = withHead ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' : '';
      try {
        parse([Buffer.concat([Buffer.from(prefix), bytes])], { eof: true });
      } catch (e) {
        assert.ok(e instanceof ResponseParseError, String(e));
      }
    }),
  );
});

test('Keep-Alive timeout hint: parsed strictly from the final head; bad values ignored, never thrown', () => {
  const hint = (headers: string) => {
    const p = new ResponseParser({ onHead: () => undefined, onBody: () => undefined, onEnd: () => undefined }, false);
    p.push(Buffer.from(`HTTP/1.1 200 OK\r\n${headers}Content-Length: 0\r\n\r\n`, 'latin1'));
    return p.keepAliveTimeoutS;
  };
  assert.equal(hint(''), undefined);
  assert.equal(hint('Keep-Alive: timeout=5, max=100\r\n'), 5);
  assert.equal(hint('keep-alive: MAX=3,TIMEOUT = 2\r\n'), 2);
  assert.equal(hint('Keep-Alive: timeout="7"\r\n'), 7);
  assert.equal(hint('Keep-Alive: timeout=0\r\n'), 0);
  // Several: the smallest (closing early is safe).
  assert.equal(hint('Keep-Alive: timeout=9\r\nKeep-Alive: timeout=4\r\n'), 4);
  for (const bad of ['timeout=', 'timeout=-1', 'timeout=1.5', 'timeout=1e3', 'timeout=abc', 'timeout=1234567890', 'timeout="5', 'timeout', '=5', 'max=5'])
    assert.equal(hint(`Keep-Alive: ${bad}\r\n`), undefined, bad);
  // A bad one beside a good one: the good one counts.
  assert.equal(hint('Keep-Alive: timeout=x, timeout=3\r\n'), 3);
  // An interim head's hint is not the final answer's.
  const p = new ResponseParser({ onHead: () => undefined, onBody: () => undefined, onEnd: () => undefined }, false);
  p.push(Buffer.from('HTTP/1.1 103 Early Hints\r\nKeep-Alive: timeout=1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'latin1'));
  assert.equal(p.keepAliveTimeoutS, undefined);
  assert.equal(keepAliveTimeout('timeout=12,max=1'), 12);
});

test('attack: endless interim answers are refused after 16', () => {
  const early = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n';
  assert.equal(parse([early.repeat(16), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']).body, 'ok');
  rejects([early.repeat(17)], /too many interim answers/);
});

/** Bytes copied between buffers (Buffer#copy and Buffer.concat) while `run` runs: work counted, not timed. */
function countCopies<T>(run: () => T): { result: T; copied: number } {
  const copy = Buffer.prototype.copy;
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
    const n = copy.apply(this, args);
    copied += n;
    return n;
  };
  Buffer.concat = (list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  };
  try {
    return { result: run(), copied };
  } finally {
    Buffer.prototype.copy = copy;
    Buffer.concat = concat;
  }
}

test('attack: a head or a chunk line sent a byte per push is gathered in linear time, within its bounds', () => {
  // 60 KiB of head one byte at a time: a concat per push copies ~2 GiB here (3 s of CPU on a loaded 2-core
  // machine, against 0.3 s gathered into one growing buffer).
  const head = `HTTP/1.1 200 OK\r\nX-Pad: ${'x'.repeat(60 * 1024)}\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const body = `5;${'e'.repeat(4000)}\r\nhello\r\n0\r\nX-T: 1\r\n\r\n`;
  const bytes = Buffer.from(head + body, 'latin1');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) parts.push(bytes.subarray(i, i + 1));
  const { result: r, copied } = countCopies(() => parse(parts));
  assert.equal(r.status, 200);
  assert.equal(r.body, 'hello');
  assert.equal(r.ended, true);
  // Linear: a buffer that doubles copies each byte a few times; a copy of all so far per push, ~N²/2 bytes.
  assert.ok(copied <= 4 * bytes.length, `${copied} bytes copied for ${bytes.length} one-byte pushes`);
  // The bounds hold however the bytes are split.
  const over = Buffer.from(`HTTP/1.1 200 OK\r\nA: ${'x'.repeat(70_000)}\r\n\r\n`, 'latin1');
  const split: Buffer[] = [];
  for (let i = 0; i < over.length; i += 7) split.push(over.subarray(i, i + 7));
  assert.throws(() => parse(split), /oversized response head/);
  const line = Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(5000)}\r\n`, 'latin1');
  const lineParts: Buffer[] = [];
  for (let i = 0; i < line.length; i += 3) lineParts.push(line.subarray(i, i + 3));
  assert.throws(() => parse(lineParts), /oversized chunk line/);
});
