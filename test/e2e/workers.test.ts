// PROXY_WORKERS=2 with real peers (BEHAVIOUR.md §8.5): the built proxy as a child process, two
// nginx-rtmp origins registered by the heartbeat sidecar, FFmpeg publishing and ffprobe / raw RTMP
// clients playing through it. Checks that both workers serve, that one stream gets one origin whichever
// worker its clients reach, that a killed worker is replaced while the other keeps serving (its own
// relays ending, the other's going on), and that SIGTERM to the primary drains everything.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startHeartbeat } from '../fixtures/heartbeat.js';
import { eventually, makeTestFlv, probeCodecs, publish } from '../fixtures/media.js';
import { startNginxRtmp, type NginxOrigin } from '../fixtures/nginx-rtmp.js';
import { tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy, waitForOrigins, type ProxyStats, type RunningProxy } from '../fixtures/proxy.js';
import { RtmpTestClient } from '../fixtures/rtmp-client.js';

const media = tempDir('workers-media');
let flv: string;
let proxy: RunningProxy;
const nginx: NginxOrigin[] = [];
const players: RtmpTestClient[] = [];

/** The primary's children by worker slot (read from /proc: the slot is in each worker's environment). */
function workers(): Map<number, number> {
  const out = new Map<number, number>();
  const primary = proxy.peer.pid;
  for (const task of readdirSync(`/proc/${primary}/task`)) {
    let children: string;
    try {
      children = readFileSync(`/proc/${primary}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
      try {
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        const slot = env.find((e) => e.startsWith('ORIGIN_PROXY_WORKER_SLOT='));
        if (slot) out.set(Number(slot.split('=')[1]), pid);
      } catch {
        // exited meanwhile
      }
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** nginx-rtmp's client count for a stream (0 when the origin has no such stream). */
async function nginxClients(origin: NginxOrigin, name: string): Promise<number> {
  const xml = await origin.stat();
  const block = xml.split('<stream>').find((b) => b.trimStart().startsWith(`<name>${name}</name>`));
  return block ? Number(/<nclients>(\d+)<\/nclients>/.exec(block)?.[1] ?? 0) : 0;
}

interface ClientJson {
  id: string;
  role: string;
  stream: string;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${proxy.systemApi}${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

const rtmpUrl = (key: string) => `rtmp://127.0.0.1:${proxy.ports.rtmp}/live/${key}`;

before(async () => {
  flv = await makeTestFlv(media.dir, 10);
  // idle_streams on: a player stays when its stream's publisher goes. The publishers run through the proxy too,
  // so killing a worker may end one; worker 0's players must then still be open (only the dead worker's relays end).
  nginx.push(await startNginxRtmp({ idleStreams: true }), await startNginxRtmp({ idleStreams: true }));
  // One origin play connection per player, and players kept through a publisher's gap: per-client relays. Edge mode
  // shares one upstream per worker (§11.1) and ends players at a gap (§11.6), so it stays off whatever the overlay.
  proxy = await startProxy({
    env: { PROXY_WORKERS: '2', PROXY_LOG_LEVEL: 'info', PROXY_GRACE_QUIT_TIMEOUT: '3s', PROXY_FORCE_QUIT_TIMEOUT: '10s', PROXY_EDGE: 'off' },
  });
  nginx.forEach((n, i) => startHeartbeat({ systemApi: proxy.systemApi, rtmp: n.rtmpPort, http: n.httpPort, server: `nginx${i}` }));
  await waitForOrigins(proxy.systemApi, 2);
});
after(async () => {
  for (const p of players) p.socket.destroy();
  await stopAllPeers();
  for (const n of nginx) await n.stop();
  media.remove();
});

describe('PROXY_WORKERS=2 (BEHAVIOUR.md §8.5)', () => {
  test('the primary runs one worker per slot', () => {
    const w = workers();
    assert.deepEqual([...w.keys()].sort(), [0, 1]);
    assert.ok(![...w.values()].includes(proxy.peer.pid));
  });

  test('RTMP publish and play, and HLS play, through both workers', async () => {
    publish(flv, rtmpUrl('w1'));
    await eventually(async () => assert.deepEqual(await probeCodecs(rtmpUrl('w1')), ['aac', 'h264']), 30_000, 500);
    const before = (await proxy.stats()).protocols.rtmp!.total.play;
    const plays = 4;
    for (let i = 0; i < plays; i++) assert.deepEqual(await probeCodecs(rtmpUrl('w1')), ['aac', 'h264']);
    // Worker 0's system API counts the plays of every worker (round-robin gave each some).
    assert.equal((await proxy.stats()).protocols.rtmp!.total.play - before, plays);
    await eventually(async () => assert.equal((await fetch(`${proxy.httpServer}/live/w1.m3u8`)).status, 200), 30_000, 500);
    assert.deepEqual(await probeCodecs(`${proxy.httpServer}/live/w1.m3u8`, 20_000), ['aac', 'h264']);
  });

  test('one stream, one origin: players through both workers all reach the origin its publisher reached', async () => {
    publish(flv, rtmpUrl('same'));
    await eventually(async () => assert.deepEqual(await probeCodecs(rtmpUrl('same')), ['aac', 'h264']), 30_000, 500);
    const pins = (await (await fetch(`${proxy.systemApi}/api/v1/streams?limit=1000`)).json()) as { streams: { stream: string; server: string }[] };
    const pin = pins.streams.find((p) => p.stream.endsWith('live/same'));
    assert.ok(pin, 'the stream is pinned');
    const pinned = Number(pin.server.replace('nginx', ''));
    const base = await nginxClients(nginx[pinned]!, 'same');
    const leadBefore = (await proxy.stats()).protocols.rtmp!.total.play;
    const opened = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const { client } = await RtmpTestClient.open(rtmpUrl('same'));
        const id = await client.createStream();
        const info = await client.start('play', 'same', id);
        assert.equal(info.get('code'), 'NetStream.Play.Start');
        return client;
      }),
    );
    players.push(...opened);
    await eventually(async () => assert.equal(await nginxClients(nginx[pinned]!, 'same'), base + 8), 10_000, 200);
    assert.equal(await nginxClients(nginx[1 - pinned]!, 'same'), 0);
    assert.equal((await proxy.stats()).protocols.rtmp!.total.play - leadBefore, 8);
  });

  test('the system API lists, counts and kicks the clients of every worker', async () => {
    const key = '__defaultVhost__/live/same';
    // The 8 players of the test above: both workers hold some, each id names its worker.
    const list = await eventually(async () => {
      const r = await api<{ clients: ClientJson[]; total: number; workers: { count: number; missing: number[] } }>(
        `/api/v1/clients?stream=${encodeURIComponent(key)}&limit=1000`,
      );
      assert.equal(r.clients.filter((c) => c.role === 'play').length, 8, JSON.stringify(r));
      return r;
    }, 10_000);
    assert.deepEqual(list.workers, { count: 2, missing: [] });
    assert.equal(list.total, list.clients.length);
    const slots = list.clients.map((c) => /^w(\d)-/.exec(c.id)?.[1]);
    assert.ok(slots.includes('0') && slots.includes('1'), `ids ${list.clients.map((c) => c.id).join(' ')}: both workers hold some`);
    // Pages laid end to end are the whole list, each client once.
    const paged: string[] = [];
    let cursor: string | undefined = '0';
    while (cursor !== undefined) {
      const r: { clients: ClientJson[]; next?: string } = await api(`/api/v1/clients?stream=${encodeURIComponent(key)}&limit=3&cursor=${cursor}`);
      paged.push(...r.clients.map((c) => c.id));
      cursor = r.next;
    }
    assert.deepEqual(
      paged,
      list.clients.map((c) => c.id),
    );

    // Stats and metrics sum the workers; each worker's own share is listed.
    const stats = await api<ProxyStats & { workers: { count: number; missing: number[]; each: { worker: number; pid: number; clients: number }[] } }>(
      '/api/v1/stats',
    );
    assert.ok(stats.protocols.rtmp!.active.play >= 8, JSON.stringify(stats.protocols.rtmp));
    assert.deepEqual(stats.workers.missing, []);
    assert.deepEqual(
      stats.workers.each.map((w) => w.worker),
      [0, 1],
    );
    assert.ok(
      stats.workers.each.every((w) => w.clients > 0),
      JSON.stringify(stats.workers),
    );
    assert.equal(
      stats.workers.each.reduce((n, w) => n + w.clients, 0),
      (await api<{ total: number }>('/api/v1/clients?limit=1')).total,
    );
    const text = await (await fetch(`${proxy.systemApi}/metrics`)).text();
    const active = Number(/^origin_proxy_clients_active\{protocol="rtmp",role="play"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(active >= 8, `metrics: ${active} RTMP players`);
    assert.match(text, /^origin_proxy_workers\{state="missing"\} 0$/m);
    // The origins are counted once, not once per worker.
    assert.match(text, /^origin_proxy_origins\{state="up"\} 2$/m);
    // The HLS/DASH origin client's state is in both (each worker's summed; nothing waits for a connection here).
    const originClient = stats.detail.http.originClient;
    assert.deepEqual(Object.keys(originClient).sort(), ['idle', 'open', 'waiting']);
    assert.equal(originClient.waiting, 0);
    assert.ok(originClient.idle <= originClient.open, JSON.stringify(originClient));
    assert.match(text, /^origin_proxy_origin_requests_waiting 0$/m);
    assert.match(text, /^origin_proxy_origin_connections\{state="busy"\} \d+$/m);
    assert.match(text, /^origin_proxy_origin_connections\{state="idle"\} \d+$/m);

    // Kick a player held by worker 1: its connection ends, the others stay.
    const victim = list.clients.find((c) => c.role === 'play' && c.id.startsWith('w1-'))!;
    const one = await fetch(`${proxy.systemApi}/api/v1/clients/${encodeURIComponent(victim.id)}`);
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { client: ClientJson }).client.id, victim.id);
    const kicked = await fetch(`${proxy.systemApi}/api/v1/clients/${encodeURIComponent(victim.id)}`, { method: 'DELETE' });
    assert.equal(kicked.status, 200);
    await eventually(async () => assert.equal(players.filter((p) => p.closed).length, 1), 10_000, 50);
    players.splice(
      players.findIndex((p) => p.closed),
      1,
    );
    const again = await fetch(`${proxy.systemApi}/api/v1/clients/${encodeURIComponent(victim.id)}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    await again.arrayBuffer();
    await eventually(async () => {
      const r = await api<{ clients: ClientJson[] }>(`/api/v1/clients?stream=${encodeURIComponent(key)}&limit=1000`);
      assert.equal(r.clients.filter((c) => c.role === 'play').length, 7);
    }, 10_000);
    const stream = await api<{ stream: { players: Record<string, number>; publisher: { protocol: string } | null } }>(
      `/api/v1/streams/${encodeURIComponent(key)}`,
    );
    assert.deepEqual(stream.stream.players, { rtmp: 7 });
  });

  test('a drain through the API reaches every worker: no worker places a new stream on the drained origin', async () => {
    const drained = await fetch(`${proxy.systemApi}/api/v1/origins/nginx0/drain`, { method: 'POST' });
    assert.equal(drained.status, 200);
    await drained.arrayBuffer();
    // New streams right after the answer, over several connections (round-robin: both workers).
    const names = Array.from({ length: 6 }, (_, i) => `drain${i}`);
    const opened = await Promise.all(
      names.map(async (name) => {
        const { client } = await RtmpTestClient.open(rtmpUrl(name));
        const id = await client.createStream();
        await client.start('play', name, id);
        return client;
      }),
    );
    const ids = await api<{ clients: ClientJson[] }>('/api/v1/clients?limit=1000');
    const holders = new Set(ids.clients.filter((c) => c.stream.includes('/drain')).map((c) => c.id.slice(0, 3)));
    assert.equal(holders.size, 2, 'both workers placed some of the new streams');
    const pins = await api<{ streams: { stream: string; server: string }[] }>('/api/v1/streams?limit=1000');
    for (const name of names) assert.equal(pins.streams.find((p) => p.stream.endsWith(`/${name}`))?.server, 'nginx1', name);
    for (const c of opened) c.socket.destroy();
    const undrained = await fetch(`${proxy.systemApi}/api/v1/origins/nginx0/undrain`, { method: 'POST' });
    assert.equal(undrained.status, 200);
    await undrained.arrayBuffer();
  });

  test('a killed worker is replaced; its relays end, the other worker keeps serving', async () => {
    const before = workers();
    const victim = before.get(1)!;
    process.kill(victim, 'SIGKILL');
    // The players of the killed worker lose their connection; worker 0's keep theirs.
    await eventually(async () => assert.ok(players.some((p) => p.closed)), 10_000, 100);
    const closed = players.filter((p) => p.closed).length;
    assert.ok(closed < players.length, 'every player was on the killed worker');
    // Worker 0 serves new clients meanwhile and after (a new publisher: the old one may have been on worker 1).
    publish(flv, rtmpUrl('w2'));
    await eventually(async () => assert.deepEqual(await probeCodecs(rtmpUrl('w2')), ['aac', 'h264']), 30_000, 500);
    await eventually(
      async () => {
        const now = workers();
        assert.ok(now.get(1) !== undefined && now.get(1) !== victim, 'slot 1 restarted');
        assert.equal(now.get(0), before.get(0), 'worker 0 untouched');
      },
      30_000,
      200,
    );
    assert.equal(players.filter((p) => p.closed).length, closed, 'worker 0 relays still open');
    assert.ok(!alive(victim));
  });

  test('SIGTERM to the primary drains every worker and exits 0', async () => {
    const pids = [...workers().values()];
    await proxy.peer.stop(15_000);
    const { code, signal } = await proxy.peer.exited;
    assert.equal(signal, null);
    assert.equal(
      code,
      0,
      proxy.peer.output
        .split('\n')
        .filter((l) => /error|warn|exit|fatal|done/.test(l))
        .slice(-30)
        .join('\n'),
    );
    assert.ok(
      pids.every((p) => !alive(p)),
      'no worker left behind',
    );
    await eventually(async () => assert.ok(players.every((p) => p.closed)), 5000, 50);
  });
});

describe('PROXY_WORKERS=2: a worker that cannot start (BEHAVIOUR.md §8.5 item 7)', () => {
  test(
    'worker 0 failing on a listener only it runs (PROXY_METRICS_LISTEN in use) stops the proxy with 255; nothing is left listening',
    { timeout: 60_000 },
    async () => {
      // Worker 0 opens the metrics listener after its client listeners: its failed start must not wait for the
      // other workers to drain (they are only stopped once worker 0 has exited), or the proxy never exits.
      const blocker = createServer();
      const port = await freePort();
      await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
      try {
        const p = await startProxy({ env: { PROXY_WORKERS: '2', PROXY_METRICS_LISTEN: `127.0.0.1:${port}` }, waitReady: false });
        const { code } = await p.peer.exited;
        assert.equal(code, 255);
        assert.match(p.peer.output, /PROXY_METRICS_LISTEN="127\.0\.0\.1:\d+": cannot listen: EADDRINUSE/);
        assert.match(p.peer.output, /"worker":0,[^\n]*"code":255[^\n]*worker exited/);
        // Worker 1's HTTP stream listener (up or coming up when worker 0 failed) is gone too.
        await assert.rejects(fetch(`${p.httpServer}/live/none.flv`));
      } finally {
        blocker.close();
      }
    },
  );
});
