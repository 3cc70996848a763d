// Go-style durations ("20s", "1m30s", "500ms", "1.5h") → milliseconds.
// A bare number is rejected: PROXY_* timeouts have always needed a unit, and "20" silently meaning
// 20 ms or 20 s is exactly the kind of surprise a config parser must not make.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a non-negative Go duration; returns milliseconds or throws an Error explaining the problem. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new Error('empty duration');
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(s)) {
    throw new Error(`"${s}" has no unit; write e.g. "${s}s" or "${s}ms"`);
  }
  if (s.startsWith('-')) throw new Error(`"${s}" is negative`);
  let i = s.startsWith('+') ? 1 : 0;
  let total = 0;
  while (i < s.length) {
    PART.lastIndex = i;
    const m = PART.exec(s);
    if (!m) throw new Error(`"${s}" is not a duration (examples: 20s, 1m30s, 500ms)`);
    total += Number.parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    i = PART.lastIndex;
  }
  if (!Number.isFinite(total)) throw new Error(`"${s}" is out of range`);
  return total;
}
