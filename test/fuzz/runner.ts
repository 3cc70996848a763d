// The fuzz engine: for each listener, inputs made from (seed, listener, index) are delivered with bounded
// concurrency while the proxy is watched; a proxy that exits stops the run and the inputs in flight and just
// before are written to a file that `--replay` feeds back one by one. After each listener: the process is up,
// its RSS/heap/fds are recorded, and a real publish + HLS play through it still works.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../fixtures/paths.js';
import { checkPublishPlay, type CheckResult, type FuzzEnv, type ProcessFigures } from './env.js';
import { Rng } from './rng.js';
import { ListenerDownError, deliverTcp, UdpSender, type FuzzInput, type FuzzTarget } from './target.js';

export interface ListenerReport {
  listener: string;
  inputs: number;
  seconds: number;
  generatorErrors: number;
  before: ProcessFigures;
  after: ProcessFigures;
  check: CheckResult;
  crashed: boolean;
  failureFile?: string;
}

export interface RunBudget {
  /** Inputs per listener (upper bound). */
  inputs: number;
  /** Time per listener (upper bound), ms. */
  timeMs: number;
}

/** Inputs kept for a failure file besides those in flight: the last ones delivered before the crash. */
const RECENT = 256;

interface SavedInput {
  index: number;
  label: string;
  parts: string[];
}

export interface FailureFile {
  seed: number;
  listener: string;
  stream: number;
  transport: 'tcp' | 'udp';
  reason: string;
  proxyOutput: string;
  inputs: SavedInput[];
}

