// HTTP stream listener inputs: request lines, headers and bodies shaped like players' requests for every route
// (.flv/.ts live streams, .m3u8/.mpd with session ids, segments, static files, versions), then mutated: odd path
// encodings, header edits (huge, duplicated, folded, no colon, control characters, conflicting framing),
// pipelined requests, and raw byte edits of the whole text.
import { mutateBytes, mutateText, splitWrites } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzInput, FuzzTarget } from '../target.js';
import { deliverTcp } from '../target.js';

const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'get', 'G ET', ''];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.10', 'http/1.1', ''];

function path(rng: Rng): string {
  const stream = `fz${rng.int(40)}`;
  const app = rng.pick(['live', 'live', 'app/sub', '', '.', '..']);
  const p = rng.pick([
    `/${app}/${stream}.flv`,
    `/${app}/${stream}.ts`,
    `/${app}/${stream}.m3u8`,
    `/${app}/${stream}.mpd`,
    `/${app}/${stream}.aac`,
    `/${app}/${stream}-${rng.int(100)}.ts`,
    `/${app}/${stream}-${rng.int(100)}.ts?spbhid=${rng.word(rng.pick([8, 32, 0, 300]))}`,
    `/${app}/${stream}.m3u8?spbhid=${rng.word(8)}&_HLS_msn=${rng.pick(['1', '-1', '99999999999', 'x'])}&_HLS_part=${rng.int(9)}`,
    `/${app}/${stream}.flv?app=live&stream=${stream}&vhost=${rng.word(5)}`,
    '/api/v1/versions',
    '/index.html',
    '/',
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/.env',
    `/${'a/'.repeat(rng.pick([10, 1000]))}x.flv`,
    '*',
    `http://127.0.0.1/${app}/${stream}.flv`,
  ]);
  return rng.chance(0.6) ? mutateText(rng, p) : p;
}

function headers(rng: Rng, bodyLength: number): string[] {
  const h = [`Host: ${rng.pick(['127.0.0.1', 'example.com', 'a.b.c:80', '', '[::1]:1', 'x'.repeat(rng.pick([300, 16_000, 70_000]))])}`];
  h.push('User-Agent: fuzz', 'Accept: */*');
  if (rng.chance(0.3)) h.push(`Range: ${rng.pick(['bytes=0-', 'bytes=-1', 'bytes=5-1', 'bytes=0-0,1-1,2-2', 'bytes=99999999999-', 'chars=1-2'])}`);
  if (rng.chance(0.3)) h.push(`Content-Length: ${rng.pick([String(bodyLength), '-1', '1e3', ' 5', '99999999999999999', `${bodyLength}, ${bodyLength + 1}`])}`);
  if (rng.chance(0.2)) h.push(`Transfer-Encoding: ${rng.pick(['chunked', 'chunked, identity', 'xchunked', ' chunked', 'gzip'])}`);
  if (rng.chance(0.15)) h.push(`X-Big: ${'b'.repeat(rng.pick([8_000, 17_000, 70_000]))}`);
  if (rng.chance(0.15)) for (let i = 0, n = rng.pick([100, 2000]); i < n; i++) h.push(`X-${i}: ${i}`);
  if (rng.chance(0.1)) h.push(' folded continuation');
  if (rng.chance(0.1)) h.push('NoColonHere');
  if (rng.chance(0.1)) h.push(`X-Ctl: a\u0000b\u0007c`);
  if (rng.chance(0.1)) h.push('Connection: keep-alive, Upgrade', 'Upgrade: websocket');
  if (rng.chance(0.1)) h.push('Expect: 100-continue');
  if (rng.chance(0.2)) h.push(`Cookie: ${mutateText(rng, 'a=b; c=d')}`, `If-None-Match: ${mutateText(rng, '"x"')}`);
  return h;
}

function request(rng: Rng): string {
  const body = rng.chance(0.2) ? rng.pick(['0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n', 'ffffffffffffffff\r\nx', 'a=b']) : '';
  const lines = [`${rng.pick(METHODS)} ${path(rng)} ${rng.pick(VERSIONS)}`, ...headers(rng, body.length)];
  if (rng.chance(0.2)) lines.splice(rng.int(lines.length + 1), 0, mutateText(rng, rng.pick(lines)));
  return `${lines.join(rng.chance(0.9) ? '\r\n' : '\n')}\r\n\r\n${body}`;
}

export function httpTarget(port: number, name = 'http'): FuzzTarget {
  return {
    name,
    transport: 'tcp',
    port,
    concurrency: 48,
    generate(rng: Rng): FuzzInput {
      const count = rng.chance(0.15) ? rng.range(2, 20) : 1;
      let text: Buffer = Buffer.from(Array.from({ length: count }, () => request(rng)).join(''), 'latin1');
      let label = count > 1 ? `${count} pipelined requests` : 'request';
      if (rng.chance(0.2)) {
        text = mutateBytes(rng, text, { maxLength: 1 << 20 });
        label += ', bytes edited';
      }
      return { label, parts: splitWrites(rng, text) };
    },
    async deliver(input) {
      await deliverTcp(port, input.parts, { lingerMs: 30 });
    },
  };
}
