// `GET /metrics` over any scrape: one process's registry, or the sum of every worker's (PROXY_WORKERS > 1).
import type { Route, RouteContext } from '../net/router.js';

export function metricsRoute(scrape: () => Promise<{ text: string; contentType: string }>, authorize: (ctx: RouteContext) => void = () => undefined): Route {
  return {
    path: '/metrics',
    methods: {
      GET: async (ctx) => {
        authorize(ctx);
        const { text, contentType } = await scrape();
        ctx.res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
        ctx.res.end(text);
      },
    },
  };
}
