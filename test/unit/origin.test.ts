import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { EndpointError, parseEndpoint } from '../../src/balancer/endpoint.js';
import { dialTargets, parseRegistration, RegisterError } from '../../src/balancer/origin.js';

describe('endpoint grammar (BEHAVIOUR.md §2.4, BEHAVIOUR.md §9.2 #13)', () => {
  const good: [string, string, string | undefined, number][] = [
    ['1935', 'tcp', undefined, 1935],
    ['19351', 'tcp', undefined, 19351],
    ['127.0.0.1:1935', 'tcp', '127.0.0.1', 1935],
    ['0.0.0.0:1935', 'tcp', undefined, 1935],
    ['[::1]:1935', 'tcp', '::1', 1935],
    ['[::]:1935', 'tcp', undefined, 1935],
    ['origin-1.internal:1935', 'tcp', 'origin-1.internal', 1935],
    ['tcp://:1935', 'tcp', undefined, 1935],
    ['udp://0.0.0.0:8001', 'udp', undefined, 8001],
    ['udp://8001', 'udp', undefined, 8001],
    ['tcp://[2001:db8::1]:8000', 'tcp', '2001:db8::1', 8000],
    ['udp:1.2.3.4:10080', 'udp', '1.2.3.4', 10080],
    ['UDP://10.0.0.1:5', 'udp', '10.0.0.1', 5],
  ];
  for (const [text, transport, host, port] of good) {
    test(text, () => assert.deepEqual(parseEndpoint(text), { transport, host, port }));
  }
  test('default transport per list', () => assert.equal(parseEndpoint('8000', 'udp').transport, 'udp'));
  for (const bad of ['', '0', '70000', '65536', 'abc', 'http://:80', '::1:1935', '1.2.3.4:', '[::1]', 'tcp://', 'a b:1', '-1']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseEndpoint(bad), EndpointError));
  }
  test('property: never throws anything but EndpointError; ports always in range', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          const ep = parseEndpoint(s);
          assert.ok(ep.port >= 1 && ep.port <= 65535);
        } catch (e) {
          if (!(e instanceof EndpointError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

// The body SRS sends (BEHAVIOUR.md §2.3), verbatim.
const SRS_BODY = {
  device_id: 'origin1',
  ip: '192.168.1.10',
  server: 'vid-k2r4x3n',
  service: 'x8d1q0zz',
  pid: '31337',
  rtmp: ['19351'],
  http: ['8081'],
  api: ['19851'],
  srt: ['udp://0.0.0.0:10081'],
  rtc: ['udp://0.0.0.0:8001'],
};

describe('parseRegistration (BEHAVIOUR.md §2.1, 2.3)', () => {
  test('the SRS heartbeat body', () => {
    const o = parseRegistration(SRS_BODY, 1000);
    assert.equal(o.id, 'vid-k2r4x3n-x8d1q0zz-31337');
    assert.equal(o.deviceId, 'origin1');
    assert.equal(o.updatedAt, 1000);
    assert.deepEqual(dialTargets(o, 'rtmp'), [{ host: '192.168.1.10', port: 19351, transport: 'tcp' }]);
    assert.deepEqual(dialTargets(o, 'srt'), [{ host: '192.168.1.10', port: 10081, transport: 'udp' }]);
    assert.deepEqual(dialTargets(o, 'rtc'), [{ host: '192.168.1.10', port: 8001, transport: 'udp' }]);
    assert.deepEqual(dialTargets(o, 'rtsp'), []);
  });
  test('with summaries and unknown fields (scenario 16), pid as a number, rtsp list', () => {
    const o = parseRegistration({ ...SRS_BODY, summaries: { data: { ok: true } }, foo: 1, pid: 4242, rtsp: ['8554'] }, 0);
    assert.equal(o.pid, '4242');
    assert.deepEqual(dialTargets(o, 'rtsp'), [{ host: '192.168.1.10', port: 8554, transport: 'tcp' }]);
  });
  test('the manual curl form of the SRS docs', () => {
    const o = parseRegistration({ ip: '127.0.0.1', server: 'srs1', service: 'svc', pid: '1', rtmp: ['1935'], http: ['8080'] }, 0);
    assert.deepEqual(dialTargets(o, 'http'), [{ host: '127.0.0.1', port: 8080, transport: 'tcp' }]);
  });
  test('rtc with a TCP entry: filtered by transport', () => {
    const o = parseRegistration({ ...SRS_BODY, rtc: ['udp://0.0.0.0:8001', 'tcp://0.0.0.0:8001'] }, 0);
    assert.deepEqual(dialTargets(o, 'rtc', 'tcp'), [{ host: '192.168.1.10', port: 8001, transport: 'tcp' }]);
  });
  const bad: [unknown, RegExp][] = [
    [{ ...SRS_BODY, ip: undefined }, /^empty ip$/],
    [{ ...SRS_BODY, ip: '' }, /^empty ip$/],
    [{ ...SRS_BODY, server: '' }, /^empty server$/],
    [{ ...SRS_BODY, service: undefined }, /^empty service$/],
    [{ ...SRS_BODY, pid: '' }, /^empty pid$/],
    [{ ...SRS_BODY, rtmp: [] }, /^empty rtmp$/],
    [{ ...SRS_BODY, rtmp: undefined }, /^empty rtmp$/],
    [{ ...SRS_BODY, rtmp: ['70000'] }, /invalid rtmp\[0\]/],
    [{ ...SRS_BODY, http: ['8080', 'nope'] }, /invalid http\[1\]/],
    [{ ...SRS_BODY, rtmp: '1935' }, /rtmp must be an array/],
    [{ ...SRS_BODY, ip: 42 }, /ip must be a string/],
    [{ ...SRS_BODY, ip: 'a b' }, /invalid ip/],
    [{ ...SRS_BODY, pid: 1.5 }, /pid must be/],
    [{ ...SRS_BODY, pid: true }, /pid must be a string or a number/],
    [{ ...SRS_BODY, rtmp: Array(17).fill('1935') }, /more than 16/],
    [{ ...SRS_BODY, server: 'a\ud800b' }, /server is not valid Unicode/],
    [{ ...SRS_BODY, service: '\udfff' }, /service is not valid Unicode/],
    [[], /JSON object/],
    [null, /JSON object/],
    ['x', /JSON object/],
  ];
  for (const [body, re] of bad) {
    test(`rejects ${JSON.stringify(body)?.slice(0, 80)}`, () => {
      assert.throws(
        () => parseRegistration(body, 0),
        (e: unknown) => e instanceof RegisterError && re.test(e.message),
      );
    });
  }
  test('property: arbitrary JSON never throws anything but RegisterError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseRegistration(v, 0);
        } catch (e) {
          if (!(e instanceof RegisterError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('origin version (display only)', () => {
  const base = { ip: '127.0.0.1', server: 's', service: 'v', pid: '1', rtmp: ['1935'] };
  test('read from SRS summaries, then the User-Agent, and bounded', () => {
    assert.equal(parseRegistration({ ...base, summaries: { data: { ok: true, self: { version: '7.0.48' } } } }, 0).version, '7.0.48');
    assert.equal(parseRegistration({ ...base, summaries: { self: { version: '5.0.213' } } }, 0).version, '5.0.213');
    assert.equal(parseRegistration(base, 0, 'SRS/6.0.184(Hang)').version, '6.0.184');
    assert.equal(parseRegistration({ ...base, version: '1.2.3' }, 0, 'SRS/6.0.184(Hang)').version, '1.2.3');
    assert.equal(parseRegistration(base, 0).version, undefined);
    assert.equal(parseRegistration(base, 0, 'curl/8.5.0').version, undefined);
  });
  test('a hostile or oversized version is ignored, never a reason to refuse the heartbeat', () => {
    for (const v of ['<img src=x onerror=alert(1)>', 'x'.repeat(33), '', ' 7.0', '7.0\n', 42, { a: 1 }]) {
      assert.equal(parseRegistration({ ...base, version: v }, 0).version, undefined, JSON.stringify(v));
      assert.equal(parseRegistration({ ...base, summaries: { data: { self: { version: v } } } }, 0).version, undefined, JSON.stringify(v));
    }
    assert.equal(parseRegistration(base, 0, `SRS/${'9'.repeat(40)}(x)`).version, undefined);
    assert.equal(parseRegistration(base, 0, 'SRS/<script>(x)').version, undefined);
  });
});
