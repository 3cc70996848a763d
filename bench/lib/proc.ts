// CPU time and memory of a process, read from /proc (Linux), for per-GB and per-connection figures.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds consumed so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident set size of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Measures `pid`'s CPU seconds across `fn`. */
export async function measureCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const before = cpuSeconds(pid);
  const result = await fn();
  return { result, cpu: cpuSeconds(pid) - before };
}

/**
 * CPU seconds used so far by every thread of `pid` (main thread, libuv pool, V8's GC helpers), from the
 * scheduler's run time in nanoseconds (/proc/<pid>/task/<tid>/schedstat): /proc/<pid>/stat counts 10 ms ticks,
 * ±1 % of a 1 s window, too coarse for a few-percent difference between short windows.
 */
export function cpuSecondsPrecise(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e9;
}

/** CPU seconds of `pid`'s main thread alone (JavaScript and the event loop; not the GC helpers or the libuv pool). */
export function mainThreadCpuSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

/** Bytes `pid` has read and written through system calls so far (socket reads and writes included), and the calls. */
export function ioCounts(pid: number): { bytes: number; calls: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  return { bytes: field('rchar') + field('wchar'), calls: field('syscr') + field('syscw') };
}

/** A process and its children (a proxy's workers, nginx's worker). */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (children) out.push(...children.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** CPU seconds so far of each of `pids` (NaN for one that is gone). */
export function cpuOfEach(pids: readonly number[]): number[] {
  return pids.map((p) => {
    try {
      return cpuSeconds(p);
    } catch {
      return NaN;
    }
  });
}

/**
 * CPU seconds across `fn` of `pid` and its children (children listed at the start: a proxy's supervisor and
 * its workers, nginx's master and worker), and of this process itself (the in-process load generator).
 */
export async function measureTreeCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; cpu: number; self: number }> {
  const pids = processTree(pid);
  const before = cpuOfEach(pids);
  const self0 = process.cpuUsage();
  const result = await fn();
  const self = process.cpuUsage(self0);
  const after = cpuOfEach(pids);
  return { result, cpu: after.reduce((s, x, i) => s + (x - before[i]! || 0), 0), self: (self.user + self.system) / 1e6 };
}
