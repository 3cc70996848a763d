import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { classifyStreamRequest, segmentOwner } from '../../../src/http/classify.js';
import { isDashManifest, rewriteDashManifest } from '../../../src/http/dash-rewrite.js';
import { isHlsPlaylist, rewriteHlsPlaylist } from '../../../src/http/hls-rewrite.js';
import { withSessionParam } from '../../../src/http/session-param.js';

const ID = 'ab12cd3';

describe('withSessionParam', () => {
  const cases: [string, string][] = [
    ['a-1.ts', 'a-1.ts?spbhid=ab12cd3'], // scenario 47
    ['a-1.ts?x=1', 'a-1.ts?spbhid=ab12cd3&x=1'], // scenario 48 (single &)
    ['/live/a-1.ts', '/live/a-1.ts?spbhid=ab12cd3'],
    ['../seg/a.m4s?x=1&y=2', '../seg/a.m4s?spbhid=ab12cd3&x=1&y=2'],
    ['a.ts?spbhid=0000000&x=1', 'a.ts?spbhid=ab12cd3&x=1'],
    ['a.ts#frag', 'a.ts?spbhid=ab12cd3#frag'],
    ['https://cdn.example.com/a.ts', 'https://cdn.example.com/a.ts'],
    ['//cdn.example.com/a.ts', '//cdn.example.com/a.ts'],
    ['data:text/plain,abc', 'data:text/plain,abc'],
    ['skd://key-id', 'skd://key-id'],
  ];
  for (const [uri, out] of cases) test(uri, () => assert.equal(withSessionParam(uri, ID), out));
  test('XML separator', () => assert.equal(withSessionParam('a.m4s?x=1&amp;y=2', ID, '&amp;'), 'a.m4s?spbhid=ab12cd3&amp;x=1&amp;y=2'));
});

// Real playlists as origins write them (SRS, nginx-rtmp, fMP4, LL-HLS, encrypted).
const SRS_MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n/live/livestream.m3u8?hls_ctx=k3j4h5g6\n';
const SRS_MEDIA = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-MEDIA-SEQUENCE:12',
  '#EXT-X-TARGETDURATION:10',
  '#EXT-X-DISCONTINUITY',
  '#EXTINF:10.000, no desc',
  'livestream-12.ts?hls_ctx=k3j4h5g6',
  '#EXTINF:9.960, no desc',
  'livestream-13.ts?hls_ctx=k3j4h5g6',
  '',
].join('\n');
const NGINX =
  '#EXTM3U\r\n#EXT-X-VERSION:3\r\n#EXT-X-MEDIA-SEQUENCE:4\r\n#EXT-X-TARGETDURATION:2\r\n#EXTINF:2.000,\r\nfixture-4.ts\r\n#EXTINF:2.000,\r\nfixture-5.ts\r\n';
const FMP4 = '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2.0,\nseg-1.m4s\n';
const LLHLS = [
  '#EXTM3U',
  '#EXT-X-TARGETDURATION:4',
  '#EXT-X-VERSION:9',
  '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0',
  '#EXT-X-PART-INF:PART-TARGET=0.333',
  '#EXT-X-MAP:URI="init.mp4?v=2"',
  '#EXTINF:4.0,',
  'fileSequence266.mp4',
  '#EXT-X-PART:DURATION=0.333,URI="filePart267.0.mp4",INDEPENDENT=YES',
  '#EXT-X-PART:DURATION=0.333,URI="filePart267.1.mp4"',
  '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart267.2.mp4"',
  '#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php",LAST-MSN=273,LAST-PART=2',
  '',
].join('\n');
const ENCRYPTED =
  '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="/keys/k1.key",IV=0x1234\n#EXTINF:6,\n/live/s-1.ts\n#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/k2"\n#EXTINF:6,\nhttps://cdn.example.com/s-2.ts\n';
const MASTER = [
  '#EXTM3U',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI="audio/en.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=1280000,AUDIO="aud"',
  'low/index.m3u8',
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="low/iframe.m3u8"',
  '#EXT-X-CONTENT-STEERING:SERVER-URI="/steer",PATHWAY-ID="CDN"',
  '',
].join('\n');

