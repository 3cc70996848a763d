import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PROXY_ORIGIN_PARAM,
  PROXY_SESSION_PARAM,
  PROXY_SIGNATURE_PARAM,
  RESOURCE_PREFIX,
  isForwardedAsIs,
  originPath,
  proxyResourceLocation,
  resourceMacInput,
  takeProxyParams,
} from '../../../src/webrtc/whip-resource.js';

const owner = {
  serverId: 'origin-1',
  session: 'k52u8e1x:EsAw',
  originHosts: ['10.0.0.5', 'origin.internal'],
  requestUrl: 'http://10.0.0.5:1985/rtc/v1/whip/?app=live&stream=livestream',
  mac: () => 'm',
};

describe('proxyResourceLocation', () => {
  test('an SRS Location keeps its path and query and gains the origin and session', () => {
    const srs = '/rtc/v1/whip/?action=delete&token=7x2&app=live&stream=livestream&session=k52u8e1x:EsAw';
    assert.equal(
      proxyResourceLocation(srs, owner),
      '/rtc/v1/whip/?action=delete&token=7x2&app=live&stream=livestream&session=k52u8e1x:EsAw&proxy_origin=origin-1&proxy_session=k52u8e1x%3AEsAw&proxy_sig=m',
    );
  });

  test('an absolute Location on the origin becomes a proxy path', () => {
    assert.equal(
      proxyResourceLocation('http://10.0.0.5:1985/rtc/v1/whep/?action=delete&token=t', owner),
      '/rtc/v1/whep/?action=delete&token=t&proxy_origin=origin-1&proxy_session=k52u8e1x%3AEsAw&proxy_sig=m',
    );
    assert.equal(
      proxyResourceLocation('https://origin.internal/whip/resource/abc', owner),
      `${RESOURCE_PREFIX}/whip/resource/abc?proxy_origin=origin-1&proxy_session=k52u8e1x%3AEsAw&proxy_sig=m`,
    );
  });

  test('a relative resource outside the WHIP paths is reached under the resource prefix', () => {
    assert.equal(
      proxyResourceLocation('/whip/sessions/42', owner),
      `${RESOURCE_PREFIX}/whip/sessions/42?proxy_origin=origin-1&proxy_session=k52u8e1x%3AEsAw&proxy_sig=m`,
    );
    // Relative to the offer URL (RFC 3986 resolution).
    assert.equal(proxyResourceLocation('res/42', owner), `/rtc/v1/whip/res/42?proxy_origin=origin-1&proxy_session=k52u8e1x%3AEsAw&proxy_sig=m`);
  });

  test('a Location on another server, or not HTTP, is left alone', () => {
    assert.equal(proxyResourceLocation('https://other.example/whip/1', owner), 'https://other.example/whip/1');
    assert.equal(proxyResourceLocation('urn:x:y', owner), 'urn:x:y');
  });

  test('stale proxy parameters in an origin Location are replaced, not duplicated', () => {
    const out = proxyResourceLocation('/rtc/v1/whip/?a=1&proxy_origin=evil&proxy_session=x&proxy_sig=forged', owner);
    assert.equal(out, '/rtc/v1/whip/?a=1&proxy_origin=origin-1&proxy_session=k52u8e1x%3AEsAw&proxy_sig=m');
  });
});

describe('takeProxyParams and originPath', () => {
  test('takes the two parameters out and keeps every other byte of the query', () => {
    assert.deepEqual(takeProxyParams('action=delete&token=a%2Bb&proxy_origin=o%201&x&proxy_session=u%3Av&y='), {
      query: 'action=delete&token=a%2Bb&x&y=',
      serverId: 'o 1',
      session: 'u:v',
      signature: undefined,
    });
    assert.deepEqual(takeProxyParams(''), { query: '', serverId: undefined, session: undefined, signature: undefined });
    assert.deepEqual(takeProxyParams('bad=%E0%A4%A&proxy_origin=%'), { query: 'bad=%E0%A4%A', serverId: '%', session: undefined, signature: undefined });
  });

  test('originPath strips the resource prefix once', () => {
    assert.equal(originPath(`${RESOURCE_PREFIX}/whip/1`), '/whip/1');
    assert.equal(originPath(`${RESOURCE_PREFIX}${RESOURCE_PREFIX}/x`), `${RESOURCE_PREFIX}/x`);
    assert.equal(originPath('/rtc/v1/whip/'), '/rtc/v1/whip/');
    assert.equal(isForwardedAsIs('/rtc/v1/whip-play/'), true);
    assert.equal(isForwardedAsIs('/rtc/v1/whipx/'), false);
  });

  const queryPart = fc
    .tuple(fc.stringMatching(/^[a-z0-9_%-]{1,8}$/), fc.option(fc.stringMatching(/^[a-zA-Z0-9%+:._-]{0,8}$/), { nil: undefined }))
    .filter(([name]) => !name.startsWith('proxy_'))
    .map(([name, value]) => (value === undefined ? name : `${name}=${value}`));

  test("property: Location → request query round trip gives back origin, session and the origin's own query", () => {
    fc.assert(
      fc.property(
        fc.array(queryPart, { maxLength: 6 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        (parts, serverId, session) => {
          const query = parts.join('&');
          const location = `/rtc/v1/whip/${query === '' ? '' : `?${query}`}`;
          const rewritten = proxyResourceLocation(location, { ...owner, serverId, session, mac: (input) => `mac(${input})` });
          const q = rewritten.indexOf('?');
          const path = rewritten.slice(0, q);
          const taken = takeProxyParams(rewritten.slice(q + 1));
          assert.equal(originPath(path), '/rtc/v1/whip/');
          assert.equal(taken.serverId, serverId);
          assert.equal(taken.session, session);
          // What the request carries is exactly what the MAC covered.
          assert.equal(taken.signature, `mac(${resourceMacInput(serverId, session, originPath(path), taken.query)})`);
          // URL parsing may normalise escapes; compare decoded parameters.
          assert.deepEqual([...new URLSearchParams(taken.query)], [...new URLSearchParams(new URL(location, 'http://x').search)]);
        },
      ),
    );
  });

  test('property: arbitrary input never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        takeProxyParams(s);
        proxyResourceLocation(s, owner);
        originPath(s);
      }),
    );
  });

  test('parameter names are what the Location carries', () => {
    assert.equal(PROXY_ORIGIN_PARAM, 'proxy_origin');
    assert.equal(PROXY_SESSION_PARAM, 'proxy_session');
    assert.equal(PROXY_SIGNATURE_PARAM, 'proxy_sig');
  });
});
