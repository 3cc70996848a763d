// PROXY_WORKERS=2 (BEHAVIOUR.md §8.5 item 4): a new origin registered through worker 0's system API is known to
// every worker once the register call is answered. Before, a worker reused the origin list it read up to 500 ms
// earlier: a publish that landed there right after the registration could not fail over to the new origin.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';
import { FakeRtmpOrigin } from '../fixtures/rtmp-fake-origin.js';

after(stopAllPeers);

const body = (server: string, rtmp: number) => ({ ip: '127.0.0.1', server, service: `svc-${server}`, pid: '1', rtmp: [String(rtmp)] });

test('a publish right after a new origin registered fails over to it on either worker', async () => {
  const proxy = await startProxy({ env: { PROXY_WORKERS: '2' } });
  const fake = await FakeRtmpOrigin.start();
  const nms = await startNodeMediaServer();
  const names = ['s0', 's1', 's2', 's3'];
  const publish = async (name: string) => {
    const { client } = await RtmpTestClient.open(`rtmp://127.0.0.1:${proxy.ports.rtmp}/live`);
    try {
      return String((await client.start('publish', name, await client.createStream())).get('code'));
    } finally {
      client.close();
    }
  };
  try {
    await registerOrigin(proxy.systemApi, body('dead', fake.port));
    for (const n of names) assert.equal(await publish(n), 'NetStream.Publish.Start', `${n} pinned to the first origin`);
    // Its port refuses from now on; its record stays fresh, and no worker has seen a dial to it fail yet.
    await fake.close();
    await registerOrigin(proxy.systemApi, body('nms', nms.rtmpPort));
    // Connections one after another alternate between the workers (round-robin, §8.5 item 8): each worker dials
    // the pinned origin, is refused and fails over, with the origin list it holds (read again at most every 500 ms).
    for (const n of names) assert.equal(await publish(n), 'NetStream.Publish.Start', `${n} failed over to the origin registered just now`);
  } finally {
    await proxy.stop();
    await nms.stop();
  }
});