describe('rewriteHlsPlaylist', () => {
  test('SRS hls_ctx master: the one URI line gets the session (scenario 45 flow)', () => {
    assert.equal(
      rewriteHlsPlaylist(SRS_MASTER, ID),
      '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n/live/livestream.m3u8?spbhid=ab12cd3&hls_ctx=k3j4h5g6\n',
    );
  });
  test('SRS media playlist keeps hls_ctx (scenario 46)', () => {
    const out = rewriteHlsPlaylist(SRS_MEDIA, ID);
    assert.match(out, /^livestream-12\.ts\?spbhid=ab12cd3&hls_ctx=k3j4h5g6$/m);
    assert.equal(out.replace(/spbhid=ab12cd3&/g, ''), SRS_MEDIA, 'byte-identical apart from the parameter');
  });
  test('nginx-rtmp with CRLF line endings', () => {
    const out = rewriteHlsPlaylist(NGINX, ID);
    assert.equal(out, NGINX.replace('fixture-4.ts', 'fixture-4.ts?spbhid=ab12cd3').replace('fixture-5.ts', 'fixture-5.ts?spbhid=ab12cd3'));
  });
  test('fMP4 EXT-X-MAP', () => {
    const out = rewriteHlsPlaylist(FMP4, ID);
    assert.match(out, /^#EXT-X-MAP:URI="init\.mp4\?spbhid=ab12cd3"$/m);
    assert.match(out, /^seg-1\.m4s\?spbhid=ab12cd3$/m);
  });
  test('LL-HLS parts, preload hints, rendition reports', () => {
    const out = rewriteHlsPlaylist(LLHLS, ID);
    assert.match(out, /URI="init\.mp4\?spbhid=ab12cd3&v=2"/);
    assert.match(out, /URI="filePart267\.0\.mp4\?spbhid=ab12cd3",INDEPENDENT=YES/);
    assert.match(out, /PRELOAD-HINT:TYPE=PART,URI="filePart267\.2\.mp4\?spbhid=ab12cd3"/);
    assert.match(out, /RENDITION-REPORT:URI="\.\.\/1M\/waitForMSN\.php\?spbhid=ab12cd3",LAST-MSN=273/);
    assert.match(out, /^fileSequence266\.mp4\?spbhid=ab12cd3$/m);
    assert.match(out, /PART-HOLD-BACK=1\.0/);
  });
  test('encrypted: local key URIs rewritten, absolute ones untouched', () => {
    const out = rewriteHlsPlaylist(ENCRYPTED, ID);
    assert.match(out, /URI="\/keys\/k1\.key\?spbhid=ab12cd3",IV=0x1234/);
    assert.match(out, /URI="https:\/\/keys\.example\.com\/k2"/);
    assert.match(out, /^\/live\/s-1\.ts\?spbhid=ab12cd3$/m);
    assert.match(out, /^https:\/\/cdn\.example\.com\/s-2\.ts$/m);
  });
  test('master: renditions and I-frame playlists, not SERVER-URI', () => {
    const out = rewriteHlsPlaylist(MASTER, ID);
    assert.match(out, /URI="audio\/en\.m3u8\?spbhid=ab12cd3"/);
    assert.match(out, /^low\/index\.m3u8\?spbhid=ab12cd3$/m);
    assert.match(out, /URI="low\/iframe\.m3u8\?spbhid=ab12cd3"/);
    assert.match(out, /SERVER-URI="\/steer"/);
  });
  test('tags and comments without URIs, and names like .tsx, are never touched', () => {
    const text = '#EXTM3U\n# a comment with my.tsx and .ts?\n#EXTINF:2,title.ts\nseg.ts\n';
    assert.equal(rewriteHlsPlaylist(text, ID), '#EXTM3U\n# a comment with my.tsx and .ts?\n#EXTINF:2,title.ts\nseg.ts?spbhid=ab12cd3\n');
  });
  test('property: only URI lines change, and removing the parameter gives the original', () => {
    const line = fc.oneof(fc.constantFrom('#EXTM3U', '#EXTINF:2.0,', '#EXT-X-VERSION:3', ''), fc.stringMatching(/^[a-z0-9_-]{1,10}\.(ts|m4s)$/));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
        const text = lines.join(eol);
        const out = rewriteHlsPlaylist(text, ID);
        assert.equal(out.replaceAll('?spbhid=ab12cd3', ''), text);
        assert.equal(out.split(eol).length, text.split(eol).length);
      }),
    );
  });
  test('isHlsPlaylist', () => {
    assert.ok(isHlsPlaylist('\uFEFF#EXTM3U\n'));
    assert.ok(!isHlsPlaylist('<html>'));
  });
});

