// `GET /metrics` over any scrape: one process's registry, or the sum of every worker's (PROXY_WORKERS > 1).
import type { Route, RouteContext } from '../net/router.js';

/** The page and its content type; one process's is already bytes (metrics/exposition.ts). */
export interface MetricsPage {
  body: string | Buffer;
  contentType: string;
}

export function metricsRoute(scrape: () => Promise<MetricsPage>, authorize: (ctx: RouteContext) => void = () => undefined): Route {
  return {
    path: '/metrics',
    methods: {
      GET: async (ctx) => {
        authorize(ctx);
        const { body, contentType } = await scrape();
        // Header and body leave in one write (a Buffer body is not copied into the header string).
        ctx.res.writeHead(200, ['Content-Type', contentType, 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store']);
        ctx.res.end(body);
      },
    },
  };
}
