// Routes of the HTTP stream listener (PROXY_HTTP_SERVER). The streaming routes (FLV/TS/HLS/DASH and
// static files) are added by the HTTP streaming module; the versions endpoint has its own shape here (spec 2.2).
import { sendJson } from '../net/http-util.js';
import type { Route } from '../net/router.js';
import { versionParts } from '../version.js';

export function streamVersionsRoute(): Route {
  return {
    path: '/api/v1/versions',
    methods: { GET: ({ res }) => sendJson(res, 200, { code: 0, pid: String(process.pid), data: versionParts() }) },
  };
}
