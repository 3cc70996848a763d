// Routes of the HTTP stream listener (PROXY_HTTP_SERVER). The streaming routes (FLV/TS/HLS/DASH and
// static files) are added by the HTTP streaming module; the versions endpoint has its own shape here (BEHAVIOUR.md §2.2).
import { sendJson } from '../net/http-util.js';
import type { Route } from '../net/router.js';
import { versionParts } from '../version.js';

/** `pid`: the proxy's process id (with worker processes, the supervisor's). */
export function streamVersionsRoute(pid = process.pid): Route {
  return {
    path: '/api/v1/versions',
    methods: { GET: ({ res }) => sendJson(res, 200, { code: 0, pid: String(pid), data: versionParts() }) },
  };
}
