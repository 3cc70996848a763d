// What an idle proxy loads: the packages only some configurations use (ioredis for the Redis balancer,
// pino-pretty for text logs, send for static files, undici's entry with all its dispatchers and mocks,
// @opentelemetry/api that prom-client wants only for exemplars) are not
// loaded by the default configuration — also after it has relayed an HTTP request — and are loaded, and work,
// when the configuration asks for them; undici's Agent waits for the first WebRTC request to an origin (HLS/DASH go through
// the proxy's own origin client, src/net/origin-client.ts, and never load it). Read with test/fixtures/module-probe.ts inside the proxy process.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../fixtures/media.js';
import { byPackage, type ModuleSnapshot } from '../fixtures/module-probe.js';
import { FIXTURES_DIST, tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { startRedis, type RedisServer } from '../fixtures/redis.js';
import { redisAdmin, redisEnv } from '../fixtures/redis-proxies.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';

const PROBE = pathToFileURL(join(FIXTURES_DIST, 'module-probe.js')).href;
const tmp = tempDir('footprint');
let seq = 0;

interface ProbedProxy {
  proxy: RunningProxy;
  /** A snapshot of the proxy's loaded files taken after this call (waits for the probe's next write). */
  loaded(): Promise<{ files: string[]; packages: Map<string, number> }>;
}

async function probedProxy(env: Record<string, string>): Promise<ProbedProxy> {
  const file = join(tmp.dir, `modules-${++seq}.json`);
  // One process: the probe reports the modules of the process it runs in, and every process of a proxy with
  // worker processes would write the same file (this is about what one process loads).
  const proxy = await startProxy({ env: { NODE_OPTIONS: `--import ${PROBE}`, MODULE_PROBE_FILE: file, ...env, PROXY_WORKERS: '1' } });
  const read = (): ModuleSnapshot | undefined => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as ModuleSnapshot;
    } catch {
      return undefined;
    }
  };
  return {
    proxy,
    loaded: async () => {
      const after = read()?.seq ?? 0;
      const snap = await eventually(async () => {
        const s = read();
        assert.ok(s && s.seq > after, 'the module probe wrote a new snapshot');
        return s;
      });
      return { files: snap.files, packages: byPackage(snap.files) };
    },
  };
}

const UNDICI_ENTRY = /\/node_modules\/undici\/index\.js$/;
const UNDICI_AGENT = /\/node_modules\/undici\/lib\/dispatcher\/agent\.js$/;

after(async () => {
  await stopAllPeers();
  tmp.remove();
});

describe('the default configuration', () => {
  let p: ProbedProxy;
  let origin: Server;
  let originPort: number;
  let originRtmp: RtmpListener;
  before(async () => {
    originRtmp = await RtmpListener.start();
    origin = createServer((_req, res) => res.end('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nseg-1.ts\n'));
    originPort = await freePort();
    await new Promise<void>((r) => origin.listen(originPort, '127.0.0.1', r));
    p = await probedProxy({});
  });
  after(async () => {
    await p?.proxy.stop();
    origin?.close();
    await originRtmp?.close();
  });

  test('loads neither ioredis, pino-pretty, send nor undici (entry or Agent), also after an HLS playlist was relayed', async () => {
    const idle = await p.loaded();
    // The probe sees the proxy's packages: pino is there; undici's Agent is for WebRTC signalling only.
    assert.ok(idle.packages.get('pino'), 'pino is loaded');
    assert.ok(!idle.files.some((f) => UNDICI_AGENT.test(f)), "undici's Agent is not loaded before an HTTP origin request");
    for (const absent of ['ioredis', 'pino-pretty', 'send']) assert.equal(idle.packages.get(absent), undefined, `${absent} is not loaded`);
    assert.ok(!idle.files.some((f) => UNDICI_ENTRY.test(f)), "undici's entry is not loaded");

    await registerOrigin(p.proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'o1',
      service: 'svc',
      pid: '1',
      rtmp: [String(originRtmp.port)],
      http: [String(originPort)],
    });
    const res = await fetch(`${p.proxy.httpServer}/live/s.m3u8`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /seg-1\.ts\?spbhid=/);
    const busy = await p.loaded();
    assert.ok(!busy.files.some((f) => UNDICI_AGENT.test(f)), "undici's Agent is not loaded by a relayed HLS playlist");
    assert.ok(!busy.files.some((f) => UNDICI_ENTRY.test(f)), "undici's entry is not loaded by a relayed request");
    assert.equal(busy.packages.get('ioredis'), undefined);
  });

  test('prom-client without @opentelemetry/api: the process CPU counters are still scraped and count', async () => {
    const text = async () => (await fetch(`${p.proxy.systemApi}/metrics`)).text();
    const cpu = (page: string) => Number(/^process_cpu_seconds_total (\S+)$/m.exec(page)?.[1]);
    const first = await text();
    for (const name of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total']) {
      assert.match(first, new RegExp(`^# TYPE ${name} counter$`, 'm'));
    }
    // A burst of scrapes costs CPU: the counter moves (read from the process, metrics/process-metrics.ts).
    let later = first;
    await eventually(async () => {
      for (let i = 0; i < 20; i++) later = await text();
      assert.ok(cpu(later) > cpu(first), `${cpu(first)} → ${cpu(later)}`);
    });
    const loaded = await p.loaded();
    assert.ok(loaded.packages.get('prom-client'), 'prom-client is loaded');
    // The stand-in sits in the require cache under the package's entry path: one entry, not its 51 files.
    assert.ok((loaded.packages.get('@opentelemetry/api') ?? 0) <= 1, `@opentelemetry/api: ${loaded.packages.get('@opentelemetry/api')} files`);
  });
});

describe('configurations that use them', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('the Redis balancer loads ioredis and keeps origins in Redis', async () => {
    const p = await probedProxy(redisEnv(redis));
    const admin = redisAdmin(redis);
    try {
      assert.ok((await p.loaded()).packages.get('ioredis'), 'ioredis is loaded');
      assert.deepEqual(await admin.keys('*r1*'), []);
      await registerOrigin(p.proxy.systemApi, { ip: '127.0.0.1', server: 'r1', service: 'svc', pid: '1', rtmp: ['19350'] });
      // The proxy wrote the origin's record through its ioredis client.
      assert.ok((await admin.keys('*r1*')).length > 0, 'the origin is stored in Redis');
    } finally {
      admin.disconnect();
      await p.proxy.stop();
    }
  });

  test('text logs load pino-pretty and print text lines', async () => {
    const p = await probedProxy({ PROXY_LOG_FORMAT: 'text', PROXY_LOG_LEVEL: 'info' });
    try {
      assert.ok((await p.loaded()).packages.get('pino-pretty'), 'pino-pretty is loaded');
      const line = p.proxy.peer.output.split('\n').find((l) => l.includes('origin-proxy started'));
      assert.ok(line, 'the started line is printed');
      assert.ok(!line.trimStart().startsWith('{'), `a text line, not JSON: ${line}`);
    } finally {
      await p.proxy.stop();
    }
  });

  test('static files load send on the first request and are served', async () => {
    writeFileSync(join(tmp.dir, 'player.html'), '<!doctype html><title>player</title>');
    const p = await probedProxy({ PROXY_STATIC_FILES: tmp.dir });
    try {
      assert.equal((await p.loaded()).packages.get('send'), undefined, 'send is not loaded before a static request');
      const res = await fetch(`${p.proxy.httpServer}/player.html`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), '<!doctype html><title>player</title>');
      assert.ok((await p.loaded()).packages.get('send'), 'send is loaded');
    } finally {
      await p.proxy.stop();
    }
  });
});
