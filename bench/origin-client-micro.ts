// Micro-benchmark (not part of `npm run bench`): CPU per GET of the proxy's origin client vs undici's dispatch,
// in one process against a static nginx. Usage: node dist/bench/origin-client-micro.js [playlist|segment] [seconds]
import { tempDir } from '../test/fixtures/paths.js';
import { stopAllPeers } from '../test/fixtures/process.js';
import { startStaticHls } from './http.bench.js';
import { OriginClient } from '../src/net/origin-client.js';
import { loadAgent, type Dispatcher } from '../src/net/undici.js';

async function main(): Promise<void> {
  const kind = process.argv[2] ?? 'playlist';
  const seconds = Number(process.argv[3] ?? '3');
  const dir = tempDir('origin-client-micro');
  try {
    const nginx = await startStaticHls(dir.dir);
    const path = kind === 'segment' ? '/live/bench-104.ts' : '/live/bench.m3u8';
    const headers = ['host', `127.0.0.1:${nginx.port}`, 'user-agent', 'bench', 'accept', '*/*', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http'];
    const own = new OriginClient({ dialMs: 2000 });
    const Agent = loadAgent();
    const agent = new Agent({ connections: 256, keepAliveTimeout: 4000, bodyTimeout: 0, headersTimeout: 10_000 });
    const once = {
      own: () =>
        new Promise<number>((resolve, reject) => {
          let n = 0;
          own.request(
            { host: '127.0.0.1', port: nginx.port, method: 'GET', path, headers, headersTimeoutMs: 10_000 },
            { onHead: () => undefined, onData: (c) => ((n += c.length), true), onEnd: (e) => (e ? reject(e) : resolve(n)), onFail: reject },
          );
        }),
      undici: () =>
        new Promise<number>((resolve, reject) => {
          let n = 0;
          agent.dispatch({ origin: `http://127.0.0.1:${nginx.port}`, path, method: 'GET', headers, headersTimeout: 10_000 }, {
            onConnect: () => undefined,
            onHeaders: () => true,
            onData: (c: Buffer) => ((n += c.length), true),
            onComplete: () => resolve(n),
            onError: reject,
          } as unknown as Dispatcher.DispatchHandler);
        }),
    };
    const run = async (name: 'own' | 'undici', ms: number) => {
      const t0 = process.cpuUsage();
      const end = Date.now() + ms;
      let requests = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (Date.now() < end) {
            await once[name]();
            requests++;
          }
        }),
      );
      const cpu = process.cpuUsage(t0);
      return { requests, usPerReq: (cpu.user + cpu.system) / requests };
    };
    for (const name of ['own', 'undici'] as const) await run(name, 500);
    for (let round = 0; round < 3; round++) {
      for (const name of ['own', 'undici'] as const) {
        const r = await run(name, seconds * 1000);
        process.stdout.write(`${kind} ${name}: ${r.requests} requests, ${r.usPerReq.toFixed(1)} µs CPU/request\n`);
      }
    }
    own.destroy();
    await agent.destroy();
  } finally {
    await stopAllPeers();
    dir.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
