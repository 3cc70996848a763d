// The one place the proxy takes prom-client's runtime values from. prom-client's entry loads its default
// metrics (the proxy exports its own, process-metrics.ts), and the CPU counter among them requires
// @opentelemetry/api (51 files, ~0.4 MB of an idle proxy's RSS) only to attach trace exemplars, which are never
// on here. A stand-in answering "no active span" is put where that require finds it, unless something loaded the
// real package first. Other files import prom-client's runtime values from here.
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import type * as PromClient from 'prom-client';

const load = createRequire(import.meta.url);

/** What prom-client's CPU counter asks of @opentelemetry/api (only with exemplars on): no active span. */
const NO_TRACING = { trace: { getSpan: (): undefined => undefined }, context: { active: (): undefined => undefined } };

const otelPath = load.resolve('@opentelemetry/api', { paths: [dirname(load.resolve('prom-client'))] });
if (load.cache[otelPath] === undefined) {
  const stand = new Module(otelPath);
  stand.filename = otelPath;
  stand.loaded = true;
  stand.exports = NO_TRACING;
  load.cache[otelPath] = stand;
}

const prom = load('prom-client') as typeof PromClient;

export const { Registry, Counter, Histogram, AggregatorRegistry } = prom;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
