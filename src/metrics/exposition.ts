// The Prometheus text page of a registry, as prom-client's `registry.metrics()` writes it, but with the
// snapshot metrics formatting their own lines: prom-client builds several arrays and strings per sample
// (label entries, escapes, joins), and at one scrape a second that garbage was most of a scrape's cost
// (each scavenge walks a heap holding thousands of connections).
import type { Registry } from 'prom-client';
import type { SelfRendering } from './snapshot-metric.js';

const selfRendering = <M extends object>(m: M): m is M & SelfRendering => typeof (m as Partial<SelfRendering>).renderText === 'function';

/**
 * The page: each metric's text in registration order, blank lines between, one newline at the end.
 * The registry's default labels are not applied to snapshot metrics (the proxy sets none).
 */
export async function exposition(registry: Registry): Promise<string> {
  // Every metric is asked in one synchronous pass (shared reads are memoised for one microtask).
  const parts = registry.getMetricsAsArray().map((m) => (selfRendering(m) ? m.renderText() : registry.getSingleMetricAsString(m.name)));
  return `${(await Promise.all(parts)).join('\n\n')}\n`;
}
