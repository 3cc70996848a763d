// File descriptors: raise the soft RLIMIT_NOFILE to the hard limit at startup (Node has no
// setrlimit, so util-linux `prlimit` does it for our own pid), and a budget that makes client
// listeners stop accepting before the last descriptors are gone, so the system API (origin
// heartbeats) and the origin legs of running relays still get theirs during a connection flood.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';

export interface FileLimit {
  soft: number;
  hard: number;
}

/** `Max open files  <soft>  <hard>  files` from /proc/<pid>/limits; undefined when unreadable. */
export function parseFileLimit(limits: string): FileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m) return undefined;
  const n = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

export async function readFileLimit(): Promise<FileLimit | undefined> {
  try {
    return parseFileLimit(await readFile('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Raises the soft limit to the hard one; logs what happened and returns the limit in force. */
export async function raiseFileLimit(log: Logger, run: (cmd: string, args: string[]) => Promise<void> = execQuiet): Promise<FileLimit | undefined> {
  const before = await readFileLimit();
  if (!before) {
    log.info('file descriptor limit unknown (no /proc/self/limits); not raised');
    return undefined;
  }
  let target = before.hard;
  if (!Number.isFinite(target)) {
    // "unlimited" cannot be set for descriptors; the kernel's ceiling is fs.nr_open.
    const nrOpen = Number((await readFile('/proc/sys/fs/nr_open', 'utf8').catch(() => '')).trim());
    target = Number.isFinite(nrOpen) && nrOpen > 0 ? nrOpen : before.soft;
  }
  if (before.soft >= target) {
    log.info({ soft: before.soft, hard: before.hard }, 'file descriptor limit already at its maximum');
    return before;
  }
  try {
    await run('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${before.hard === Number.POSITIVE_INFINITY ? 'unlimited' : before.hard}`]);
  } catch (err) {
    log.warn(
      { soft: before.soft, hard: before.hard, err: (err as Error).message },
      'could not raise the file descriptor limit (prlimit from util-linux missing?); keeping the soft limit',
    );
    return before;
  }
  const after = (await readFileLimit()) ?? before;
  log.info({ from: before.soft, to: after.soft, hard: before.hard }, 'file descriptor limit raised');
  return after;
}

function execQuiet(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5000 }, (err, _out, stderr) => (err ? reject(new Error(stderr.trim() || err.message, { cause: err })) : resolve()));
  });
}

export interface FdBudgetOptions {
  /** The soft RLIMIT_NOFILE in force. */
  limit: number;
  /** Descriptors client listeners leave free (PROXY_FD_RESERVE). */
  reserve: number;
  /** Counts open descriptors (default: entries of /proc/self/fd). */
  count?: () => Promise<number>;
  now?: () => number;
  /** Recount at most this often. */
  sampleMs?: number;
}

/**
 * Decides whether a client listener may take one more connection. The descriptor count is read in
 * the background (at most every sampleMs); connections taken since are added to it, two
 * descriptors each (the client's and the origin leg it will open).
 */
export class FdBudget {
  private readonly count: () => Promise<number>;
  private readonly now: () => number;
  private readonly sampleMs: number;
  private open = 0;
  private takenSinceSample = 0;
  private sampledAt = -Infinity;
  private sampling = false;

  constructor(private readonly opts: FdBudgetOptions) {
    this.count = opts.count ?? (async () => (await readdir('/proc/self/fd')).length);
    this.now = opts.now ?? Date.now;
    this.sampleMs = opts.sampleMs ?? 250;
    this.sample();
  }

  /** Descriptors client listeners may still use (an estimate between samples). */
  get room(): number {
    return this.opts.limit - this.opts.reserve - (this.open + 2 * this.takenSinceSample);
  }

  /** Takes room for one client connection; false when only the reserve is left. */
  take(): boolean {
    this.sample();
    if (this.room < 2) return false;
    this.takenSinceSample++;
    return true;
  }

  private sample(): void {
    if (this.sampling || this.now() - this.sampledAt < this.sampleMs) return;
    this.sampling = true;
    const started = this.takenSinceSample;
    this.count().then(
      (n) => {
        this.open = n;
        // Connections taken while counting may or may not be in n; keep them (err on the safe side).
        this.takenSinceSample -= started;
        this.sampledAt = this.now();
        this.sampling = false;
      },
      () => {
        this.sampledAt = this.now();
        this.sampling = false;
      },
    );
  }
}
