// One client address flooding WebRTC offers (WHIP/WHEP, the JSON API, valid or garbage) is stopped at
// PROXY_MAX_OFFERS_PER_IP a minute with 429 JSON naming the limit, before the origin is asked; another
// address still gets its answers. The allowance refills evenly over the minute (injected clock).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:net';
import { Agent, buildConnector, request } from 'undici';
import { ConfigError, loadConfig } from '../../src/config.js';
import { clientAddressKey, OfferRateLimit } from '../../src/webrtc/offer-limit.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { fakeOffer, startFakeRtcOrigin, type FakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';

const LIMIT = 5;

describe('PROXY_MAX_OFFERS_PER_IP', () => {
  test('defaults to 600; validated with the variable named', () => {
    const load = (env: Record<string, string>) => loadConfig({ env, cwd: '/', readDotenv: () => undefined }).config.edge.maxOffersPerIp;
    assert.equal(load({}), 600);
    assert.equal(load({ PROXY_MAX_OFFERS_PER_IP: '7' }), 7);
    for (const bad of ['0', '-3', 'lots', '1.5']) {
      assert.throws(
        () => load({ PROXY_MAX_OFFERS_PER_IP: bad }),
        (err: unknown) => err instanceof ConfigError && /PROXY_MAX_OFFERS_PER_IP/.test(err.message),
      );
    }
  });

  test('the allowance: a burst of the whole minute, then one more every 60/N seconds; addresses apart', () => {
    const clock = { t: 0 };
    const limit = new OfferRateLimit({ perMinute: 6, now: () => clock.t });
    for (let i = 0; i < 6; i++) assert.equal(limit.take('10.0.0.1'), true);
    assert.equal(limit.take('10.0.0.1'), false);
    assert.equal(limit.take('10.0.0.2'), true, 'another address has its own allowance');
    clock.t += 9_000;
    assert.equal(limit.take('10.0.0.1'), false, 'not yet a whole offer refilled');
    clock.t += 1_000;
    assert.equal(limit.take('10.0.0.1'), true);
    assert.equal(limit.take('10.0.0.1'), false);
    assert.equal(clientAddressKey('::ffff:10.0.0.1'), '10.0.0.1', 'IPv4-mapped counts as IPv4');
  });

  test('many addresses: the table stays bounded (the least recently seen is forgotten)', () => {
    const limit = new OfferRateLimit({ perMinute: 1, now: () => 0, maxAddresses: 100 });
    for (let i = 0; i < 10_000; i++) limit.take(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(limit.size, 100);
  });
});

describe('WebRTC offers flooded from one address (real proxy, fake origin)', () => {
  let proxy: RunningProxy;
  let fo: FakeRtcOrigin;
  // Another client address: undici's connect options do not carry localAddress, so connect ourselves.
  const other = new Agent({
    connect: ((opts, cb) => {
      const socket = connect({ host: opts.hostname, port: Number(opts.port), localAddress: '127.0.0.2' });
      socket.once('connect', () => cb(null, socket));
      socket.once('error', (err) => cb(err, null));
    }) as buildConnector.connector,
  });
  before(async () => {
    fo = await startFakeRtcOrigin();
    proxy = await startProxy({ env: { PROXY_MAX_OFFERS_PER_IP: String(LIMIT), PROXY_HEALTH_INTERVAL: '0' } });
    await registerOrigin(proxy.systemApi, fo.registerBody('fo'));
  });
  after(async () => {
    await other.close();
    await proxy?.stop();
    await fo?.close();
  });

  const whip = (n: number, dispatcher?: Agent) =>
    request(`${proxy.httpApi}/rtc/v1/whip/?app=live&stream=s${n}`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: fakeOffer(`u${n}`, `pwd-pwd-pwd-pwd-pwd-pwd-${n}`),
      ...(dispatcher ? { dispatcher } : {}),
    });

  test('WHIP offers past the limit get 429 JSON naming it; the origin saw only the allowed ones; another address is answered', async () => {
    const asked = fo.requests.length;
    const statuses: number[] = [];
    let refusal: { code: number; error: string } | undefined;
    for (let i = 0; i < LIMIT + 5; i++) {
      const res = await whip(i);
      statuses.push(res.statusCode);
      const body = await res.body.text();
      if (res.statusCode === 429) refusal ??= JSON.parse(body) as { code: number; error: string };
    }
    assert.deepEqual(statuses, [...Array<number>(LIMIT).fill(201), ...Array<number>(5).fill(429)]);
    assert.equal(refusal?.code, 429);
    assert.match(refusal?.error ?? '', /PROXY_MAX_OFFERS_PER_IP/);
    assert.equal(fo.requests.length - asked, LIMIT, 'refused offers never reached the origin');
    // Another client address is unaffected.
    const res = await whip(100, other);
    await res.body.text();
    assert.equal(res.statusCode, 201);
  });

  test('the JSON API and garbage offers draw on the same allowance (still refused, origin not asked)', async () => {
    const asked = fo.requests.length;
    const json = await request(`${proxy.httpApi}/rtc/v1/publish/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api: 'x', streamurl: 'webrtc://127.0.0.1/live/j', sdp: fakeOffer('j', 'pwd-pwd-pwd-pwd-pwd-pwd-j'), tid: 't' }),
    });
    assert.equal(json.statusCode, 429);
    assert.match(await json.body.text(), /PROXY_MAX_OFFERS_PER_IP/);
    const garbage = await request(`${proxy.httpApi}/rtc/v1/whep/?app=live&stream=g`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: 'x'.repeat(100_000),
    });
    assert.equal(garbage.statusCode, 429);
    await garbage.body.text();
    assert.equal(fo.requests.length, asked);
    // The other address still has its allowance, through the JSON API too.
    const fromOther = await request(`${proxy.httpApi}/rtc/v1/publish/`, {
      method: 'POST',
      dispatcher: other,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api: 'x', streamurl: 'webrtc://127.0.0.1/live/k', sdp: fakeOffer('k', 'pwd-pwd-pwd-pwd-pwd-pwd-k'), tid: 't' }),
    });
    await fromOther.body.text();
    assert.notEqual(fromOther.statusCode, 429);
    assert.equal(fo.requests.length, asked + 1);
  });
});
