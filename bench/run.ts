// Benchmark runner: `npm run bench [-- name ...] [--quick] [--record]`.
// Each benchmark measures origin-proxy and a baseline in the same run and reports ratios;
// --record writes its table into bench/RESULTS.md under its own heading, with the command.
import { cpus, loadavg } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/fixtures/paths.js';
import { stopAllPeers } from '../test/fixtures/process.js';
import { balancerBench } from './balancer.bench.js';
import { failoverBench } from './failover.bench.js';
import { edgeBench } from './edge.bench.js';
import { floodBench } from './flood.bench.js';
import { hlsCacheBench } from './hls-cache.bench.js';
import { footprintBench } from './footprint.bench.js';
import { httpBench } from './http.bench.js';
import { metricsBench } from './metrics.bench.js';
import { redisBench } from './redis.bench.js';
import { rtmpBench } from './rtmp.bench.js';
import { rtspBench } from './rtsp.bench.js';
import { soakBench } from './soak.bench.js';
import { srtBench } from './srt.bench.js';
import { webrtcBench } from './webrtc.bench.js';
import { workersBench } from './workers.bench.js';

export interface BenchContext {
  /** Short runs (smoke check), not for recorded figures. */
  quick: boolean;
}

export interface BenchReport {
  headers: string[];
  rows: string[][];
  notes: string[];
}

const BENCHMARKS: Record<string, (ctx: BenchContext) => Promise<BenchReport>> = {
  balancer: balancerBench,
  edge: edgeBench,
  failover: failoverBench,
  flood: floodBench,
  'hls-cache': hlsCacheBench,
  footprint: footprintBench,
  http: httpBench,
  metrics: metricsBench,
  redis: redisBench,
  rtmp: rtmpBench,
  rtsp: rtspBench,
  soak: soakBench,
  srt: srtBench,
  webrtc: webrtcBench,
  workers: workersBench,
};

function table(r: BenchReport): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(r.headers), line(r.headers.map(() => '---')), ...r.rows.map(line)].join('\n');
}

/** The machine's 1-minute load average, to say how quiet it was (other processes add noise to timings). */
function load(): string {
  return loadavg()[0]!.toFixed(1);
}

function record(name: string, r: BenchReport, command: string, loadAtStart: string): void {
  const file = join(REPO_ROOT, 'bench', 'RESULTS.md');
  const header = '# Benchmark results\n\nFigures from `npm run bench`; each is measured against a baseline in the same run.\n';
  let text = existsSync(file) ? readFileSync(file, 'utf8') : header;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const section = [
    `## ${name}`,
    '',
    `Command: \`${command}\` — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpu}; load average ${loadAtStart} at the start, ${load()} at the end`,
    '',
    table(r),
    '',
    ...r.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  const re = new RegExp(`## ${name}\\n[\\s\\S]*?(?=\\n## |$)`);
  text = re.test(text) ? text.replace(re, section.trimEnd() + '\n') : `${text.trimEnd()}\n\n${section}`;
  writeFileSync(file, text);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const rec = args.includes('--record');
  const names = args.filter((a) => !a.startsWith('--'));
  const chosen = names.length ? names : Object.keys(BENCHMARKS);
  for (const n of chosen) {
    if (!BENCHMARKS[n]) throw new Error(`unknown benchmark "${n}" (have: ${Object.keys(BENCHMARKS).join(', ')})`);
  }
  for (const name of chosen) {
    process.stdout.write(`\n== ${name} ==\n`);
    const loadAtStart = load();
    const report = await BENCHMARKS[name]!({ quick });
    process.stdout.write(`${table(report)}\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`);
    if (rec && !quick) record(name, report, `npm run bench -- ${name} --record`, loadAtStart);
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAllPeers());
