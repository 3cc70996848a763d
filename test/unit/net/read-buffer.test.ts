import assert from 'node:assert/strict';
import { test } from 'node:test';
import { READ_BUFFER_MAX, READ_BUFFER_MIN, ReadBuffer } from '../../../src/net/read-buffer.js';

test('the read buffer is reused while nothing of it waits in a write queue', () => {
  const r = new ReadBuffer();
  const first = r.next();
  assert.equal(first.length, READ_BUFFER_MIN);
  r.settle(100, false);
  assert.equal(r.next(), first);
});

test('a read whose bytes still wait to be written keeps its buffer: the next read gets a fresh one', () => {
  const r = new ReadBuffer();
  const first = r.next();
  r.settle(100, true);
  const second = r.next();
  assert.notEqual(second, first);
  assert.equal(second.length, READ_BUFFER_MIN);
  assert.notEqual(second.buffer, first.buffer, 'not a view of the same memory');
});

test('a read that fills the buffer grows it to the maximum, and it stays there', () => {
  const r = new ReadBuffer();
  r.settle(READ_BUFFER_MIN, false);
  const grown = r.next();
  assert.equal(grown.length, READ_BUFFER_MAX);
  r.settle(10, false);
  assert.equal(r.next(), grown);
  r.settle(READ_BUFFER_MAX, true);
  assert.equal(r.next().length, READ_BUFFER_MAX);
  assert.notEqual(r.next(), grown);
});
