// A real browser plays through the proxy: hls.js (HLS from nginx-rtmp) and mpegts.js (HTTP-FLV from
// node-media-server), with the page itself served by the proxy's static files.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium, writePlayerPage } from '../fixtures/browser.js';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { tempDir } from '../fixtures/paths.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy } from '../fixtures/proxy.js';

const media = tempDir('browser-media');
const site = tempDir('browser-site');
let browser: Awaited<ReturnType<typeof launchChromium>>;

before(async () => {
  writePlayerPage(site.dir);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await stopAllPeers();
  media.remove();
  site.remove();
});

// Page-side expressions as strings: the test itself is compiled without DOM types.
const CURRENT_TIME = 'document.getElementById("v").currentTime';
const PLAYER_ERRORS = 'JSON.stringify(window.playerErrors)';

/** Waits until the page's video has played at least `seconds` more than when it first moved. */
async function assertPlays(page: Page, seconds: number): Promise<void> {
  const started = await eventually(
    async () => {
      const t = (await page.evaluate(CURRENT_TIME)) as number;
      assert.ok(t > 0, `not started (errors: ${String(await page.evaluate(PLAYER_ERRORS))})`);
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

test('hls.js plays HLS through the proxy', async () => {
  const nginx = await startNginxRtmp();
  const proxy = await startProxy({ env: { PROXY_STATIC_FILES: site.dir } });
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'ng',
      service: 's',
      pid: '1',
      rtmp: [String(nginx.rtmpPort)],
      http: [String(nginx.httpPort)],
    });
    const pub = publish(await makeTestFlv(media.dir, 10), `rtmp://127.0.0.1:${nginx.rtmpPort}/live/web`);
    await eventually(async () => assert.equal((await fetch(`${proxy.httpServer}/live/web.m3u8`)).status, 200), 30_000, 500);
    const page = await browser.context.newPage();
    await page.goto(`${proxy.httpServer}/player.html?type=hls&src=/live/web.m3u8`);
    await assertPlays(page, 2);
    await page.close();
    await pub.stop();
  } finally {
    await proxy.stop();
    await nginx.stop();
  }
});

test('mpegts.js plays HTTP-FLV through the proxy', async () => {
  const nms = await startNodeMediaServer();
  const proxy = await startProxy({ env: { PROXY_STATIC_FILES: site.dir } });
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'nms',
      service: 's',
      pid: '1',
      rtmp: [String(nms.rtmpPort)],
      http: [String(nms.httpPort)],
    });
    const pub = publish(await makeTestFlv(media.dir, 10), `rtmp://127.0.0.1:${nms.rtmpPort}/live/webflv`);
    const page = await browser.context.newPage();
    await page.goto(`${proxy.httpServer}/player.html?type=flv&src=/live/webflv.flv`);
    await assertPlays(page, 2);
    await page.close();
    await pub.stop();
  } finally {
    await proxy.stop();
    await nms.stop();
  }
});
