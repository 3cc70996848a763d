// The Go proxy's Redis value shapes (BEHAVIOUR.md §3.2, 3.5-3.7): known answers built by hand from the spec,
// Go's own time formats, and properties (round trips; arbitrary input fails only with RedisRecordError).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseRegistration } from '../../src/balancer/origin.js';
import {
  decodeHlsRecord,
  decodeRtcRecord,
  decodeServerList,
  decodeServerRecord,
  encodeHlsRecord,
  encodeRtcRecord,
  encodeServerList,
  encodeServerRecord,
  formatUpdateAt,
  goJson,
  hlsKey,
  originIdOfKey,
  parseUpdateAt,
  RedisRecordError,
  rtcKey,
  serverKey,
  spbhidKey,
  ufragKey,
  urlKey,
} from '../../src/balancer/redis-records.js';

const T0 = Date.UTC(2026, 10, 21, 6, 58, 39, 123);

describe('key names (BEHAVIOUR.md §3.7)', () => {
  test('every key as the Go proxy names it', () => {
    assert.equal(serverKey('vid-a-b-1'), 'srs-proxy-server:vid-a-b-1');
    assert.equal(urlKey('__defaultVhost__/live/x'), 'srs-proxy-url:__defaultVhost__/live/x');
    assert.equal(hlsKey('__defaultVhost__/live/x'), 'srs-proxy-hls:__defaultVhost__/live/x');
    assert.equal(spbhidKey('abc1234'), 'srs-proxy-spbhid:abc1234');
    assert.equal(rtcKey('__defaultVhost__/live/x'), 'srs-proxy-rtc:__defaultVhost__/live/x');
    assert.equal(ufragKey('a:b'), 'srs-proxy-ufrag:a:b');
    assert.equal(originIdOfKey('srs-proxy-server:vid-a-b-1'), 'vid-a-b-1');
  });
});

describe('update_at (RFC 3339 with nanoseconds)', () => {
  test('written with nine fraction digits and Z', () => {
    assert.equal(formatUpdateAt(T0), '2026-11-21T06:58:39.123000000Z');
    assert.equal(formatUpdateAt(0), '1970-01-01T00:00:00.000000000Z');
  });

  test('Go forms are read: offsets, any fraction length, no fraction, zero time', () => {
    assert.equal(parseUpdateAt('2026-11-21T14:58:39.123456789+08:00'), T0);
    assert.equal(parseUpdateAt('2026-11-20T22:58:39.123-08:00'), T0);
    assert.equal(parseUpdateAt('2026-11-21T06:58:39.123Z'), T0);
    assert.equal(parseUpdateAt('2026-11-21T06:58:39.1Z'), T0 - 23);
    assert.equal(parseUpdateAt('2026-11-21T06:58:39Z'), T0 - 123);
    assert.equal(parseUpdateAt('2026-11-21t06:58:39.123z'), T0);
    assert.equal(parseUpdateAt('0001-01-01T00:00:00Z'), -62_135_596_800_000, "Go's zero time");
  });

  test('anything else is a RedisRecordError', () => {
    for (const bad of [
      '',
      'garbage',
      '2026-11-21 06:58:39Z',
      '2026-13-01T00:00:00Z',
      '2026-11-21T25:00:00Z',
      '2026-11-21T06:58:39',
      '2026-11-21T06:58:39.1234567890Z',
      '2026-11-21T06:58:39+0800',
    ]) {
      assert.throws(() => parseUpdateAt(bad), RedisRecordError, bad);
    }
  });

  test('property: parse(format(ms)) = ms for every ms from year 1 to 9999', () => {
    fc.assert(fc.property(fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }), (ms) => parseUpdateAt(formatUpdateAt(ms)) === ms));
  });
});

describe('server record (BEHAVIOUR.md §3.2)', () => {
  const full = () =>
    parseRegistration(
      {
        ip: '10.0.0.7',
        device_id: 'd1',
        server: 'vid-ab12',
        service: 'svc9',
        pid: 4242,
        rtmp: ['19351', 19352],
        http: ['8081'],
        api: ['1986'],
        srt: ['udp://0.0.0.0:10081'],
        rtc: ['udp://0.0.0.0:8001'],
        rtsp: ['554'],
      },
      T0,
    );

  test('Go field order, pid as a string, empty fields omitted but update_at, rtsp (ours) last before update_at', () => {
    assert.equal(
      encodeServerRecord(full()),
      '{"ip":"10.0.0.7","device_id":"d1","server_id":"vid-ab12","service_id":"svc9","pid":"4242","rtmp":["19351","19352"],' +
        '"http":["8081"],"api":["1986"],"srt":["udp://0.0.0.0:10081"],"rtc":["udp://0.0.0.0:8001"],"rtsp":["554"],' +
        '"update_at":"2026-11-21T06:58:39.123000000Z"}',
    );
    const minimal = parseRegistration({ ip: '1.2.3.4', server: 's', service: 'x', pid: '1', rtmp: ['1935'], http: [] }, T0);
    assert.equal(
      encodeServerRecord(minimal),
      '{"ip":"1.2.3.4","server_id":"s","service_id":"x","pid":"1","rtmp":["1935"],"update_at":"2026-11-21T06:58:39.123000000Z"}',
    );
  });

  test('round trip keeps every field', () => {
    assert.deepEqual(decodeServerRecord(encodeServerRecord(full())), full());
  });

  test('a record without update_at is as old as possible; a record a heartbeat would refuse is refused', () => {
    assert.equal(decodeServerRecord('{"ip":"1.2.3.4","server_id":"s","service_id":"x","pid":"1","rtmp":["1935"]}').updatedAt, 0);
    assert.throws(() => decodeServerRecord('{"server_id":"s","service_id":"x","pid":"1","rtmp":["1935"],"update_at":"2026-11-21T06:58:39Z"}'), /empty ip/);
    assert.throws(
      () => decodeServerRecord('{"ip":"1.2.3.4","server_id":"s","service_id":"x","pid":"1","rtmp":[],"update_at":"2026-11-21T06:58:39Z"}'),
      RedisRecordError,
    );
    assert.throws(() => decodeServerRecord('[]'), RedisRecordError);
  });

  test('property: arbitrary registrations round-trip', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/);
    const port = fc.integer({ min: 1, max: 65535 }).map(String);
    fc.assert(
      fc.property(
        id,
        id,
        id,
        fc.option(fc.array(port, { minLength: 1, maxLength: 3 }), { nil: undefined }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (server, service, pid, http, t) => {
          const o = parseRegistration({ ip: '127.0.0.1', server, service, pid, rtmp: ['1935'], ...(http ? { http } : {}) }, t);
          assert.deepEqual(decodeServerRecord(encodeServerRecord(o)), o);
        },
      ),
    );
  });

  test('property: any text decodes to an origin or a RedisRecordError, nothing else', () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record({ ip: fc.json(), server_id: fc.json(), service_id: fc.json(), pid: fc.json(), rtmp: fc.json(), update_at: fc.json() })
        .map((r) => JSON.stringify(r)),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        try {
          decodeServerRecord(text);
        } catch (err) {
          assert.ok(err instanceof RedisRecordError, `${String(err)} for ${text}`);
        }
      }),
    );
  });
});