export function failureDir(): string {
  const dir = join(REPO_ROOT, 'fuzz-failures');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function safeGenerate(target: FuzzTarget, rng: Rng, index: number, errors: { count: number; first?: string }): FuzzInput {
  try {
    return target.generate(rng, index);
  } catch (err) {
    errors.count++;
    errors.first ??= (err as Error).stack;
    return { label: `generator threw (${(err as Error).message.slice(0, 80)}); random bytes instead`, parts: [rng.bytes(rng.range(1, 256))] };
  }
}

/** Fuzzes one listener; `stream` numbers the listener in the seed derivation. */
export interface CheckHooks {
  /** Before the publish/play check (e.g. put the real origin back). */
  beforeCheck?: () => Promise<void>;
  afterCheck?: () => Promise<void>;
}

export async function fuzzListener(
  env: FuzzEnv,
  target: FuzzTarget,
  stream: number,
  seed: number,
  budget: RunBudget,
  log: (line: string) => void,
  hooks: CheckHooks = {},
): Promise<ListenerReport> {
  const before = env.figures();
  await target.prepare?.();
  // Every input in flight, plus the last RECENT finished ones, so a crash saves whatever may have caused it
  // however wide the pool is.
  const inFlight = new Map<number, SavedInput>();
  const recent: SavedInput[] = [];
  const genErrors: { count: number; first?: string } = { count: 0 };
  const t0 = performance.now();
  const deadline = t0 + budget.timeMs;
  let next = 0;
  let done = 0;
  let crash: string | undefined;
  let lastReport = t0;

  const deliver = (input: FuzzInput) => (target.deliver ? target.deliver(input) : rawDeliver(target, input));
  const worker = async () => {
    while (!crash && next < budget.inputs && performance.now() < deadline) {
      const index = next++;
      const input = safeGenerate(target, new Rng(Rng.derive(seed, stream, index)), index, genErrors);
      const saved: SavedInput = { index, label: input.label, parts: input.parts.map((p) => p.toString('base64')) };
      inFlight.set(index, saved);
      try {
        await deliver(input);
      } catch (err) {
        if (err instanceof ListenerDownError || env.proxy.peer.hasExited) crash ??= `listener down at input ${index}: ${(err as Error).message}`;
      }
      if (!crash && !env.proxy.peer.hasExited) {
        inFlight.delete(index);
        recent.push(saved);
        if (recent.length > RECENT) recent.shift();
      }
      done++;
      if (env.proxy.peer.hasExited) crash ??= `proxy exited during input ${index}`;
      const now = performance.now();
      if (now - lastReport > 10_000) {
        lastReport = now;
        const f = env.figures();
        log(`  ${target.name}: ${done} inputs, ${(done / ((now - t0) / 1000)).toFixed(0)}/s, RSS ${f.rssMb.toFixed(0)} MB, fds ${f.fds}`);
      }
    }
  };
  await Promise.all(Array.from({ length: target.concurrency }, worker));
  await target.close?.();
  const seconds = (performance.now() - t0) / 1000;
  // Let connections the proxy still holds time out or drain before measuring.
  await new Promise((r) => setTimeout(r, 1000));
  if (!crash && env.proxy.peer.hasExited) crash = 'proxy exited after the last input';
  let failureFile: string | undefined;
  if (crash) {
    const file: FailureFile = {
      seed,
      listener: target.name,
      stream,
      transport: target.transport,
      reason: crash,
      proxyOutput: env.proxy.peer.output.slice(-20_000),
      inputs: [...recent, ...inFlight.values()].sort((a, b) => a.index - b.index),
    };
    failureFile = join(failureDir(), `${target.name}-seed${seed}-${Date.now()}.json`);
    writeFileSync(failureFile, JSON.stringify(file, null, 1));
    log(`  ${target.name}: CRASH (${crash}); inputs saved to ${failureFile}`);
    return {
      listener: target.name,
      inputs: done,
      seconds,
      generatorErrors: genErrors.count,
      before,
      after: before,
      check: { ok: false, ms: 0, detail: 'proxy down' },
      crashed: true,
      failureFile,
    };
  }
  if (genErrors.first) log(`  ${target.name}: ${genErrors.count} generator errors, first: ${genErrors.first.split('\n').slice(0, 3).join(' | ')}`);
  const after = env.figures();
  await hooks.beforeCheck?.();
  const check = await checkPublishPlay(env, `check-${target.name}-${seed}`);
  await hooks.afterCheck?.();
  log(
    `  ${target.name}: ${done} inputs in ${seconds.toFixed(0)} s; RSS ${before.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)} MB, heap ${after.heapUsedMb?.toFixed(0) ?? '?'} MB, fds ${before.fds} → ${after.fds}; publish+play ${check.ok ? 'ok' : 'FAILED'} (${check.detail}, ${(check.ms / 1000).toFixed(1)} s)`,
  );
  return { listener: target.name, inputs: done, seconds, generatorErrors: genErrors.count, before, after, check, crashed: false };
}

async function rawDeliver(target: FuzzTarget, input: FuzzInput): Promise<void> {
  if (target.transport === 'tcp') {
    await deliverTcp(target.port, input.parts);
    return;
  }
  const sender = await UdpSender.open(1);
  try {
    await sender.send(target.port, input.parts);
  } finally {
    sender.close();
  }
}

/**
 * Replays a failure file against `env`: each saved input alone, the proxy checked after each; returns the
 * first input after which the proxy was down (or undefined when none brought it down).
 */
export async function replayFailure(env: FuzzEnv, targets: FuzzTarget[], path: string, log: (line: string) => void): Promise<SavedInput | undefined> {
  const file = JSON.parse(readFileSync(path, 'utf8')) as FailureFile;
  const target = targets.find((t) => t.name === file.listener);
  if (!target) throw new Error(`no listener "${file.listener}" in this run`);
  log(`replaying ${file.inputs.length} inputs of ${file.listener} (seed ${file.seed}): ${file.reason}`);
  for (const saved of file.inputs) {
    const input: FuzzInput = { label: saved.label, parts: saved.parts.map((p) => Buffer.from(p, 'base64')) };
    try {
      await rawDeliver(target, input);
    } catch {
      // judged below
    }
    await new Promise((r) => setTimeout(r, 100));
    if (env.proxy.peer.hasExited) {
      log(`proxy exited after input ${saved.index} (${saved.label}):\n${env.proxy.peer.output.slice(-3000)}`);
      return saved;
    }
  }
  log('no saved input brought the proxy down on its own (the crash may need the inputs together or state; rerun with the same --seed)');
  return undefined;
}
