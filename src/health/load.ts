// What an origin tells us about its own load (the SRS heartbeat's `summaries`, an optional weight)
// and the one score that new-stream picks compare. Pure: no I/O, no clock.

/** Load figures read from a heartbeat, each bounded; absent when the origin did not send them. */
export interface ReportedLoad {
  /** Host CPU busy share, 0..1 (SRS sends `system.cpu_percent` as a fraction despite the name). */
  cpu?: number;
  /** 1-minute load average divided by the online CPUs, 0..64. */
  loadPerCpu?: number;
  /** Connections the origin's own server holds (`system.conn_srs`), 0..10,000,000. */
  connections?: number;
}

export class LoadReportError extends Error {
  override name = 'LoadReportError';
}

const MAX_CONNECTIONS = 10_000_000;
const MAX_LOAD_PER_CPU = 64;
const MAX_CPUS = 4096;
/** A summaries object deeper than this is refused outright (it is a few nested objects in practice). */
const MAX_DEPTH = 4;

export const MIN_WEIGHT = 0.01;
export const MAX_WEIGHT = 100;

/**
 * Reads `summaries` as SRS sends it with `summaries on`: `{data:{ok, now_ms, self:{…}, system:{…}}}`
 * (a bare `{self, system}` is accepted too). Unknown fields are ignored; a known field with the wrong
 * type, a negative or non-finite number is dropped rather than trusted; numbers are clamped to sane
 * ranges. Returns undefined when nothing usable is there. Throws only for a value that is not an
 * object at all, or is absurdly nested.
 */
export function parseSummaries(value: unknown): ReportedLoad | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new LoadReportError('summaries must be a JSON object');
  if (depth(value, 0) > MAX_DEPTH) throw new LoadReportError(`summaries nested deeper than ${MAX_DEPTH} levels`);
  const data = isObject(value.data) ? value.data : value;
  if (data.ok === false) return undefined; // SRS could not sample its statistics
  const system = isObject(data.system) ? data.system : {};
  const self = isObject(data.self) ? data.self : {};
  const out: ReportedLoad = {};
  const cpu = fraction(system.cpu_percent) ?? fraction(self.cpu_percent);
  if (cpu !== undefined) out.cpu = cpu;
  const load = finiteNonNegative(system.load_1m);
  const cpus = finiteNonNegative(system.cpus_online) ?? finiteNonNegative(system.cpus);
  if (load !== undefined) {
    const n = cpus !== undefined && cpus >= 1 ? Math.min(Math.floor(cpus), MAX_CPUS) : 1;
    out.loadPerCpu = Math.min(load / n, MAX_LOAD_PER_CPU);
  }
  const conns = finiteNonNegative(system.conn_srs);
  if (conns !== undefined) out.connections = Math.min(Math.floor(conns), MAX_CONNECTIONS);
  return Object.keys(out).length > 0 ? out : undefined;
}

/** An origin's weight (default 1): a finite number in [MIN_WEIGHT, MAX_WEIGHT]. */
export function parseWeight(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < MIN_WEIGHT || n > MAX_WEIGHT) {
    throw new LoadReportError(`weight must be a number in ${MIN_WEIGHT}..${MAX_WEIGHT}`);
  }
  return n;
}

/**
 * The score new-stream picks minimise. Connections (the larger of what the origin reports and the
 * relays proxies hold to it) grow it linearly; CPU grows it like a queue's waiting time (1 / (1 - busy)),
 * so an origin at 90 % CPU scores ten times one at rest; the weight divides it. With no reports and
 * no relays, equal origins score equally (the pick then falls to chance).
 */
export function loadScore(reported: ReportedLoad | undefined, relays: number, weight = 1): number {
  const connections = Math.max(reported?.connections ?? 0, relays);
  const busy = Math.min(0.95, reported?.cpu ?? Math.min(1, reported?.loadPerCpu ?? 0));
  return (connections + 1) / (1 - busy) / weight;
}

function fraction(v: unknown): number | undefined {
  const n = finiteNonNegative(v);
  return n === undefined ? undefined : Math.min(n, 1);
}

function finiteNonNegative(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function depth(v: unknown, level: number): number {
  if (level > MAX_DEPTH) return level;
  if (typeof v !== 'object' || v === null) return level;
  let max = level + 1;
  for (const child of Object.values(v as Record<string, unknown>)) {
    if (typeof child === 'object' && child !== null) max = Math.max(max, depth(child, level + 1));
    if (max > MAX_DEPTH) break;
  }
  return max;
}
