// A tiny exact-path router with per-method handlers: 404 for unknown paths, 405 (with Allow) for
// known paths and wrong methods, and every thrown HttpError turned into a JSON error reply.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { HttpError, HttpRefusal, requestUrl, sendError } from './http-util.js';
import { clip } from '../text.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  log: Logger;
  /** Path remainder after a prefix route (`/api/v1/origins/` + rest). */
  rest: string;
}

export type Handler = (ctx: RouteContext) => Promise<void> | void;
export type Methods = Partial<Record<'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS', Handler>>;

export interface Route {
  path: string;
  /** Match `path` as a prefix (path must end with '/'). */
  prefix?: boolean;
  methods: Methods;
}

export type Fallback = (ctx: RouteContext) => Promise<void> | void;

export function createRouter(routes: Route[], fallback?: Fallback) {
  return async (req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> => {
    try {
      const url = requestUrl(req);
      const path = url.pathname;
      const route = routes.find((r) => (r.prefix ? path.startsWith(r.path) : path === r.path));
      const ctx: RouteContext = { req, res, url, log, rest: route?.prefix ? path.slice(route.path.length) : '' };
      if (!route) {
        if (fallback) return await fallback(ctx);
        throw new HttpError(404, `no route for ${clip(path)}`);
      }
      const method = (req.method ?? 'GET').toUpperCase() as keyof Methods;
      const handler = route.methods[method] ?? (method === 'HEAD' ? route.methods.GET : undefined);
      if (!handler) {
        const allow = Object.keys(route.methods).join(', ');
        throw Object.assign(new HttpError(405, `method ${clip(method)} not allowed on ${route.path} (allowed: ${allow})`), { allow });
      }
      await handler(ctx);
    } catch (err) {
      if (err instanceof HttpError) {
        const headers: Record<string, string> = {};
        const allow = (err as HttpError & { allow?: string }).allow;
        if (allow) headers.Allow = allow;
        if (err instanceof HttpRefusal) Object.assign(headers, err.headers);
        log.debug({ status: err.status, error: err.message }, 'request refused');
        sendError(res, err, headers);
      } else {
        log.error({ err }, 'request failed');
        sendError(res, new HttpError(500, 'internal error'));
      }
    }
  };
}