// nginx-rtmp's DASH output (shape as it writes it).
const NGINX_MPD = `<?xml version="1.0"?>
<MPD type="dynamic" xmlns="urn:mpeg:dash:schema:mpd:2011" availabilityStartTime="2026-11-21T06:00:00Z" minimumUpdatePeriod="PT2S">
  <Period start="PT0S" id="dash">
    <AdaptationSet id="1" segmentAlignment="true" maxWidth="640" maxHeight="360" maxFrameRate="25">
      <Representation id="fixture_H264" mimeType="video/mp4" codecs="avc1.42c01e" width="640" height="360" frameRate="25" sar="1:1" startWithSAP="1" bandwidth="503000">
        <SegmentTemplate presentationTimeOffset="0" timescale="1000" media="fixture-$Time$.m4v" initialization="fixture-init.m4v">
          <SegmentTimeline><S t="0" d="2000"/></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="2" segmentAlignment="true">
      <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="1"/>
      <Representation id="fixture_AAC" mimeType="audio/mp4" codecs="mp4a.40.2" audioSamplingRate="44100" startWithSAP="1" bandwidth="64000">
        <SegmentTemplate presentationTimeOffset="0" timescale="1000" media="fixture-$Time$.m4a" initialization="fixture-init.m4a">
          <SegmentTimeline><S t="0" d="2000"/></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
`;

describe('rewriteDashManifest', () => {
  test('nginx-rtmp SegmentTemplate media/initialization', () => {
    const out = rewriteDashManifest(NGINX_MPD, ID);
    assert.match(out, /media="fixture-\$Time\$\.m4v\?spbhid=ab12cd3" initialization="fixture-init\.m4v\?spbhid=ab12cd3"/);
    assert.match(out, /media="fixture-\$Time\$\.m4a\?spbhid=ab12cd3"/);
    assert.equal(out.replaceAll('?spbhid=ab12cd3', ''), NGINX_MPD);
  });
  test('SegmentURL, Initialization sourceURL, existing queries (XML-escaped), absolute URLs, BaseURL untouched', () => {
    const mpd =
      '<MPD><BaseURL>seg/</BaseURL><SegmentList><Initialization sourceURL="init.mp4"/><SegmentURL media="s1.m4s?a=1&amp;b=2"/><SegmentURL media=\'https://cdn/x.m4s\'/></SegmentList><SegmentTemplate media="a.m4s" bitstreamSwitching="true"/></MPD>';
    const out = rewriteDashManifest(mpd, ID);
    assert.equal(
      out,
      '<MPD><BaseURL>seg/</BaseURL><SegmentList><Initialization sourceURL="init.mp4?spbhid=ab12cd3"/><SegmentURL media="s1.m4s?spbhid=ab12cd3&amp;a=1&amp;b=2"/><SegmentURL media=\'https://cdn/x.m4s\'/></SegmentList><SegmentTemplate media="a.m4s?spbhid=ab12cd3" bitstreamSwitching="true"/></MPD>',
    );
  });
  test('isDashManifest', () => {
    assert.ok(isDashManifest(NGINX_MPD));
    assert.ok(!isDashManifest('#EXTM3U'));
  });
});

