// Credentials never reach a log line: URLs are redacted by one helper, and the logger applies it to
// URL fields itself (also in child-logger bindings).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger, redactUrl } from '../../../src/log.js';

describe('redactUrl', () => {
  const cases: [string, string][] = [
    ['/api/v1/srs/register?token=s3cret', '/api/v1/srs/register?token=******'],
    ['/api/v1/origins/a?x=1&token=s3cret&y=2', '/api/v1/origins/a?x=1&token=******&y=2'],
    ['http://proxy:12025/api/v1/srs/register?TOKEN=s3cret#frag', 'http://proxy:12025/api/v1/srs/register?TOKEN=******#frag'],
    ['/live/s.flv?password=p&secret=q&api_key=r&auth=t&sig=u', '/live/s.flv?password=******&secret=******&api_key=******&auth=******&sig=******'],
    ['/live/s.flv?%74oken=encoded-name', '/live/s.flv?%74oken=******'],
    ['https://user:pw@proxy:12025/x', 'https://******@proxy:12025/x'],
    ['redis://:pw@host:6379/0?password=x', 'redis://******@host:6379/0?password=******'],
    ['/live/s.flv?app=live&stream=s', '/live/s.flv?app=live&stream=s'],
    ['/no/query', '/no/query'],
    ['/bad?%E0%A4%A=1&token=x', '/bad?%E0%A4%A=1&token=******'],
  ];
  for (const [input, want] of cases) {
    test(`${input} → ${want}`, () => assert.equal(redactUrl(input), want));
  }
});

function captured(): { lines: () => string; stream: Writable } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { lines: () => out, stream };
}

describe('the logger redacts URL fields', () => {
  test('in a log call and in child bindings; token and password fields are censored', () => {
    const c = captured();
    const log = createLogger({ level: 'debug', format: 'json', destination: c.stream });
    log.info({ url: '/api/v1/srs/register?token=tok-AAA' }, 'one');
    log.child({ url: '/api/v1/origins/x?token=tok-BBB' }).info('two');
    log.child({ tcUrl: 'rtmp://u:tok-CCC@h/live?secret=tok-DDD' }).info({ location: '/rtc/v1/whip/?token=tok-EEE' }, 'three');
    log.info({ token: 'tok-FFF', password: 'tok-GGG' }, 'four');
    const text = c.lines();
    assert.match(text, /"msg":"four"/);
    for (const secret of ['tok-AAA', 'tok-BBB', 'tok-CCC', 'tok-DDD', 'tok-EEE', 'tok-FFF', 'tok-GGG'])
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    assert.match(text, /token=\*\*\*\*\*\*/);
  });
});
