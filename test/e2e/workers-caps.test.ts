// Connection caps under PROXY_WORKERS=2 (BEHAVIOUR.md §8.5 item 5): PROXY_MAX_CONNECTIONS and
// PROXY_MAX_CONNECTIONS_PER_IP hold for the whole proxy, not per worker. A flood from one address and one
// from many loopback addresses (127.0.0.x) against the RTMP listener get exactly the configured number in,
// every worker's refusals are counted, and a live stream (FFmpeg publishing to nginx-rtmp, a player) relayed
// before the flood keeps flowing.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { tempDir } from '../fixtures/paths.js';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy, waitForOrigins, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';

const TOTAL = 10;
const PER_IP = 4;
const media = tempDir('workers-caps');
let nginx: NginxOrigin;
let proxy: RunningProxy;
let player: RtmpTestClient | undefined;
const held: Socket[] = [];

/**
 * Opens an RTMP connection from `localAddress` and sends C0+C1: 'served' once the proxy answers (the
 * connection stays open: the handshake timeout is long), 'closed' when it is closed without an answer.
 */
function probe(port: number, localAddress: string): Promise<'served' | 'closed'> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let settled = false;
    const settle = (outcome: 'served' | 'closed') => {
      if (settled) return;
      settled = true;
      if (outcome === 'served') held.push(socket);
      resolve(outcome);
    };
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)])));
    socket.on('data', () => settle('served'));
    socket.on('close', () => settle('closed'));
    socket.on('error', () => settle('closed'));
  });
}

/** Sequential attempts (round-robin hands them to both workers in turn); how many got in. */
async function flood(addresses: string[]): Promise<number> {
  let served = 0;
  for (const a of addresses) if ((await probe(proxy.ports.rtmp, a)) === 'served') served++;
  return served;
}

async function refusedByLimit(): Promise<number> {
  return (await proxy.stats()).protocols.rtmp!.refused.limit ?? 0;
}

before(async () => {
  nginx = await startNginxRtmp();
  proxy = await startProxy({
    env: {
      PROXY_WORKERS: '2',
      PROXY_LOG_LEVEL: 'info',
      PROXY_MAX_CONNECTIONS: String(TOTAL),
      PROXY_MAX_CONNECTIONS_PER_IP: String(PER_IP),
      // Flood connections stop after the handshake's first step; they must stay counted for the whole test.
      PROXY_HANDSHAKE_TIMEOUT: '5m',
      // One origin connection per client (edge mode would share one upstream per worker).
      PROXY_EDGE: 'off',
    },
  });
  startHeartbeat({ systemApi: proxy.systemApi, rtmp: nginx.rtmpPort, http: nginx.httpPort, server: 'caps' });
  await waitForOrigins(proxy.systemApi, 1);
});

after(async () => {
  for (const s of held) s.destroy();
  player?.socket.destroy();
  await stopAllPeers();
  await nginx.stop();
  media.remove();
});

describe('PROXY_WORKERS=2: connection caps are proxy-wide (BEHAVIOUR.md §8.5)', () => {
  test('floods from one address and from many get exactly the configured caps in; a live stream keeps flowing', async () => {
    // The live stream: FFmpeg publishing through the proxy and a player, both from 127.0.0.1 (2 of its 4).
    const url = `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/caps`;
    publish(await makeTestFlv(media.dir, 10), url);
    player = await eventually(
      async () => {
        const { client } = await RtmpTestClient.open(url);
        const id = await client.createStream();
        const info = await client.start('play', 'caps', id);
        if (info.get('code') !== 'NetStream.Play.Start') {
          client.socket.destroy();
          throw new Error(`play: ${String(info.get('code'))}`);
        }
        return client;
      },
      30_000,
      500,
    );
    const p = player;
    await eventually(async () => assert.ok(p.bytes > 50_000, `player got ${p.bytes} bytes`), 20_000, 200);
    const refused0 = await refusedByLimit();

    // One address: 12 more attempts from 127.0.0.1, only 2 get in (4 per IP, 2 held by the live stream).
    const fromOne = await flood(Array.from({ length: 12 }, () => '127.0.0.1'));
    assert.equal(fromOne, PER_IP - 2, 'one address gets PROXY_MAX_CONNECTIONS_PER_IP in the whole proxy');
    // Many addresses: 20 attempts, one each from 127.0.0.10 … 127.0.0.29: the total cap is reached (4 held so far).
    const fromMany = await flood(Array.from({ length: 20 }, (_, i) => `127.0.0.${10 + i}`));
    assert.equal(fromMany, TOTAL - PER_IP, 'many addresses get PROXY_MAX_CONNECTIONS in the whole proxy');
    // Full: even a new address is refused now.
    assert.equal(await flood(['127.0.0.99', '127.0.0.98', '127.0.0.97', '127.0.0.96']), 0);
    // Every refusal was counted (both workers' counters, summed by worker 0's API).
    await eventually(async () => assert.equal((await refusedByLimit()) - refused0, 12 - fromOne + (20 - fromMany) + 4), 10_000, 200);

    // The live stream kept flowing through the flood, and still does.
    const bytes = p.bytes;
    await eventually(async () => assert.ok(p.bytes > bytes + 50_000, `player stalled at ${p.bytes} bytes`), 20_000, 200);

    // Closing connections frees their slots (in whichever worker held them).
    for (const s of held.splice(0)) s.destroy();
    await eventually(async () => assert.equal((await proxy.stats()).protocols.rtmp!.active.pending, 0), 10_000, 200);
    assert.equal(await flood(Array.from({ length: 4 }, (_, i) => `127.0.0.${40 + i}`)), 4, 'freed slots are admitted again');
  });
});
