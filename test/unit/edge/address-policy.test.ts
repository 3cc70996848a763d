// Which origin addresses may register and be dialled, and CIDR lists.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clientAllowed,
  ipBytes,
  isLoopbackHost,
  OriginAddressError,
  originIpRefusal,
  parseCidr,
  parseCidrList,
  vetOriginHost,
} from '../../../src/net/address-policy.js';

describe('origin addresses', () => {
  const refused: [string, RegExp][] = [
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['::', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['ff02::1', /multicast/],
    ['169.254.169.254', /link-local/],
    ['169.254.0.1', /link-local/],
    ['::ffff:169.254.169.254', /link-local/],
    ['::ffff:a9fe:a9fe', /link-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf::1', /link-local/],
    ['fd00:ec2::254', /metadata/],
    ['100.100.100.200', /metadata/],
    ['250.1.1.1', /reserved/],
  ];
  for (const [ip, reason] of refused) test(`${ip} is refused (${reason.source})`, () => assert.match(originIpRefusal(ip, undefined) ?? '', reason));
  for (const ip of ['127.0.0.1', '127.3.4.5', '::1', '10.0.0.7', '192.168.1.10', '8.8.8.8', '2001:db8::1', 'fec0::1', '100.64.0.1']) {
    test(`${ip} is allowed by default`, () => assert.equal(originIpRefusal(ip, undefined), undefined));
  }
  test('with an allow list only addresses in it pass, refused ranges included when listed', () => {
    const allow = parseCidrList('10.0.0.0/8, 169.254.169.254/32,fd00::/8');
    assert.equal(originIpRefusal('10.1.2.3', allow), undefined);
    assert.equal(originIpRefusal('169.254.169.254', allow), undefined);
    assert.equal(originIpRefusal('fd00:ec2::254', allow), undefined);
    assert.match(originIpRefusal('127.0.0.1', allow) ?? '', /PROXY_ORIGIN_ALLOW_CIDRS/);
    assert.match(originIpRefusal('169.254.169.253', allow) ?? '', /PROXY_ORIGIN_ALLOW_CIDRS/);
  });
  test('host names are resolved, and one bad address among the answers refuses the host', async () => {
    const lookup = async (host: string) =>
      ({ ok: ['10.0.0.1'], meta: ['10.0.0.1', '169.254.169.254'], none: [] as string[] })[host] ??
      Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }));
    assert.equal(await vetOriginHost('ok', { allow: undefined, lookup }), '10.0.0.1');
    await assert.rejects(
      vetOriginHost('meta', { allow: undefined, lookup }),
      (e: Error) => e instanceof OriginAddressError && /resolves to 169\.254\.169\.254/.test(e.message),
    );
    await assert.rejects(vetOriginHost('none', { allow: undefined, lookup }), /no address/);
    await assert.rejects(vetOriginHost('gone', { allow: undefined, lookup }), /cannot resolve \(ENOTFOUND\)/);
    await assert.rejects(vetOriginHost('169.254.169.254', { allow: undefined }), OriginAddressError);
    assert.equal(await vetOriginHost('[::1]', { allow: undefined }), '::1');
    assert.ok(isLoopbackHost(await vetOriginHost('localhost', { allow: undefined })));
  });
});

describe('CIDR lists', () => {
  test('parse and match IPv4, IPv6 and IPv4-mapped forms', () => {
    const list = parseCidrList('127.0.0.0/8,::1,::ffff:10.0.0.0/104')!;
    assert.ok(clientAllowed('127.0.0.1', list));
    assert.ok(clientAllowed('::ffff:127.0.0.9', list));
    assert.ok(clientAllowed('::1', list));
    assert.ok(clientAllowed('10.9.9.9', list));
    assert.ok(!clientAllowed('192.168.0.1', list));
    assert.ok(!clientAllowed('::2', list));
    assert.ok(!clientAllowed(undefined, list));
    assert.ok(clientAllowed('1.2.3.4', undefined));
  });
  test('bad lists are refused with a reason', () => {
    for (const bad of ['10.0.0.0/33', 'x', '10.0.0.0/', '1.2.3.4,,5.6.7.8', '::1/129', '10.0.0.0/8/9'])
      assert.throws(() => parseCidrList(bad), /CIDR|prefix|empty item|not a number/, bad);
    assert.equal(parseCidrList(''), undefined);
    assert.equal(parseCidr('1.2.3.4').prefix, 32);
  });
  test('address bytes', () => {
    assert.deepEqual([...ipBytes('::ffff:1.2.3.4')!], [1, 2, 3, 4]);
    assert.equal(ipBytes('2001:db8::1')!.length, 16);
    assert.equal(ipBytes('2001:db8::1')![15], 1);
    assert.equal(ipBytes('a.b'), undefined);
    assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost'));
    assert.ok(!isLoopbackHost(undefined) && !isLoopbackHost('0.0.0.0') && !isLoopbackHost('10.0.0.1'));
  });
});