describe('server record: the origin version', () => {
  test('written after update_at only when known, and read back', () => {
    const o = parseRegistration({ ip: '10.0.0.7', server: 'a', service: 'b', pid: '1', rtmp: ['1935'] }, T0, 'SRS/7.0.48(Kai)');
    const raw = encodeServerRecord(o);
    assert.match(raw, /"update_at":"[^"]+","version":"7\.0\.48"\}$/);
    assert.equal(decodeServerRecord(raw).version, '7.0.48');
    const plain = encodeServerRecord(parseRegistration({ ip: '10.0.0.7', server: 'a', service: 'b', pid: '1', rtmp: ['1935'] }, T0));
    assert.doesNotMatch(plain, /version/);
  });
  test('a hostile version in a record written by someone else is dropped, the record still reads', () => {
    const raw = JSON.stringify({
      ip: '10.0.0.7',
      server_id: 'a',
      service_id: 'b',
      pid: '1',
      rtmp: ['1935'],
      update_at: '2026-01-01T00:00:00Z',
      version: '<b>x</b>',
    });
    const o = decodeServerRecord(raw);
    assert.equal(o.version, undefined);
    assert.equal(o.serverId, 'a');
  });
});

describe('server list, HLS and WebRTC records', () => {
  test('the list is a JSON array of server keys, Go-escaped', () => {
    assert.equal(encodeServerList(['srs-proxy-server:vid-a-b-1']), '["srs-proxy-server:vid-a-b-1"]');
    assert.equal(encodeServerList([]), '[]');
    assert.equal(goJson({ a: '<&>\u2028\u2029' }), '{"a":"\\u003c\\u0026\\u003e\\u2028\\u2029"}');
    assert.deepEqual(decodeServerList('["a","b","a",1,null]'), ['a', 'b']);
    assert.throws(() => decodeServerList('{}'), RedisRecordError);
    assert.throws(() => decodeServerList('[1'), RedisRecordError);
  });

  test('HLS record: {"spbhid","stream_url","full_url"}', () => {
    const s = { spbhid: 'abc1234', streamKey: '__defaultVhost__/live/s', fullUrl: 'http://h/live/s.m3u8' };
    const json = '{"spbhid":"abc1234","stream_url":"__defaultVhost__/live/s","full_url":"http://h/live/s.m3u8"}';
    assert.equal(encodeHlsRecord(s), json);
    assert.deepEqual(decodeHlsRecord(json), s);
    assert.deepEqual(decodeHlsRecord('{"spbhid":"x","stream_url":"k"}'), { spbhid: 'x', streamKey: 'k', fullUrl: '' });
    for (const bad of ['{"stream_url":"k"}', '{"spbhid":"x"}', '{"spbhid":1,"stream_url":"k"}', 'null', '"x"'])
      assert.throws(() => decodeHlsRecord(bad), RedisRecordError, bad);
  });

  test('WebRTC record: Go fields first, every other session field round-trips, mistyped dial fields dropped', () => {
    assert.equal(encodeRtcRecord({ ufrag: 'a:b', streamKey: 'k' }), '{"stream_url":"k","ufrag":"a:b"}');
    const future = { ufrag: 'a:b', streamKey: 'k', serverId: 's', mediaHost: 'h', mediaPort: 1, addedLater: { nested: [1, 'x'] } };
    assert.deepEqual(decodeRtcRecord(encodeRtcRecord(future)), future);
    assert.deepEqual(decodeRtcRecord('{"stream_url":"k","ufrag":"a:b","mediaPort":"8000","mediaHost":7}'), { ufrag: 'a:b', streamKey: 'k' });
    for (const bad of ['{"ufrag":"a"}', '{"stream_url":"k"}', '{"stream_url":"k","ufrag":""}', '[]'])
      assert.throws(() => decodeRtcRecord(bad), RedisRecordError, bad);
  });

  test('property: any text decodes to a session or a RedisRecordError, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        for (const decode of [decodeHlsRecord, decodeRtcRecord, decodeServerList]) {
          try {
            decode(text);
          } catch (err) {
            assert.ok(err instanceof RedisRecordError, `${String(err)} for ${text}`);
          }
        }
      }),
    );
  });
});
