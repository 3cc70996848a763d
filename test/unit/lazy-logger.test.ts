import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, lazyContextLogger } from '../../src/log.js';

function capture(level: 'info' | 'debug') {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const log = createLogger({ level, format: 'json', destination: destination as unknown as NodeJS.WritableStream & { write: (s: string) => boolean } });
  return { log, lines };
}

test('a lazy context logger makes no child (nor its bindings) for lines below the level', () => {
  const { log, lines } = capture('info');
  let made = 0;
  const lazy = lazyContextLogger(log, () => (made++, { url: '/a?token=x' }));
  lazy.debug({ x: 1 }, 'not written');
  lazy.trace('not written');
  assert.equal(made, 0);
  assert.equal(lines.length, 0);
});

test('its first written line makes the child once: one cid, the bindings (redacted), every line', async () => {
  const { log, lines } = capture('debug');
  let made = 0;
  const lazy = lazyContextLogger(log, () => (made++, { url: '/a?token=x', method: 'GET' }));
  lazy.debug('one');
  lazy.info({ n: 2 }, 'two');
  assert.equal(made, 1);
  const cid = (lazy.bindings() as { cid?: string }).cid;
  assert.match(cid ?? '', /^[0-9a-f]{7}$/);
  log.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  for (const l of lines) {
    assert.equal(l.cid, cid);
    assert.equal(l.method, 'GET');
    assert.equal(l.url, '/a?token=******');
  }
});
