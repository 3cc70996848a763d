// Settings that are valid but almost certainly not what the operator meant: they start the proxy, with a
// warning each, because refusing them would break setups that work (tests bind port 0 on purpose).

/**
 * Edit distance with adjacent transpositions (optimal string alignment): the number of single-character
 * insertions, deletions, substitutions and swaps that turn `a` into `b`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name closest to `name`, when it is close enough to be a likely typo: at most a third of the
 * part after `PROXY_` differs (so PROXY_RTMP_SEVER finds PROXY_RTMP_SERVER, but PROXY_FOO finds nothing).
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  const upper = name.toUpperCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(upper, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const budget = Math.max(1, Math.floor((name.length - 'PROXY_'.length) / 3));
  return best !== undefined && bestDistance <= budget ? best : undefined;
}

/** One warning per `PROXY_*` variable the proxy does not read (a typo, or a variable of another version). */
export function unknownVariableWarnings(env: Record<string, string | undefined>, known: ReadonlySet<string>): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('PROXY_') || known.has(name)) continue;
    const guess = closestName(name, known);
    warnings.push(`unknown variable ${name} is ignored${guess ? `; did you mean ${guess}?` : ''}`);
  }
  return warnings;
}

/** The force-quit deadline cuts the graceful drain short when it is the shorter of the two. */
export function quitTimeoutWarnings(graceQuitMs: number, forceQuitMs: number): string[] {
  if (forceQuitMs >= graceQuitMs) return [];
  return [
    `PROXY_FORCE_QUIT_TIMEOUT (${forceQuitMs} ms) is shorter than PROXY_GRACE_QUIT_TIMEOUT (${graceQuitMs} ms): ` +
      'on SIGTERM the process exits before connections have finished draining',
  ];
}

/** Port 0 makes the OS pick a free port, which origins, clients and the other proxies cannot know in advance. */
export function portZeroWarnings<K extends string>(listeners: Record<K, { port: number }>, variables: Record<K, string>): string[] {
  return Object.entries(listeners)
    .filter(([, address]) => (address as { port: number }).port === 0)
    .map(([key]) => `${variables[key as K]} has port 0: the OS picks a random free port (see the "listening" log line)`);
}
