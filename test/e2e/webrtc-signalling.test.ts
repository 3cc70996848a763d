// WebRTC through the proxy as users run it (the CLI in a child process) against fake origins (FO):
// spec scenarios 56-68, WHIP resource handling (Location, DELETE, PATCH), the JSON API, CORS, origin
// statuses passed through, and bad datagrams on the media port.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { waitFor } from '../fixtures/wait.js';
import { fakeAnswer, fakeOffer, startFakeRtcOrigin, type FakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';
import { UdpPeer, dtlsCloseNotify, dtlsHandshake, rtpPacket, stunBindingRequest, waitForItem } from '../fixtures/webrtc-udp.js';

after(stopAllPeers);

interface Answered {
  status: number;
  headers: Headers;
  sdp: string;
  /** The STUN USERNAME of the session: `<answerUfrag>:<offerUfrag>`. */
  username: string;
  /** The answer's ice-pwd: the key of the client's checks. */
  pwd: string;
}

let offerCount = 0;

/** POSTs an offer with fresh ICE credentials; returns the answer and the session's USERNAME. */
async function whip(api: string, query: string, extraHeaders: Record<string, string> = {}, path = '/rtc/v1/whip/'): Promise<Answered> {
  const offerUfrag = `cli${++offerCount}`;
  const res = await fetch(`${api}${path}?${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', ...extraHeaders },
    body: fakeOffer(offerUfrag, 'clientpasswordclientpassword'),
  });
  const sdp = await res.text();
  const answerUfrag = /a=ice-ufrag:(\S+)/.exec(sdp)?.[1] ?? '';
  const pwd = /a=ice-pwd:(\S+)/.exec(sdp)?.[1] ?? '';
  return { status: res.status, headers: res.headers, sdp, username: `${answerUfrag}:${offerUfrag}`, pwd };
}

/** Datagrams the proxy's relay has dropped so far, all reasons. */
async function droppedCount(proxy: RunningProxy): Promise<number> {
  return Object.values((await proxy.stats()).detail.webrtc.dropped).reduce((a, b) => a + b, 0);
}

/** A check for an ended session: the proxy drops it as an unknown USERNAME and FO never sees it. */
async function assertNotRelayed(proxy: RunningProxy, fo: FakeRtcOrigin, client: UdpPeer, username: string, pwd: string): Promise<void> {
  const before = (await proxy.stats()).detail.webrtc.dropped['unknown-username'];
  const stun = stunBindingRequest(username, pwd);
  await client.send(stun, proxy.ports.webrtc);
  await waitFor(async () => (await proxy.stats()).detail.webrtc.dropped['unknown-username'] === before + 1, {
    what: `the check for ended session ${username} to be dropped`,
  });
  assert.ok(!fo.datagrams.some((d) => d.data.equals(stun)));
}

/** STUN from `client` with the session's USERNAME; resolves with what FO received. */
async function bind(proxy: RunningProxy, fo: FakeRtcOrigin, client: UdpPeer, username: string, pwd: string) {
  const stun = stunBindingRequest(username, pwd);
  await client.send(stun, proxy.ports.webrtc);
  return waitForItem(fo.datagrams, (d) => d.data.equals(stun));
}

describe('WebRTC signalling and relay through the proxy (fake origins)', () => {
  let proxy: RunningProxy;
  let fo1: FakeRtcOrigin;
  let fo2: FakeRtcOrigin;

  before(async () => {
    fo1 = await startFakeRtcOrigin();
    fo2 = await startFakeRtcOrigin();
    // Fake origins register placeholder RTMP ports: active health probes (which dial them) stay off.
    proxy = await startProxy({ env: { PROXY_IDLE_TIMEOUT: '1s', PROXY_MAX_UDP_SESSIONS: '50', PROXY_HEALTH_INTERVAL: '0' } });
    await registerOrigin(proxy.systemApi, fo1.registerBody('fo1'));
  });
  after(async () => {
    await proxy.stop();
    await fo1.close();
    await fo2.close();
  });

  test('scenario 56/58: WHIP offer reaches FO unchanged; the client gets 201, application/sdp and a Location', async () => {
    const offer = fakeOffer('whip56', 'passwordpasswordpassword');
    const res = await fetch(`${proxy.httpApi}/rtc/v1/whip/?app=live&stream=s56&codec=h264&eip=127.0.0.1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer secret-56' },
      body: offer,
    });
    const body = await res.text();
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/sdp');
    const got = fo1.requests.at(-1)!;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/rtc/v1/whip/?app=live&stream=s56&codec=h264&eip=127.0.0.1');
    assert.equal(got.body, offer);
    assert.equal(got.headers['content-type'], 'application/sdp');
    assert.equal(got.headers.authorization, 'Bearer secret-56');
    assert.equal(got.headers['x-forwarded-for'], '127.0.0.1');
    assert.match(body, /^v=0\r\n/);
    assert.match(body, /a=ice-ufrag:fo\d+\r\n/);
    const location = res.headers.get('location')!;
    assert.match(
      location,
      /^\/rtc\/v1\/whip\/\?action=delete&token=tok\d+&app=live&stream=s56&session=fo\d+:whip56&proxy_origin=fo1&proxy_session=fo\d+%3Awhip56&proxy_sig=[\w-]{32}$/,
    );
    // CORS: exactly one Allow-Origin although FO sent its own.
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-expose-headers'), '*');
  });

  test('scenario 57: UDP host candidates get the proxy port, TCP candidates are removed, nothing else changes', async () => {
    fo1.reply = (req) =>
      req.method === 'POST'
        ? { status: 201, headers: { 'Content-Type': 'application/sdp' }, body: fakeAnswer('fo57', 'pwd57pwd57pwd57pwd57pwd57', '1.2.3.4', 8001) }
        : undefined;
    await registerOrigin(proxy.systemApi, fo1.registerBody('fo1', 8001));
    try {
      const a = await whip(proxy.httpApi, 'app=live&stream=s57');
      assert.equal(a.status, 201);
      assert.ok(a.sdp.includes(`a=candidate:0 1 udp 2130706431 1.2.3.4 ${proxy.ports.webrtc} typ host generation 0\r\n`), a.sdp);
      assert.ok(!a.sdp.includes(' tcp '), 'TCP candidate removed');
      const expected = fakeAnswer('fo57', 'pwd57pwd57pwd57pwd57pwd57', '1.2.3.4', 8001)
        .replace(' 8001 typ host generation 0', ` ${proxy.ports.webrtc} typ host generation 0`)
        .replace(/a=candidate:1 1 tcp[^\r]*\r\n/, '');
      assert.equal(a.sdp, expected);
    } finally {
      fo1.reply = undefined;
      await registerOrigin(proxy.systemApi, fo1.registerBody('fo1'));
    }
  });

  test('scenario 59: OPTIONS gets 200 with CORS headers; a preflight for Authorization gets it named', async () => {
    const res = await fetch(`${proxy.httpApi}/rtc/v1/whep/`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://player.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-allow-methods'), '*');
    assert.equal(res.headers.get('access-control-allow-headers'), 'authorization,content-type');
    const plain = await fetch(`${proxy.httpApi}/rtc/v1/whip/`, { method: 'OPTIONS' });
    assert.equal(plain.headers.get('access-control-allow-headers'), '*');
  });

  test('scenario 60 (improved): FO answers 400 or 500 → the client gets that status and body; nothing is stored', async () => {
    for (const status of [400, 500]) {
      fo1.reply = () => ({ status, headers: { 'Content-Type': 'text/plain', 'X-Origin-Error': 'yes' }, body: `origin says ${status}` });
      const before = fo1.requests.length;
      const a = await whip(proxy.httpApi, 'app=live&stream=s60');
      assert.equal(a.status, status);
      assert.equal(a.sdp, `origin says ${status}`);
      assert.equal(a.headers.get('x-origin-error'), 'yes');
      assert.equal(a.headers.get('access-control-allow-origin'), '*');
      fo1.reply = undefined;
      assert.equal(fo1.requests.length, before + 1);
    }
  });

  test('scenarios 61/62: STUN with the session USERNAME reaches FO byte for byte from one stable port; replies come from the media port', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=s61');
    const client = await UdpPeer.open();
    const first = await bind(proxy, fo1, client, a.username, a.pwd);
    const second = await bind(proxy, fo1, client, a.username, a.pwd);
    assert.equal(first.from.port, second.from.port, 'one upstream socket per session');
    assert.notEqual(first.from.port, proxy.ports.webrtc);
    // FO answers to where the request came from; the client sees it from the proxy's media port.
    const reply = Buffer.from('origin-reply-61');
    fo1.udp.send(reply, first.from.port, '127.0.0.1');
    const got = await waitForItem(client.received, (d) => d.data.equals(reply));
    assert.equal(got.from.port, proxy.ports.webrtc);
    // Media both ways.
    const rtp = rtpPacket(1, 'client-rtp-61');
    await client.send(rtp, proxy.ports.webrtc);
    await waitForItem(fo1.datagrams, (d) => d.data.equals(rtp) && d.from.port === first.from.port);
    await client.close();
  });

  test('scenario 63: DTLS from the STUN-verified address is forwarded; from an unseen address it is dropped', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=s63');
    const client = await UdpPeer.open();
    const stranger = await UdpPeer.open();
    await bind(proxy, fo1, client, a.username, a.pwd);
    const hello = dtlsHandshake('client-hello-63');
    const spoof = dtlsHandshake('stranger-hello-63');
    await stranger.send(spoof, proxy.ports.webrtc);
    await client.send(hello, proxy.ports.webrtc);
    await waitForItem(fo1.datagrams, (d) => d.data.equals(hello));
    // The relay reads its socket in order and drops on the spot: the spoof, sent first, is decided.
    assert.ok(!fo1.datagrams.some((d) => d.data.equals(spoof)));
    await client.close();
    await stranger.close();
  });

  test('scenarios 64/65 and bad datagrams: dropped, the proxy stays up and keeps relaying', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=s64');
    const client = await UdpPeer.open();
    await bind(proxy, fo1, client, a.username, a.pwd);
    const attacker = await UdpPeer.open();
    const marker = fo1.datagrams.length;
    const bad: Buffer[] = [];
    // 64: unknown USERNAME.
    bad.push(stunBindingRequest('nobody:nothing'));
    // 65: 21 bytes with length field 1 (Go crashes).
    const s65 = Buffer.alloc(21);
    s65.writeUInt16BE(0x0001, 0);
    s65.writeUInt16BE(1, 2);
    s65.writeUInt32BE(0x2112a442, 4);
    bad.push(s65);
    // Length field lying upwards and downwards.
    const lyingUp = Buffer.from(stunBindingRequest(a.username, a.pwd));
    lyingUp.writeUInt16BE(lyingUp.readUInt16BE(2) + 8, 2);
    bad.push(lyingUp);
    const lyingDown = Buffer.from(stunBindingRequest(a.username, a.pwd));
    lyingDown.writeUInt16BE(lyingDown.readUInt16BE(2) - 4, 2);
    bad.push(lyingDown);
    // USERNAME whose value length overruns the message, and one whose padding overruns it.
    const overrun = Buffer.from(stunBindingRequest(a.username, a.pwd));
    overrun.writeUInt16BE(0x0400, 22);
    bad.push(overrun);
    const padding = Buffer.alloc(28);
    padding.writeUInt16BE(0x0001, 0);
    padding.writeUInt16BE(8, 2);
    padding.writeUInt32BE(0x2112a442, 4);
    padding.writeUInt16BE(0x0006, 20);
    padding.writeUInt16BE(5, 22); // 5 bytes + 3 padding = 8 > 4 left
    bad.push(padding);
    bad.push(Buffer.alloc(0));
    bad.push(Buffer.alloc(65_507, 0x80));
    bad.push(Buffer.alloc(65_507, 0x00));
    bad.push(dtlsHandshake('unbound'));
    bad.push(rtpPacket(9, 'unbound-rtp'));
    const droppedBefore = await droppedCount(proxy);
    for (const b of bad) await attacker.send(b, proxy.ports.webrtc);
    // The client's own STUN must still work, nothing of the attacker's reached FO: each of its
    // datagrams was counted as dropped.
    const ok = await bind(proxy, fo1, client, a.username, a.pwd);
    assert.ok(ok);
    await waitFor(async () => (await droppedCount(proxy)) - droppedBefore === bad.length, { what: `${bad.length} bad datagrams to be dropped` });
    assert.deepEqual(
      fo1.datagrams
        .slice(marker)
        .filter((d) => !d.data.equals(ok.data))
        .map((d) => d.data.length),
      [],
    );
    assert.equal(proxy.peer.hasExited, false);
    await client.close();
    await attacker.close();
  });

  test('scenario 66: a client that changes its source port keeps receiving', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=s66');
    const oldPort = await UdpPeer.open();
    const newPort = await UdpPeer.open();
    const up = await bind(proxy, fo1, oldPort, a.username, a.pwd);
    await bind(proxy, fo1, newPort, a.username, a.pwd);
    const media = Buffer.from('origin-media-66');
    fo1.udp.send(media, up.from.port, '127.0.0.1');
    await waitForItem(newPort.received, (d) => d.data.equals(media));
    assert.ok(!oldPort.received.some((d) => d.data.equals(media)));
    // The new address relays DTLS/SRTP without any further STUN.
    const rtp = rtpPacket(2, 'after-move-66');
    await newPort.send(rtp, proxy.ports.webrtc);
    await waitForItem(fo1.datagrams, (d) => d.data.equals(rtp));
    await oldPort.close();
    await newPort.close();
  });

  test('scenario 67 (improved): an idle session is freed; later packets for its ufrag are dropped', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=s67');
    const client = await UdpPeer.open();
    const up = await bind(proxy, fo1, client, a.username, a.pwd);
    // PROXY_IDLE_TIMEOUT=1s, swept every 250 ms. The earlier tests' sessions are silent too: once
    // none is left, this one has been freed as well.
    await waitFor(async () => (await proxy.stats()).detail.webrtc.sessions === 0, { what: 'the silent sessions to be freed' });
    const media = Buffer.from('late-origin-media-67');
    fo1.udp.send(media, up.from.port, '127.0.0.1');
    await assertNotRelayed(proxy, fo1, client, a.username, a.pwd);
    // Sent to an upstream socket the proxy has closed: nothing can carry it to the client.
    assert.ok(!client.received.some((d) => d.data.equals(media)));
    await client.close();
  });

  test('scenario 68: an offer without a=ice-ufrag is refused with 400 and never reaches the origin', async () => {
    const before = fo1.requests.length;
    for (const offer of [fakeOffer(undefined, 'pwdpwdpwdpwdpwdpwdpwdpwd'), fakeOffer('ufragonly', undefined), '']) {
      const res = await fetch(`${proxy.httpApi}/rtc/v1/whip/?app=live&stream=s68`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: offer,
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      assert.match(((await res.json()) as { error: string }).error, /ice-ufrag/);
    }
    assert.equal(fo1.requests.length, before);
  });

  test('WHIP DELETE through the rewritten Location reaches the same origin and ends the session in the proxy', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=sdel');
    const client = await UdpPeer.open();
    await bind(proxy, fo1, client, a.username, a.pwd);
    const location = a.headers.get('location')!;
    const del = await fetch(new URL(location, `${proxy.httpApi}/rtc/v1/whip/`), { method: 'DELETE', headers: { Authorization: 'Bearer del' } });
    assert.equal(del.status, 200);
    const got = fo1.requests.at(-1)!;
    assert.equal(got.method, 'DELETE');
    assert.match(got.url, /^\/rtc\/v1\/whip\/\?action=delete&token=tok\d+&app=live&stream=sdel&session=fo\d+:cli\d+$/);
    assert.equal(got.headers.authorization, 'Bearer del');
    await assertNotRelayed(proxy, fo1, client, a.username, a.pwd);
    await client.close();
  });

  test('a refused DELETE (bad token) leaves the session alone', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=sdel403');
    const client = await UdpPeer.open();
    await bind(proxy, fo1, client, a.username, a.pwd);
    fo1.reply = (req) => (req.method === 'DELETE' ? { status: 403, body: 'bad token' } : undefined);
    try {
      const del = await fetch(new URL(a.headers.get('location')!, proxy.httpApi), { method: 'DELETE' });
      assert.equal(del.status, 403);
    } finally {
      fo1.reply = undefined;
    }
    await bind(proxy, fo1, client, a.username, a.pwd);
    await client.close();
  });

  test('PATCH (trickle ICE) through the Location reaches the same origin with its body and type', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=spatch');
    const frag = 'a=ice-ufrag:x\r\na=ice-pwd:y\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n';
    const res = await fetch(new URL(a.headers.get('location')!, proxy.httpApi), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' },
      body: frag,
    });
    assert.equal(res.status, 204);
    const got = fo1.requests.at(-1)!;
    assert.equal(got.method, 'PATCH');
    assert.equal(got.body, frag);
    assert.equal(got.headers['content-type'], 'application/trickle-ice-sdpfrag');
    assert.ok(!got.url.includes('proxy_'));
  });

  test('an origin resource outside the WHIP paths is reached under /rtc/v1/resource/ (DELETE ends the session)', async () => {
    fo1.reply = (req) => {
      if (req.method !== 'POST') return undefined;
      const offerUfrag = /a=ice-ufrag:(\S+)/.exec(req.body)![1];
      return {
        status: 201,
        headers: { 'Content-Type': 'application/sdp', Location: `http://127.0.0.1:${fo1.apiPort}/whip/resource/r-${offerUfrag}?k=v` },
        body: fakeAnswer('generic1', 'genericpasswordgenericpwd', '127.0.0.1', fo1.udpPort),
      };
    };
    let a: Answered;
    try {
      a = await whip(proxy.httpApi, 'app=live&stream=sgeneric');
    } finally {
      fo1.reply = undefined;
    }
    const location = a.headers.get('location')!;
    assert.match(
      location,
      new RegExp(`^/rtc/v1/resource/whip/resource/r-cli${offerCount}\\?k=v&proxy_origin=fo1&proxy_session=generic1%3Acli${offerCount}&proxy_sig=[\\w-]{32}$`),
    );
    const client = await UdpPeer.open();
    await bind(proxy, fo1, client, a.username, a.pwd);
    fo1.reply = (req) => (req.method === 'DELETE' ? { status: 204 } : undefined);
    try {
      const del = await fetch(new URL(location, proxy.httpApi), { method: 'DELETE' });
      assert.equal(del.status, 204);
    } finally {
      fo1.reply = undefined;
    }
    assert.equal(fo1.requests.at(-1)!.url, `/whip/resource/r-cli${offerCount}?k=v`);
    await assertNotRelayed(proxy, fo1, client, a.username, a.pwd);
    await client.close();
  });

  test('ICE restart by PATCH: the answer fragment points at the proxy and the new credentials form a new session', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=srestart');
    fo1.reply = (req) =>
      req.method === 'PATCH'
        ? {
            status: 200,
            headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' },
            body: `a=ice-ufrag:rst1\r\na=ice-pwd:restartpasswordrestartpw\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:0 1 udp 2130706431 127.0.0.1 ${fo1.udpPort} typ host generation 0\r\n`,
          }
        : undefined;
    let fragment: string;
    try {
      const res = await fetch(new URL(a.headers.get('location')!, proxy.httpApi), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' },
        body: 'a=ice-ufrag:cnew\r\na=ice-pwd:clientnewpasswordclientnew\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n',
      });
      assert.equal(res.status, 200);
      fragment = await res.text();
    } finally {
      fo1.reply = undefined;
    }
    assert.ok(fragment.includes(`a=candidate:0 1 udp 2130706431 127.0.0.1 ${proxy.ports.webrtc} typ host generation 0\r\n`), fragment);
    assert.equal(fo1.requests.at(-1)!.headers['if-match'], '*');
    const client = await UdpPeer.open();
    await bind(proxy, fo1, client, 'rst1:cnew', 'restartpasswordrestartpw');
    await client.close();
  });

  test('DTLS close_notify ends the session', async () => {
    const a = await whip(proxy.httpApi, 'app=live&stream=sclose');
    const client = await UdpPeer.open();
    await bind(proxy, fo1, client, a.username, a.pwd);
    const closedBefore = (await proxy.stats()).detail.webrtc.sessionsClosed['dtls-alert'];
    const alert = dtlsCloseNotify();
    await client.send(alert, proxy.ports.webrtc);
    await waitForItem(fo1.datagrams, (d) => d.data.equals(alert));
    // One second of grace for the peer's own close_notify, then the session ends.
    await waitFor(async () => (await proxy.stats()).detail.webrtc.sessionsClosed['dtls-alert'] === closedBefore + 1, {
      what: 'the session to end on close_notify',
    });
    await assertNotRelayed(proxy, fo1, client, a.username, a.pwd);
    await client.close();
  });

  test('SRS JSON API: /rtc/v1/publish/ routed by streamurl, answer rewritten, session relayed', async () => {
    const offer = fakeOffer('jsonoffer', 'jsonpasswordjsonpassword');
    const request = { api: `${proxy.httpApi}/rtc/v1/publish/`, streamurl: 'webrtc://localhost/live/json1', clientip: null, sdp: offer, tid: 'abc1234' };
    const res = await fetch(`${proxy.httpApi}/rtc/v1/publish/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { code: number; sdp: string; sessionid: string; server: string };
    assert.equal(answer.code, 0);
    assert.equal(answer.server, 'vid-fo');
    assert.ok(answer.sdp.includes(` 127.0.0.1 ${proxy.ports.webrtc} typ host`));
    const fo = [fo1, fo2].find((f) => f.requests.some((r) => r.url === '/rtc/v1/publish/' && r.body === JSON.stringify(request)));
    assert.ok(fo, 'an origin received the JSON body unchanged');
    const client = await UdpPeer.open();
    await bind(proxy, fo, client, answer.sessionid, /a=ice-pwd:(\S+)/.exec(answer.sdp)![1]!);
    await client.close();
    const bad = await fetch(`${proxy.httpApi}/rtc/v1/play/`, { method: 'POST', body: '{"streamurl": 5}' });
    assert.equal(bad.status, 400);
  });

  test('unslashed paths redirect with 308 (method kept); no origin for a stream → 503 with CORS', async () => {
    const r = await fetch(`${proxy.httpApi}/rtc/v1/whip?app=live&stream=x`, { method: 'POST', redirect: 'manual', body: 'x' });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('location'), '/rtc/v1/whip/?app=live&stream=x');
    const lonely = await startProxy({ env: { PROXY_HEALTH_INTERVAL: '0' } });
    try {
      const a = await whip(lonely.httpApi, 'app=live&stream=none');
      assert.equal(a.status, 503);
      assert.match(a.sdp, /no origin/);
    } finally {
      await lonely.stop();
    }
  });
  test('two origins, several sessions each: every session relays to its own origin', async () => {
    await registerOrigin(proxy.systemApi, fo2.registerBody('fo2'));
    const sessions: { a: Answered; client: UdpPeer; stream: string }[] = [];
    for (let i = 0; i < 16; i++) {
      const stream = `multi${i}`;
      const a = await whip(proxy.httpApi, `app=live&stream=${stream}`);
      assert.equal(a.status, 201);
      sessions.push({ a, client: await UdpPeer.open(), stream });
    }
    const foFor = (stream: string) => (fo1.requests.some((r) => r.url.includes(`stream=${stream}&`) || r.url.endsWith(`stream=${stream}`)) ? fo1 : fo2);
    const used = new Set(sessions.map((s) => foFor(s.stream)));
    assert.equal(used.size, 2, 'both origins got streams');
    await Promise.all(
      sessions.map(async (s) => {
        const fo = foFor(s.stream);
        const up = await bind(proxy, fo, s.client, s.a.username, s.a.pwd);
        const rtp = rtpPacket(3, `media-${s.stream}#`);
        await s.client.send(rtp, proxy.ports.webrtc);
        await waitForItem(fo.datagrams, (d) => d.data.equals(rtp) && d.from.port === up.from.port);
        const back = Buffer.from(`back-${s.stream}`);
        fo.udp.send(back, up.from.port, '127.0.0.1');
        await waitForItem(s.client.received, (d) => d.data.equals(back));
      }),
    );
    for (const s of sessions) {
      const other = foFor(s.stream) === fo1 ? fo2 : fo1;
      assert.ok(!other.datagrams.some((d) => d.data.toString('latin1').includes(`media-${s.stream}#`)));
      await s.client.close();
    }
  });
});

describe('PROXY_WEBRTC_CANDIDATE', () => {
  test("replaces the candidate address; a client asking for eip keeps the origin's", async () => {
    const fo = await startFakeRtcOrigin();
    const proxy = await startProxy({ env: { PROXY_WEBRTC_CANDIDATE: 'media.example.com', PROXY_HEALTH_INTERVAL: '0' } });
    try {
      await registerOrigin(proxy.systemApi, fo.registerBody('fo'));
      const a = await whip(proxy.httpApi, 'app=live&stream=cand');
      assert.ok(a.sdp.includes(` media.example.com ${proxy.ports.webrtc} typ host generation 0`), a.sdp);
      const b = await whip(proxy.httpApi, 'app=live&stream=cand&eip=127.0.0.1');
      assert.ok(b.sdp.includes(` 127.0.0.1 ${proxy.ports.webrtc} typ host generation 0`), b.sdp);
    } finally {
      await proxy.stop();
      await fo.close();
    }
  });
});
