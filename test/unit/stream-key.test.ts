import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  normaliseVhost,
  StreamKeyError,
  streamKeyFromHttp,
  streamKeyFromRtmp,
  streamKeyFromSrt,
  streamKeyFromUrl,
  streamKeyFromWebrtc,
} from '../../src/stream-key.js';

const http = (host: string | undefined, path: string, query = '') => streamKeyFromHttp({ host, path, query: new URLSearchParams(query) });

describe('vhost rule (BEHAVIOUR.md §3.1)', () => {
  const cases: [string | undefined, string][] = [
    ['localhost', '__defaultVhost__'],
    ['127.0.0.1', '__defaultVhost__'],
    ['::1', '__defaultVhost__'],
    ['[::1]:8080', '__defaultVhost__'],
    ['__defaultVhost__', '__defaultVhost__'],
    [undefined, '__defaultVhost__'],
    ['ossrs.net', 'ossrs.net'],
    ['OSSRS.net:1935', 'ossrs.net'],
    ['media.example.com.', 'media.example.com'],
    ['1.2.3.4:1935', '__defaultVhost__'],
    ['', '__defaultVhost__'],
  ];
  for (const [host, vhost] of cases) test(`${host} → ${vhost}`, () => assert.equal(normaliseVhost(host), vhost));
});

describe('RTMP (BEHAVIOUR.md §4.4, BEHAVIOUR.md §9.2 #12)', () => {
  const cases: [string, string, string][] = [
    ['rtmp://localhost:1935/live', 'livestream', '__defaultVhost__/live/livestream'],
    ['rtmp://ossrs.net/live', 'livestream?secret=x', 'ossrs.net/live/livestream'],
    ['rtmp://media.example.com/live', 's', 'media.example.com/live/s'], // scenario 40
    ['rtmp://127.0.0.1/live', 'livestream?secret=abc', '__defaultVhost__/live/livestream'], // scenario 31
    // Fixed: a tcUrl query no longer swallows the stream name, and ?vhost= is honoured.
    ['rtmp://1.2.3.4/live?vhost=v.com', 'stream', 'v.com/live/stream'],
    ['rtmp://1.2.3.4/live', 'stream?vhost=v.com&token=1', 'v.com/live/stream'],
    ['rtmp://1.2.3.4/live?domain=d.com', 'stream', 'd.com/live/stream'],
    ['rtmp://host.com:19350/live/sub', 'stream', 'host.com/live/sub/stream'],
    ['rtmp://localhost/live', 'sub/stream', '__defaultVhost__/live/sub/stream'],
    ['rtmp://[::1]:1935/live', 's', '__defaultVhost__/live/s'],
    ['rtmp://user:pw@example.org/app', 's', 'example.org/app/s'],
  ];
  for (const [tcUrl, name, key] of cases) test(`${tcUrl} + ${name}`, () => assert.equal(streamKeyFromRtmp(tcUrl, name).key, key));
  test('empty tcUrl falls back to the connect app', () => {
    assert.equal(streamKeyFromRtmp('', 'livestream', 'live').key, '__defaultVhost__/live/livestream');
    assert.equal(streamKeyFromRtmp('', 's', 'live?token=1').key, '__defaultVhost__/live/s');
  });
  test('missing stream or app is an error, not a bogus key', () => {
    assert.throws(() => streamKeyFromRtmp('rtmp://localhost/live', ''), StreamKeyError);
    assert.throws(() => streamKeyFromRtmp('rtmp://localhost/', 's'), StreamKeyError);
    assert.throws(() => streamKeyFromRtmp('', 's'), StreamKeyError);
  });
});

describe('HTTP (BEHAVIOUR.md §5.2, BEHAVIOUR.md §9.2 #12)', () => {
  test('path minus extension; Host with or without port gives the same vhost (scenario 55)', () => {
    assert.equal(http('localhost:18080', '/live/livestream.flv').key, '__defaultVhost__/live/livestream');
    assert.equal(http('example.com', '/live/s.flv').key, 'example.com/live/s');
    assert.equal(http('example.com:8080', '/live/s.flv').key, 'example.com/live/s');
    assert.equal(http('localhost', '/live/livestream.m3u8').key, '__defaultVhost__/live/livestream');
    assert.equal(http('localhost', '/live/live.stream.ts').key, '__defaultVhost__/live/live.stream');
    assert.equal(http('localhost', '/a/b/c.flv').key, '__defaultVhost__/a/b/c');
  });
  test('app/stream query parameters', () => {
    assert.equal(http('localhost', '/whatever', 'app=live&stream=s').key, '__defaultVhost__/live/s');
    assert.equal(http('localhost', '/live/x.flv', 'vhost=v.example.com').key, 'v.example.com/live/x');
  });
  test('the same stream over RTMP and HTTP meets on one key', () => {
    assert.equal(http('localhost:18080', '/live/s.flv').key, streamKeyFromRtmp('rtmp://localhost/live', 's').key);
    assert.equal(http('example.com', '/live/s.m3u8').key, streamKeyFromRtmp('rtmp://example.com/live', 's').key);
  });
  test('bad paths are errors', () => {
    for (const p of ['/', '/s.flv', '/live/.flv', '/../x/s.flv', '//s.flv', '/live/\u0001.flv']) {
      assert.throws(() => http('localhost', p), StreamKeyError, p);
    }
    assert.throws(() => http('localhost', `/live/${'a'.repeat(2000)}.flv`), /longer than/);
  });
});

