import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SynCookies } from '../../../src/srt/cookie.js';
import { SrtError } from '../../../src/srt/errors.js';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');
const MINUTE = 60_000;

function jarAt(clock: { now: number }, secret = SECRET): SynCookies {
  return new SynCookies({ secret, now: () => clock.now });
}

void describe('SYN cookies', () => {
  void test('the same caller in the same minute gets the same non-zero cookie', () => {
    const clock = { now: 10 * MINUTE + 5 };
    const jar = jarAt(clock);
    const cookie = jar.generate('192.0.2.7', 4000);
    assert.ok(cookie > 0 && cookie <= 0xffffffff && Number.isInteger(cookie));
    clock.now = 11 * MINUTE - 1;
    assert.equal(jar.generate('192.0.2.7', 4000), cookie);
    clock.now = 11 * MINUTE;
    assert.notEqual(jar.generate('192.0.2.7', 4000), cookie);
  });

  void test('check accepts the current and the previous bucket, not older ones', () => {
    const clock = { now: 10 * MINUTE + 30_000 };
    const jar = jarAt(clock);
    const cookie = jar.generate('192.0.2.7', 4000);
    assert.equal(jar.check(cookie, '192.0.2.7', 4000), true);
    clock.now = 11 * MINUTE + 59_999;
    assert.equal(jar.check(cookie, '192.0.2.7', 4000), true, 'previous bucket');
    clock.now = 12 * MINUTE;
    assert.equal(jar.check(cookie, '192.0.2.7', 4000), false, 'two buckets later');
  });

  void test('check refuses another address, port or secret', () => {
    const clock = { now: 5 * MINUTE };
    const jar = jarAt(clock);
    const cookie = jar.generate('192.0.2.7', 4000);
    assert.equal(jar.check(cookie, '192.0.2.8', 4000), false);
    assert.equal(jar.check(cookie, '192.0.2.7', 4001), false);
    assert.equal(jarAt(clock, Buffer.from('another secret of 32 bytes......')).check(cookie, '192.0.2.7', 4000), false);
    assert.equal(jar.check(cookie, '2001:DB8::1', 4000), false);
    assert.equal(jar.check(jar.generate('2001:DB8::1', 1), '2001:db8::1', 1), true, 'address case does not matter');
  });

  void test('check refuses values that are not cookies without throwing', () => {
    const jar = jarAt({ now: 0 });
    for (const cookie of [0, -1, 1.5, 2 ** 32, Number.NaN]) assert.equal(jar.check(cookie, '192.0.2.7', 4000), false);
    assert.equal(jar.check(1, '192.0.2.7', 70_000), false);
  });

  void test('bad options or ports are typed errors', () => {
    assert.throws(() => new SynCookies({ secret: Buffer.alloc(8), now: () => 0 }), SrtError);
    assert.throws(() => new SynCookies({ secret: SECRET, now: () => 0, bucketMs: 0 }), SrtError);
    assert.throws(() => jarAt({ now: 0 }).generate('192.0.2.7', 65_536), SrtError);
    assert.throws(() => jarAt({ now: Number.NaN }).generate('192.0.2.7', 1), SrtError);
  });

  void test('the bucket width is configurable', () => {
    const clock = { now: 0 };
    const jar = new SynCookies({ secret: SECRET, now: () => clock.now, bucketMs: 1000 });
    const cookie = jar.generate('198.51.100.1', 9000);
    clock.now = 1999;
    assert.equal(jar.check(cookie, '198.51.100.1', 9000), true);
    clock.now = 2000;
    assert.equal(jar.check(cookie, '198.51.100.1', 9000), false);
  });

  void test('property: valid for less than one bucket after issue, refused two buckets later', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.ipV4(), fc.ipV6()),
        fc.integer({ min: 0, max: 65_535 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: MINUTE - 1 }),
        (ip, port, issuedAt, later) => {
          const clock = { now: issuedAt };
          const jar = jarAt(clock);
          const cookie = jar.generate(ip, port);
          assert.notEqual(cookie, 0);
          clock.now = issuedAt + later;
          assert.equal(jar.check(cookie, ip, port), true);
          clock.now = issuedAt + 2 * MINUTE;
          assert.equal(jar.check(cookie, ip, port), false);
        },
      ),
    );
  });
});
