// `npm run fuzz [-- --seed N] [--inputs N] [--minutes M] [--listener a,b] [--origin-pool N] [--replay file] [--json file]`
// Defaults: a random seed (printed), 100,000 inputs per listener, 120 minutes at most, every listener,
// ORIGIN_POOL attempts in flight per origin-side listener.
// Exit code 1 when the proxy crashed, a publish/play check failed, or heartbeats were refused.
import { writeFileSync } from 'node:fs';
import { stopAllPeers } from '../fixtures/process.js';
import { ALL_LISTENERS, ORIGIN_LISTENERS, runFuzz, type FuzzReport } from './run.js';

function parseArgs(argv: string[]): {
  seed: number;
  inputs: number;
  minutes: number;
  listeners: string[];
  originPool?: number;
  replay?: string;
  json?: string;
} {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i === -1) return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    return argv[i + 1];
  };
  const num = (name: string, fallback: number): number => {
    const v = get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${v}"`);
    return n;
  };
  const listeners = (get('listener') ?? ALL_LISTENERS.join(','))
    .split(',')
    .flatMap((l) => (l === 'origin' ? [...ORIGIN_LISTENERS] : [l.trim()]))
    .filter(Boolean);
  for (const l of listeners) if (!ALL_LISTENERS.includes(l)) throw new Error(`unknown listener "${l}" (have: ${ALL_LISTENERS.join(', ')}, origin)`);
  return {
    seed: num('seed', Math.floor(Math.random() * 0x7fffffff)) >>> 0,
    inputs: num('inputs', 100_000),
    minutes: num('minutes', 120),
    listeners,
    originPool: get('origin-pool') === undefined ? undefined : Math.max(1, Math.floor(num('origin-pool', 1))),
    replay: get('replay'),
    json: get('json'),
  };
}

export function summary(report: FuzzReport): string[] {
  const lines = [
    '| listener | inputs | seconds | inputs/s | RSS before → after (MB) | heap after (MB) | fds before → after | publish + HLS play after |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of report.listeners) {
    lines.push(
      `| ${r.listener} | ${r.inputs} | ${r.seconds.toFixed(0)} | ${(r.inputs / r.seconds).toFixed(0)} | ${r.before.rssMb.toFixed(0)} → ${r.after.rssMb.toFixed(0)} | ${r.after.heapUsedMb?.toFixed(0) ?? '?'} | ${r.before.fds} → ${r.after.fds} | ${r.crashed ? 'CRASH' : r.check.ok ? `ok (${(r.check.ms / 1000).toFixed(1)} s)` : `FAILED: ${r.check.detail}`} |`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  process.stdout.write(`seed ${args.seed} (replay with --seed ${args.seed})\n`);
  const report = await runFuzz(args);
  process.stdout.write(`\n${summary(report).join('\n')}\n`);
  process.stdout.write(
    `heartbeats: ${report.heartbeats.sent} sent, ${report.heartbeats.refused} refused or failed, slowest ${report.heartbeats.slowestMs.toFixed(0)} ms${report.heartbeats.failures.length ? ` (${report.heartbeats.failures.join('; ')})` : ''}; proxy ${report.proxyUp ? 'up' : 'DOWN'}\n`,
  );
  if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 1));
  const bad = !report.proxyUp || report.heartbeats.refused > 0 || report.listeners.some((r) => r.crashed || !r.check.ok);
  if (bad) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`fuzz failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAllPeers());
