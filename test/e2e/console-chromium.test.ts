// The web console in Chromium: it lists a real origin and a stream published with ffmpeg through the
// proxy, plays it over HLS and HTTP-FLV from its player tab, sends a WHEP offer through the proxy,
// renders hostile names as text, and asks for the token when one is set. WHEP with real media needs a
// private network namespace: the console's WHEP tab plays real media in webrtc-chromium.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium } from '../fixtures/browser.js';
import { clickPlayExpression, CURRENT_TIME, PLAYER_STATE, type ConsolePlayerKind } from '../fixtures/console-page.js';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { startFakeRtcOrigin } from '../fixtures/webrtc-fake-origin.js';

const media = tempDir('console-media');
/** Screenshots stay after the run (the path is printed as a test diagnostic). */
const SCREENSHOTS = join(tmpdir(), 'origin-proxy-console-screenshots');
let browser: Awaited<ReturnType<typeof launchChromium>>;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await stopAllPeers();
  media.remove();
});

/** A console page that records CSP violations and page errors from the start. */
async function openConsole(proxy: RunningProxy): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => {
    (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI);
  });`);
  await page.goto(`${proxy.systemApi}/console/`);
  return { page, problems };
}

/** Page-side: the text of each row of a table, cells joined by " | ". */
const rows = (table: string) => `[...document.querySelectorAll('#${table} tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent).join(' | '))`;

async function rowsOf(page: Page, table: string): Promise<string[]> {
  return (await page.evaluate(rows(table))) as string[];
}

/** Waits until a row of `table` contains every one of `parts`. */
async function rowWith(page: Page, table: string, parts: string[]): Promise<string> {
  return eventually(
    async () => {
      const all = await rowsOf(page, table);
      const row = all.find((r) => parts.every((p) => r.includes(p)));
      assert.ok(row, `no ${table} row with ${JSON.stringify(parts)} in ${JSON.stringify(all)}`);
      return row;
    },
    30_000,
    250,
  );
}

/** Clicks Play on the stream's row, then the player tab `kind`. */
async function playFromConsole(page: Page, stream: string, kind: ConsolePlayerKind): Promise<void> {
  assert.equal(await page.evaluate(clickPlayExpression(stream, kind)), true, `no stream row for ${stream}`);
}

async function assertPlays(page: Page, seconds: number): Promise<void> {
  const started = await eventually(
    async () => {
      const t = (await page.evaluate(CURRENT_TIME)) as number;
      assert.ok(t > 0, `not started: ${String(await page.evaluate(PLAYER_STATE))}`);
      return t;
    },
    30_000,
    250,
  );
  await eventually(
    async () => {
      const t = (await page.evaluate(CURRENT_TIME)) as number;
      assert.ok(t >= started + seconds, `currentTime ${t} (started at ${started})`);
    },
    30_000,
    250,
  );
}

async function assertNoCspViolations(page: Page, problems: string[]): Promise<void> {
  assert.deepEqual(await page.evaluate('window.__csp || []'), []);
  assert.deepEqual(problems, []);
}

async function screenshot(t: TestContext, page: Page, name: string): Promise<void> {
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  t.diagnostic(`screenshot: ${path}`);
}

test('the console lists an nginx-rtmp origin and a stream published through the proxy, and plays it over HLS', { timeout: 180_000 }, async (t) => {
  const nginx = await startNginxRtmp();
  const proxy = await startProxy();
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'ng',
      service: 's',
      pid: '1',
      rtmp: [String(nginx.rtmpPort)],
      http: [String(nginx.httpPort)],
      summaries: { data: { ok: true, self: { version: '7.0.48' }, system: { cpu_percent: 0.25, conn_srs: 3 } } },
    });
    const pub = publish(await makeTestFlv(media.dir, 10), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/console`);
    await eventually(async () => assert.equal((await fetch(`${proxy.httpServer}/live/console.m3u8`)).status, 200), 30_000, 500);
    const { page, problems } = await openConsole(proxy);
    const origin = await rowWith(page, 'origins', ['ng', 'ng-s-1', '127.0.0.1', 'up', '7.0.48']);
    assert.match(origin, /cpu 25%/);
    assert.match(origin, /rtmp \d+/);
    await rowWith(page, 'streams', ['__defaultVhost__/live/console', 'ng']);
    // Charts from the proxy's own /metrics: the client bytes and the live clients (the RTMP publisher).
    // Polled with page.evaluate (CDP evaluation is exempt from the page's CSP): page.waitForFunction re-evaluates a
    // string with eval() on later frames, which the console's CSP (no 'unsafe-eval') refuses whenever the charts
    // are not there at the first look.
    const chartCaptions = `[...document.querySelectorAll('#charts figure figcaption')].map((c) => c.textContent)`;
    await eventually(
      async () => {
        const captions = (await page.evaluate(chartCaptions)) as string[];
        assert.ok(captions.includes('Bytes per second') && captions.includes('Connections'), `chart captions ${JSON.stringify(captions)}`);
      },
      30_000,
      250,
    );
    assert.match(String(await page.evaluate(`document.getElementById('charts').textContent`)), /origin_proxy_clients_active/);
    assert.equal(await page.evaluate(`document.getElementById('metrics-note').hidden`), true, 'no "metrics unavailable" note');
    await playFromConsole(page, '__defaultVhost__/live/console', 'hls');
    await assertPlays(page, 2);
    assert.match(String(await page.evaluate(PLAYER_STATE)), new RegExp(`^http://127\\.0\\.0\\.1:${proxy.ports.httpServer}/live/console\\.m3u8 `));
    await screenshot(t, page, 'console-hls');
    await assertNoCspViolations(page, problems);
    await page.close();
    await pub.stop();
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

test('the console plays a stream published through the proxy to node-media-server over HTTP-FLV', { timeout: 180_000 }, async (t) => {
  const nms = await startNodeMediaServer();
  const proxy = await startProxy();
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'nms',
      service: 's',
      pid: '1',
      rtmp: [String(nms.rtmpPort)],
      http: [String(nms.httpPort)],
    });
    const pub = publish(await makeTestFlv(media.dir, 10), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/consoleflv`);
    const { page, problems } = await openConsole(proxy);
    await rowWith(page, 'origins', ['nms', 'up']);
    await rowWith(page, 'streams', ['__defaultVhost__/live/consoleflv', 'nms']);
    await playFromConsole(page, '__defaultVhost__/live/consoleflv', 'flv');
    await assertPlays(page, 2);
    await screenshot(t, page, 'console-flv');
    await assertNoCspViolations(page, problems);
    await page.close();
    await pub.stop();
  } finally {
    await proxy.stop();
    await nms.stop();
  }
});

test('the WHEP tab posts the browser offer through the proxy to the origin', { timeout: 120_000 }, async () => {
  const fo = await startFakeRtcOrigin();
  const proxy = await startProxy();
  try {
    await registerOrigin(proxy.systemApi, fo.registerBody('rtc-origin'));
    const { page, problems } = await openConsole(proxy);
    // A first WHEP play (a browser offer posted from the page) pins the stream, so the console lists it.
    const pinned = await page.evaluate(`(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      const offer = await pc.createOffer();
      pc.close();
      const res = await fetch(${JSON.stringify(`${proxy.httpApi}/rtc/v1/whep/?app=live&stream=webrtc`)}, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer.sdp });
      return res.status;
    })()`);
    assert.equal(pinned, 201);
    await rowWith(page, 'streams', ['__defaultVhost__/live/webrtc', 'rtc-origin']);
    const before = fo.requests.length;
    await playFromConsole(page, '__defaultVhost__/live/webrtc', 'whep');
    const post = await eventually(
      async () => {
        const p = fo.requests.slice(before).find((q) => q.method === 'POST');
        assert.ok(p, 'the origin got no WHEP POST');
        return p;
      },
      20_000,
      100,
    );
    assert.match(post.url, /stream=webrtc/);
    assert.match(post.body, /^v=0\r\n/);
    assert.match(post.body, /a=recvonly/);
    assert.match(post.body, /m=video/);
    await assertNoCspViolations(page, problems);
    await page.close();
  } finally {
    await proxy.stop();
    await fo.close();
  }
});

test('hostile origin and stream names render as text', { timeout: 120_000 }, async (t) => {
  const nms = await startNodeMediaServer();
  const proxy = await startProxy();
  const hostile = '<img src=x onerror=window.__pwned=1>';
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: hostile,
      service: '<script>window.__pwned=2</script>',
      pid: '1',
      device_id: '"><svg onload=window.__pwned=3>',
      rtmp: [String(nms.rtmpPort)],
      http: [String(nms.httpPort)],
    });
    // An HTTP-FLV play pins the hostile stream name to the origin.
    const ac = new AbortController();
    const play = await fetch(`${proxy.httpServer}/live/${encodeURIComponent(hostile)}.flv`, { signal: ac.signal });
    assert.equal(play.status, 200);
    ac.abort();
    const streams = (await (await fetch(`${proxy.systemApi}/api/v1/streams`)).json()) as { streams: { stream: string }[] };
    assert.ok(
      streams.streams.some((s) => s.stream === `__defaultVhost__/live/${hostile}`),
      JSON.stringify(streams),
    );
    const { page, problems } = await openConsole(proxy);
    await rowWith(page, 'origins', [hostile, `${hostile}-<script>window.__pwned=2</script>-1`]);
    await rowWith(page, 'streams', [`__defaultVhost__/live/${hostile}`, hostile]);
    // Injected markup would show as elements (the CSP would only stop its handlers from running).
    assert.equal(await page.evaluate('document.querySelectorAll("img, svg, main script").length'), 0);
    assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined');
    await screenshot(t, page, 'console-hostile-names');
    await assertNoCspViolations(page, problems);
    await page.close();
  } finally {
    await proxy.stop();
    await nms.stop();
  }
});

test('with a token set, the console asks for it, refuses a wrong one, then lists origins', { timeout: 120_000 }, async () => {
  const token = 'console-test-token-5f1c';
  const proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: token } });
  try {
    const reg = await fetch(`${proxy.systemApi}/api/v1/srs/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ ip: '127.0.0.1', server: 'tok-origin', service: 's', pid: '1', rtmp: ['19350'] }),
    });
    assert.equal(reg.status, 200, await reg.text());
    const { page, problems } = await openConsole(proxy);
    await page.waitForSelector('#token-form:not([hidden])', { timeout: 10_000 });
    assert.deepEqual(await rowsOf(page, 'origins'), []);
    await page.fill('#token', 'wrong');
    await page.click('#token-form button[type=submit]');
    await eventually(async () => assert.match(String(await page.evaluate('document.getElementById("token-error").textContent')), /refused/), 10_000, 100);
    assert.equal(await page.evaluate('document.getElementById("token-form").hidden'), false);
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
    await rowWith(page, 'origins', ['tok-origin', 'tok-origin-s-1']);
    assert.equal(await page.evaluate('sessionStorage.getItem("origin-proxy-token")'), token);
    // A reload keeps the session's token: no form this time.
    await page.reload();
    await rowWith(page, 'origins', ['tok-origin']);
    assert.equal(await page.evaluate('document.getElementById("token-form").hidden'), true);
    await assertNoCspViolations(page, problems);
    await page.close();
  } finally {
    await proxy.stop();
  }
});

