// Keep-alive HTTP load: `concurrency` request loops over one undici Pool, for `durationMs`.
import { Pool } from 'undici';
import { summarize } from './stats.js';

export interface HttpLoadResult {
  requests: number;
  /** Body bytes received, every body read to its end. */
  bytes: number;
  errors: number;
  perSecond: number;
  latency: { p50: number; p99: number; max: number };
}

export interface HttpLoadOptions {
  origin: string;
  concurrency: number;
  durationMs: number;
  /** Builds request i (path, method, body). */
  request: (i: number) => { path: string; method: 'GET' | 'POST'; body?: string; headers?: Record<string, string> };
  /** Status that counts as success. */
  expectStatus?: number;
}

export async function httpLoad(opts: HttpLoadOptions): Promise<HttpLoadResult> {
  const pool = new Pool(opts.origin, { connections: opts.concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  let seq = 0;
  const start = performance.now();
  const deadline = start + opts.durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const r = opts.request(seq++);
      const t0 = performance.now();
      try {
        const res = await pool.request({ path: r.path, method: r.method, body: r.body, headers: r.headers });
        // Read every body to its end: body.dump() stops (and closes the body) after 128 kB, which made
        // large segments look cheaper than they are.
        await new Promise<void>((resolve, reject) => {
          res.body.on('data', (d: Buffer) => (bytes += d.length));
          res.body.once('end', resolve).once('error', reject);
        });
        if (res.statusCode !== (opts.expectStatus ?? 200)) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const elapsed = performance.now() - start;
  await pool.close();
  return { requests: latencies.length, bytes, errors, perSecond: (latencies.length / elapsed) * 1000, latency: summarize(latencies) };
}
