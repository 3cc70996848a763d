// WebRTC sessions as clients: a session opened by a verified ICE check is listed with the role of its
// offer, its bytes count what the relay moved for it, it is counted in the relay's stats, and a kick
// through the registry ends it like an origin going down.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TEST_ICE_PWD, UdpPeer, rtpPacket, stunBindingRequest, waitForItem } from '../fixtures/webrtc-udp.js';
import { waitFor } from '../fixtures/wait.js';
import { closeRelaySetup, startRelaySetup, UdpPeerPool, type RelaySetup } from '../fixtures/webrtc-relay-setup.js';

describe('WebRTC relay sessions in the clients registry', () => {
  let s: RelaySetup;
  const clients = new UdpPeerPool();
  beforeEach(async () => {
    s = await startRelaySetup();
  });
  afterEach(async () => {
    await clients.closeAll();
    await closeRelaySetup(s);
  });

  async function open(ufrag: string, role: 'publish' | 'play' | undefined, offeredAt?: number): Promise<UdpPeer> {
    await s.balancer.putRtcSession({
      ufrag,
      streamKey: '__defaultVhost__/live/rtc',
      icePwd: TEST_ICE_PWD,
      serverId: 'o1',
      mediaHost: '127.0.0.1',
      mediaPort: s.origin.port,
      ...(role ? { role } : {}),
      ...(offeredAt !== undefined ? { offeredAt } : {}),
    });
    const c = await clients.open();
    const stun = stunBindingRequest(ufrag);
    await c.send(stun, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(stun));
    return c;
  }

  test('a WHIP session is a webrtc publisher with growing bytes; a record without a role is a player', async () => {
    const offeredAt = Date.now() - 40;
    const pub = await open('pub:one', 'publish', offeredAt);
    await open('old:two', undefined);
    const list = s.router.relays.listClients('__defaultVhost__/live/rtc');
    assert.deepEqual(list.map((c) => `${c.client.protocol}/${c.client.role}`).sort(), ['webrtc/play', 'webrtc/publish']);
    const entry = list.find((c) => c.client.role === 'publish')!;
    assert.equal(entry.since, offeredAt);
    assert.match(entry.client.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(entry.relay.originServerId, 'o1');
    const before = entry.client.bytes().in;
    assert.ok(before > 0);
    const rtp = rtpPacket(7, 'kick');
    await pub.send(rtp, s.relay.port);
    await waitForItem(s.origin.received, (d) => d.data.equals(rtp));
    assert.equal(entry.client.bytes().in, before + rtp.length);

    const stats = s.relay.stats().webrtc!;
    assert.deepEqual(stats.active, { publish: 1, play: 1, pending: 0 });
    assert.deepEqual(stats.total, { publish: 1, play: 1 });
    assert.equal(stats.setup.count, 2);
    assert.ok(stats.setup.sum >= 0.04, `setup counted from the offer: ${stats.setup.sum}`);
    assert.ok(stats.bytes.in >= before + rtp.length);

    // Kicked: the session ends and its bytes stay in the totals.
    assert.equal(s.router.relays.kick(entry.id), true);
    await waitFor(() => s.relay.detail().sessions === 1, { what: 'the kicked session to end' });
    assert.equal(s.relay.detail().sessionsClosed['origin-down'], 1);
    const after = s.relay.stats().webrtc!;
    assert.deepEqual(after.active, { publish: 0, play: 1, pending: 0 });
    assert.ok(after.bytes.in >= before + rtp.length);
    assert.equal(s.router.relays.kick(entry.id), false);
  });
});