test('an origin whose heartbeats stopped is listed as down, with the reason', { timeout: 60_000 }, async () => {
  const proxy = await startProxy({ env: { PROXY_ORIGIN_EXPIRE: '1s', PROXY_HEALTH_INTERVAL: '0' } });
  try {
    await registerOrigin(proxy.systemApi, { ip: '127.0.0.1', server: 'gone', service: 's', pid: '1', rtmp: ['19350'] });
    await eventually(
      async () => {
        const body = (await (await fetch(`${proxy.systemApi}/api/v1/origins`)).json()) as { origins: { alive: boolean; state: string }[] };
        assert.deepEqual(
          body.origins.map((o) => [o.alive, o.state]),
          [[false, 'down']],
        );
      },
      10_000,
      100,
    );
    const { page, problems } = await openConsole(proxy);
    await rowWith(page, 'origins', ['gone', 'down', 'no heartbeat']);
    assert.equal(await page.evaluate('document.querySelector("#origins tbody td.state-down") !== null'), true);
    await assertNoCspViolations(page, problems);
    await page.close();
  } finally {
    await proxy.stop();
  }
});

test('the console shows the publisher, players and clients of a live stream, and kicks a client', { timeout: 120_000 }, async () => {
  const nms = await startNodeMediaServer();
  // The player is listed and kicked one by one: a per-client relay. Edge players are counted but not listed or
  // kickable (docs/BEHAVIOUR.md §11.7), so edge mode stays off whatever the suite's overlay.
  const proxy = await startProxy({ env: { PROXY_EDGE: 'off' } });
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'nms',
      service: 's',
      pid: '1',
      rtmp: [String(nms.rtmpPort)],
      http: [String(nms.httpPort)],
    });
    const pub = publish(await makeTestFlv(media.dir, 10), `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/kickme`);
    const { page, problems } = await openConsole(proxy);
    const key = '__defaultVhost__/live/kickme';
    await rowWith(page, 'streams', [key, 'rtmp · 127.0.0.1']);
    await playFromConsole(page, key, 'flv');
    await assertPlays(page, 1);
    await rowWith(page, 'streams', [key, 'flv 1']);
    await rowWith(page, 'clients', ['rtmp', 'publish', key]);
    const player = await rowWith(page, 'clients', ['flv', 'play', key]);
    const id = player.split(' | ')[0]!;
    const kicked = await page.evaluate(`(() => {
      const row = [...document.querySelectorAll('#clients tbody tr')].find((tr) => tr.dataset.client === ${JSON.stringify(id)});
      if (!row) return false;
      row.querySelector('button.kick').click();
      return true;
    })()`);
    assert.equal(kicked, true);
    await eventually(
      async () => {
        const body = (await (await fetch(`${proxy.systemApi}/api/v1/clients`)).json()) as { clients: { id: string }[] };
        assert.ok(!body.clients.some((c) => c.id === id), `client ${id} still listed`);
      },
      10_000,
      100,
    );
    // The page drops the kicked row on its next refresh.
    await eventually(async () => assert.ok(!(await rowsOf(page, 'clients')).some((r) => r.startsWith(`${id} |`))), 10_000, 100);
    await assertNoCspViolations(page, problems);
    await page.close();
    await pub.stop();
  } finally {
    await proxy.stop();
    await nms.stop();
  }
});
