// Attacks on WHIP/WHEP resource URLs: the proxy must not forward arbitrary methods or paths to an origin's
// API, and a client must not be able to reach (end, patch) another client's session by editing the
// proxy's parameters. A resource URL from one proxy works on another that shares its secret (the
// variable, or the one created in Redis).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startProxy, registerOrigin, type RunningProxy } from '../fixtures/proxy.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { startRedisProxies } from '../fixtures/redis-proxies.js';
import { fakeOffer, startFakeRtcOrigin, type FakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';

let offers = 0;

/** WHIP offer through `api`; returns the rewritten Location (a proxy path with query). */
async function whip(api: string, stream: string): Promise<string> {
  const res = await fetch(`${api}/rtc/v1/whip/?app=live&stream=${stream}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: fakeOffer(`hw${++offers}`, 'clientpasswordclientpassword'),
  });
  await res.text();
  assert.equal(res.status, 201);
  return res.headers.get('location')!;
}

/** Sends `method` to `location` on `api`; returns status and the parsed JSON error (if any). */
async function call(api: string, location: string, method: string): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const res = await fetch(new URL(location, api), {
    method,
    ...(method === 'PATCH' ? { headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=end-of-candidates\r\n' } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

/** A Location with one query parameter replaced. */
function withParam(location: string, name: string, value: string): string {
  const url = new URL(location, 'http://x');
  url.searchParams.set(name, value);
  return `${url.pathname}${url.search}`;
}

function assertJsonError(r: { status: number; body: Record<string, unknown> | undefined }, status: number): void {
  assert.equal(r.status, status);
  assert.equal(typeof r.body?.error, 'string', JSON.stringify(r.body));
  assert.equal(r.body?.code, status);
}

describe('WHIP/WHEP resources: only the URL an origin gave, only DELETE and PATCH', () => {
  let proxy: RunningProxy;
  let fo: FakeRtcOrigin;
  before(async () => {
    fo = await startFakeRtcOrigin();
    proxy = await startProxy();
    await registerOrigin(proxy.systemApi, fo.registerBody('fo1'));
  });
  after(async () => {
    await proxy.stop();
    await fo.close();
  });

  /** Requests the fake origin received on its API so far (nothing may reach it on refusals). */
  const originRequests = () => fo.requests.length;

  test('methods other than DELETE/PATCH on a valid resource URL are refused here', async () => {
    const location = await whip(proxy.httpApi, 'm1');
    const before = originRequests();
    for (const method of ['GET', 'PUT', 'POST', 'HEAD']) {
      const r = await call(proxy.httpApi, location.replace('/rtc/v1/whip/', '/rtc/v1/resource/rtc/v1/whip/'), method);
      assert.equal(r.status, 405, method);
    }
    const get = await call(proxy.httpApi, location, 'GET');
    assertJsonError(get, 405);
    assert.equal(originRequests(), before, 'nothing reached the origin');
  });

  test('arbitrary origin API paths cannot be reached (missing or forged parameters)', async () => {
    const location = await whip(proxy.httpApi, 'm2');
    const sig = new URL(location, 'http://x').searchParams.get('proxy_sig')!;
    const before = originRequests();
    assertJsonError(await call(proxy.httpApi, '/rtc/v1/resource/api/v1/clients/', 'DELETE'), 404);
    assertJsonError(
      await call(proxy.httpApi, '/rtc/v1/resource/api/v1/clients/?proxy_origin=fo1&proxy_session=a:b&proxy_sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'DELETE'),
      403,
    );
    // A genuine MAC moved to another path is worth nothing.
    assertJsonError(await call(proxy.httpApi, `/rtc/v1/resource/api/v1/streams/?${new URL(location, 'http://x').search.slice(1)}`, 'DELETE'), 403);
    assertJsonError(await call(proxy.httpApi, `/rtc/v1/whip/?proxy_origin=fo1&proxy_session=x:y&proxy_sig=${sig}`, 'PATCH'), 403);
    assert.equal(originRequests(), before, 'nothing reached the origin');
  });

  test("one client cannot end or patch another's session by editing the parameters", async () => {
    const mine = await whip(proxy.httpApi, 'victim');
    const theirs = await whip(proxy.httpApi, 'attacker');
    const victimSession = new URL(mine, 'http://x').searchParams.get('proxy_session')!;
    const victimQuerySession = new URL(mine, 'http://x').searchParams.get('session')!;
    const before = originRequests();
    // The attacker's own URL with the victim's session, in the proxy's parameter or the origin's.
    assertJsonError(await call(proxy.httpApi, withParam(theirs, 'proxy_session', victimSession), 'DELETE'), 403);
    assertJsonError(await call(proxy.httpApi, withParam(theirs, 'session', victimQuerySession), 'DELETE'), 403);
    assertJsonError(await call(proxy.httpApi, withParam(theirs, 'proxy_origin', 'fo2'), 'PATCH'), 403);
    assertJsonError(await call(proxy.httpApi, withParam(mine, 'proxy_sig', new URL(theirs, 'http://x').searchParams.get('proxy_sig')!), 'DELETE'), 403);
    assert.equal(originRequests(), before, 'nothing reached the origin');
    // The genuine URLs still work.
    assert.equal((await call(proxy.httpApi, mine, 'DELETE')).status, 200);
    assert.equal((await call(proxy.httpApi, theirs, 'PATCH')).status, 204);
  });

  test('a resource URL signed by a proxy with another secret is refused; the same secret is accepted', async () => {
    const a = await startProxy({ env: { PROXY_SESSION_SECRET: 'first-secret-first-secret' } });
    const b = await startProxy({ env: { PROXY_SESSION_SECRET: 'other-secret-other-secret' } });
    const c = await startProxy({ env: { PROXY_SESSION_SECRET: 'first-secret-first-secret' } });
    try {
      for (const p of [a, b, c]) await registerOrigin(p.systemApi, fo.registerBody('fo1'));
      const location = await whip(a.httpApi, 's1');
      assertJsonError(await call(b.httpApi, location, 'DELETE'), 403);
      assert.equal((await call(c.httpApi, location, 'DELETE')).status, 200);
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
  });

  test('PROXY_SESSION_SECRET shorter than 16 bytes stops startup naming the variable', async () => {
    const bad = await startProxy({ env: { PROXY_SESSION_SECRET: 'short' }, waitReady: false });
    const { code } = await bad.peer.exited;
    assert.equal(code, 255);
    assert.match(bad.peer.output, /PROXY_SESSION_SECRET/);
  });
});

describe('WHIP/WHEP resources with Redis and no configured secret', () => {
  let redis: RedisServer;
  let proxies: RunningProxy[];
  let fo: FakeRtcOrigin;
  before(async () => {
    redis = await startRedis();
    fo = await startFakeRtcOrigin();
    proxies = await startRedisProxies(redis, 2);
    await registerOrigin(proxies[0]!.systemApi, fo.registerBody('fo1'));
  });
  after(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await fo.close();
    await redis.stop();
  });

  test('a Location from one proxy is accepted by the other; a forged one by neither', async () => {
    const location = await whip(proxies[0]!.httpApi, 'r1');
    assertJsonError(await call(proxies[1]!.httpApi, withParam(location, 'proxy_session', 'someone:else'), 'DELETE'), 403);
    assert.equal((await call(proxies[1]!.httpApi, location, 'PATCH')).status, 204);
    assert.equal((await call(proxies[1]!.httpApi, location, 'DELETE')).status, 200);
  });
});
