// Chromium, on a page served over HTTPS by the proxy (a secure context, as browsers require for
// publishing from any host but localhost), sends a WHIP offer to the proxy's HTTPS API listener from
// another origin: the CORS preflight and the POST pass over TLS, the answer and its Location come back.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { launchChromium } from '../fixtures/browser.js';
import { tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { run, stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy } from '../fixtures/proxy.js';
import { startFakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';

after(stopAllPeers);

test('Chromium posts a WHIP offer over HTTPS from an HTTPS page of another origin', { timeout: 120_000 }, async () => {
  const tmp = tempDir('tls-chromium');
  const cert = join(tmp.dir, 'proxy.crt');
  const key = join(tmp.dir, 'proxy.key');
  const r = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=proxy',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const site = join(tmp.dir, 'site');
  await run('mkdir', ['-p', site]);
  writeFileSync(join(site, 'publish.html'), '<!doctype html><meta charset="utf-8"><title>publish</title>');
  const fo = await startFakeRtcOrigin();
  const httpsApi = await freePort();
  const httpsServer = await freePort();
  const proxy = await startProxy({
    env: {
      PROXY_HTTPS_API: `127.0.0.1:${httpsApi}`,
      PROXY_HTTPS_SERVER: `127.0.0.1:${httpsServer}`,
      PROXY_TLS_CERT: cert,
      PROXY_TLS_KEY: key,
      PROXY_STATIC_FILES: site,
    },
  });
  const browser = await launchChromium(['--ignore-certificate-errors']);
  try {
    await registerOrigin(proxy.systemApi, fo.registerBody('tls-origin'));
    const page = await browser.context.newPage();
    await page.goto(`https://127.0.0.1:${httpsServer}/publish.html`);
    const whip = `https://127.0.0.1:${httpsApi}/rtc/v1/whip/?app=live&stream=tls`;
    // Runs in the page (a string: this project's TypeScript has no DOM types).
    const result = (await page.evaluate(`(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'sendonly' });
      pc.addTransceiver('audio', { direction: 'sendonly' });
      const offer = await pc.createOffer();
      pc.close();
      const res = await fetch(${JSON.stringify(whip)}, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer page-token' }, body: offer.sdp });
      return { secure: window.isSecureContext, origin: location.origin, status: res.status, location: res.headers.get('location'), type: res.headers.get('content-type'), answer: await res.text() };
    })()`)) as { secure: boolean; origin: string; status: number; location: string | null; type: string | null; answer: string };
    assert.equal(result.secure, true);
    assert.equal(result.origin, `https://127.0.0.1:${httpsServer}`);
    assert.equal(result.status, 201, JSON.stringify(result));
    assert.equal(result.type, 'application/sdp');
    assert.match(result.location ?? '', /proxy_session=/);
    assert.match(result.answer, /a=ice-ufrag:/);
    // The origin got the browser's offer, with what the page sent, marked as forwarded over HTTPS.
    const post = fo.requests.find((q) => q.method === 'POST');
    assert.ok(post, JSON.stringify(fo.requests.map((q) => q.method)));
    assert.match(post.body, /a=ice-ufrag:/);
    assert.equal(post.headers.authorization, 'Bearer page-token');
    assert.equal(post.headers['x-forwarded-proto'], 'https');
  } finally {
    await browser.close();
    await proxy.stop();
    await fo.close();
    tmp.remove();
  }
});
