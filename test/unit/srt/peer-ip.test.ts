import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SrtError } from '../../../src/srt/errors.js';
import { encodePeerIp } from '../../../src/srt/peer-ip.js';
import { decodePeerIp } from '../../fixtures/srt-codec.js';
import { hex } from './vectors.js';

void describe('peer IP field', () => {
  void test('127.0.0.1 travels as 01 00 00 7F in the first word, the rest zero', () => {
    assert.deepEqual(encodePeerIp('127.0.0.1'), hex('0100007F 00000000 00000000 00000000'));
    assert.deepEqual(decodePeerIp(hex('0100007F 00000000 00000000 00000000')), { family: 'IPv4', address: '127.0.0.1' });
    assert.deepEqual(encodePeerIp('192.168.1.20'), hex('1401A8C0 00000000 00000000 00000000'));
  });

  void test('IPv6 is reversed word by word', () => {
    // 2001:0db8:0000:0000:0000:0000:0000:0001 -> words 20010DB8 00000000 00000000 00000001, each reversed
    const field = hex('B80D0120 00000000 00000000 01000000');
    assert.deepEqual(encodePeerIp('2001:db8::1'), field);
    assert.deepEqual(decodePeerIp(field), { family: 'IPv6', address: '2001:db8::1' });
    assert.deepEqual(decodePeerIp(encodePeerIp('::1')), { family: 'IPv6', address: '::1' });
    assert.deepEqual(decodePeerIp(encodePeerIp('::ffff:10.0.0.1')), { family: 'IPv6', address: '::ffff:10.0.0.1' });
    assert.deepEqual(decodePeerIp(encodePeerIp('fe80::1:2%eth0')), { family: 'IPv6', address: 'fe80::1:2' });
    assert.deepEqual(decodePeerIp(encodePeerIp('1:0:0:2:0:0:0:3')), { family: 'IPv6', address: '1:0:0:2::3' });
    assert.deepEqual(decodePeerIp(encodePeerIp('1:0:2:3:4:5:6:7')), { family: 'IPv6', address: '1:0:2:3:4:5:6:7' });
  });

  void test('a family hint settles addresses whose upper words are zero', () => {
    const field = encodePeerIp('2001:db8::');
    assert.equal(decodePeerIp(field).family, 'IPv4'); // the draft's rule alone cannot tell
    assert.deepEqual(decodePeerIp(field, 'IPv6'), { family: 'IPv6', address: '2001:db8::' });
  });

  void test('bad input is a typed error', () => {
    assert.throws(() => encodePeerIp('localhost'), SrtError);
    assert.throws(() => encodePeerIp('1.2.3.256'), SrtError);
    assert.throws(() => decodePeerIp(Buffer.alloc(15)), SrtError);
  });

  void test('IPv4 and IPv6 addresses round-trip', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        assert.deepEqual(decodePeerIp(encodePeerIp(address)), { family: 'IPv4', address });
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (array) => {
        const field = Buffer.from(array);
        const { address } = decodePeerIp(field, 'IPv6');
        assert.deepEqual(encodePeerIp(address), field);
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (address) => {
        const field = encodePeerIp(address);
        assert.deepEqual(encodePeerIp(decodePeerIp(field, 'IPv6').address), field);
      }),
    );
  });
});