describe('WebRTC (BEHAVIOUR.md §6.1, BEHAVIOUR.md §9.2 #12)', () => {
  test('WHIP/WHEP default to live/livestream', () => {
    assert.equal(streamKeyFromWebrtc('localhost:1985', new URLSearchParams('')).key, '__defaultVhost__/live/livestream');
    assert.equal(streamKeyFromWebrtc('localhost', new URLSearchParams('app=live&stream=s')).key, '__defaultVhost__/live/s');
    assert.equal(streamKeyFromWebrtc('localhost', new URLSearchParams('stream=s')).key, '__defaultVhost__/live/s');
  });
  test('streamurl of the SRS JSON API', () => {
    assert.equal(streamKeyFromUrl('webrtc://localhost/live/livestream?token=1').key, '__defaultVhost__/live/livestream');
    assert.equal(streamKeyFromUrl('webrtc://d.example.com:1985/live/s').key, 'd.example.com/live/s');
    assert.throws(() => streamKeyFromUrl('not a url'), StreamKeyError);
  });
});

describe('SRT stream id (BEHAVIOUR.md §7.3, 7.5)', () => {
  const cases: [string, string, 'publish' | 'request'][] = [
    ['#!::r=live/livestream,m=publish', '__defaultVhost__/live/livestream', 'publish'],
    ['#!::h=srs.example.com,r=live/x', 'srs.example.com/live/x', 'request'], // scenario 72
    ['#!::h=host.com,r=app/stream,k=v', 'host.com/app/stream', 'request'],
    ['#!::r=live/livestream?secret=1', '__defaultVhost__/live/livestream', 'request'],
    ['#!::r=app/stream?secret=x,m=publish', '__defaultVhost__/app/stream', 'publish'],
    ['#!::h=live/livestream', '__defaultVhost__/live/livestream', 'request'], // legacy
    ['#!::h=vhost.example.com/live/livestream,m=publish', 'vhost.example.com/live/livestream', 'publish'], // legacy
    ['live/livestream', '__defaultVhost__/live/livestream', 'request'], // scenario 74
    ['livestream', '__defaultVhost__/live/livestream', 'request'],
    ['#!::user=bob,r=live/x', '__defaultVhost__/live/x', 'request'], // Go took "bob" as the resource
    ['#!::r=live/x,m=request,u=admin,s=sess', '__defaultVhost__/live/x', 'request'],
    ['#!::r=live/x\0\0\0', '__defaultVhost__/live/x', 'request'],
    ['#!::r=live/x?vhost=v.example.com', 'v.example.com/live/x', 'request'],
  ];
  for (const [sid, key, mode] of cases) {
    test(sid.replace(/\0/g, '\\0'), () => {
      const r = streamKeyFromSrt(sid);
      assert.equal(r.key, key);
      assert.equal(r.mode, mode);
    });
  }
  test('params are parsed as key=value pairs', () => {
    const r = streamKeyFromSrt('#!::r=live/x?secret=abc,m=publish,u=bob');
    assert.equal(r.params.get('secret'), 'abc');
    assert.equal(r.params.get('u'), 'bob');
  });
  test('the same stream over SRT and RTMP meets on one key (scenario 77)', () => {
    assert.equal(streamKeyFromSrt('#!::r=live/livestream,m=request').key, streamKeyFromRtmp('rtmp://localhost/live', 'livestream').key);
  });
  for (const bad of ['', '#!::', '#!::m=publish', '#!::r=live/x,m=bogus', '#!::noequals', '#!::h=onlyhost']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => streamKeyFromSrt(bad), StreamKeyError));
  }
});

describe('never throws anything but StreamKeyError', () => {
  test('property: arbitrary inputs', () => {
    const isOk = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        if (!(e instanceof StreamKeyError)) throw e;
      }
    };
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (a, b, c) => {
        isOk(() => streamKeyFromRtmp(a, b, c));
        isOk(() => http(a, b, c));
        isOk(() => streamKeyFromSrt(a));
        isOk(() => streamKeyFromUrl(a));
      }),
      { numRuns: 2000 },
    );
  });
  test('property: a valid key is stable through RTMP and HTTP', () => {
    const seg = fc.stringMatching(/^[a-z0-9_-]{1,12}$/);
    fc.assert(
      fc.property(seg, seg, (app, stream) => {
        assert.equal(streamKeyFromRtmp(`rtmp://localhost/${app}`, stream).key, http('localhost:8080', `/${app}/${stream}.flv`).key);
      }),
    );
  });
});