describe('classifyStreamRequest', () => {
  const q = (s: string) => new URLSearchParams(s);
  const cases: [string, string, string][] = [
    ['/live/s.flv', '', 'live'],
    ['/live/s.FLV', '', 'live'],
    ['/live/s.ts', '', 'live'],
    ['/live/s.aac', '', 'live'],
    ['/live/s.mp3', '', 'live'],
    ['/live/s.m3u8', '', 'playlist'],
    ['/live/s.M3U8', 'spbhid=x', 'playlist'],
    ['/live/s.mpd', '', 'manifest'],
    ['/live/s-1.ts', 'spbhid=abcdef0', 'segment'],
    ['/live/s-1.m4s', 'spbhid=abcdef0', 'segment'],
    ['/k/1.key', 'spbhid=abcdef0', 'segment'],
    ['/live/s-init.m4v', '', 'maybe-segment'],
    ['/live/a.vtt', '', 'maybe-segment'],
    ['/players/whep.html', '', 'static'],
    ['/', '', 'static'],
    ['/x.flv.html', '', 'static'],
  ];
  for (const [path, query, kind] of cases) test(`${path}?${query} → ${kind}`, () => assert.equal(classifyStreamRequest(path, q(query)), kind));
  test('segmentOwner', () => {
    assert.equal(segmentOwner('livestream-12'), 'livestream');
    assert.equal(segmentOwner('fixture-init'), 'fixture');
    assert.equal(segmentOwner('my-stream-1700000'), 'my-stream');
    assert.equal(segmentOwner('plain'), undefined);
  });
});

/** The rewrite as it was before the one-pass scanner (split on line ends, trim every line): the reference. */
function referenceHlsRewrite(text: string, sessionId: string): string {
  const uriAttribute = /([:,]\s*URI=")([^"]*)(")/g;
  const parts = text.split(/(\r\n|\n|\r)/);
  for (let i = 0; i < parts.length; i += 2) {
    const line = parts[i]!;
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      if (trimmed.startsWith('#EXT') && line.includes('URI="')) {
        parts[i] = line.replace(uriAttribute, (_m, pre: string, uri: string, post: string) => pre + withSessionParam(uri, sessionId) + post);
      }
      continue;
    }
    const lead = line.length - line.trimStart().length;
    parts[i] = line.slice(0, lead) + withSessionParam(trimmed, sessionId) + line.slice(lead + trimmed.length);
  }
  return parts.join('');
}

describe('one-pass HLS rewrite equals the line-split reference', () => {
  const space = fc.constantFrom('', ' ', '\t', '  ', '\u00a0', '\uFEFF', '\v');
  const uri = fc.oneof(
    fc.constantFrom('seg-1.ts', 'a.ts?x=1', '/live/b.m4s', 'https://cdn.example.com/c.ts', '//cdn/d.ts', 'data:x', 'e.ts#f', 'g.ts?spbhid=0000000&y=2', ''),
    fc.string({ maxLength: 12 }),
  );
  const tag = fc.oneof(
    fc.constantFrom('#EXTM3U', '#EXT-X-VERSION:3', '#EXTINF:2.000,', '#EXT-X-ENDLIST', '# comment URI="x.ts"', '#EXT-X-SESSION-KEY:METHOD=NONE'),
    uri.map((u) => `#EXT-X-MAP:URI="${u}"`),
    fc.tuple(uri, uri).map(([a, b]) => `#EXT-X-PART:DURATION=0.3,URI="${a}",INDEPENDENT=YES, URI="${b}"`),
    uri.map((u) => `#EXT-X-KEY:METHOD=AES-128,SERVER-URI="k",URI="${u}"`),
  );
  const line = fc.tuple(space, fc.oneof(tag, uri), space).map(([a, b, c]) => a + b + c);
  const ending = fc.constantFrom('\n', '\r\n', '\r', '\n\n', '\r\r\n');
  const playlist = fc
    .tuple(fc.array(fc.tuple(line, ending), { maxLength: 30 }), fc.oneof(fc.constant(''), line))
    .map(([lines, last]) => lines.map(([l, e]) => l + e).join('') + last);

  test('generated playlists (tags, URI lines, odd whitespace and line endings)', () => {
    fc.assert(
      fc.property(playlist, (text) => {
        assert.equal(rewriteHlsPlaylist(text, ID), referenceHlsRewrite(text, ID));
      }),
      { numRuns: 2000 },
    );
  });

  test('arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        assert.equal(rewriteHlsPlaylist(text, ID), referenceHlsRewrite(text, ID));
      }),
      { numRuns: 2000 },
    );
  });
});
