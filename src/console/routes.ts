// The web console (`/console/` on the system API): static files built into dist/console (the page,
// its scripts and the vendored player libraries) and `config.json`, the ports the page plays through.
// The files carry no data and need no token; every API the page calls checks the token itself.
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { serveStatic } from '../http/static-files.js';
import { sendJson } from '../net/http-util.js';
import type { Route } from '../net/router.js';

export interface ConsolePorts {
  /** HTTP stream listener (HTTP-FLV, HLS): where the page's players fetch media. */
  httpServer: number;
  /** HTTP API listener: where the WHEP player posts its offer. */
  httpApi: number;
  httpsServer?: number | undefined;
  httpsApi?: number | undefined;
}

export interface ConsoleDeps {
  /**
   * The ports the listeners are bound to, read per request: the system API starts before the HTTP
   * stream listener, and a configured port 0 is only known once bound.
   */
  ports: () => ConsolePorts;
  /** Whether the APIs need a token (the page then asks for one before the first call fails). */
  tokenRequired: boolean;
  /** Folder of the built console (default: dist/console beside the compiled code). */
  root?: string;
}

/** The built console: `dist/console`, two folders above this module's compiled file (dist/src/console). */
export const CONSOLE_ROOT = fileURLToPath(new URL('../../console/', import.meta.url));

/**
 * The page may load only its own files, play media from blob: URLs (MSE), run hls.js's worker from a
 * blob:, and connect only to itself and the proxy's media and API ports.
 */
export function consoleSecurityHeaders(ports: ConsolePorts): Record<string, string> {
  const connect = [ports.httpServer, ports.httpApi, ports.httpsServer, ports.httpsApi]
    .filter((p): p is number => p !== undefined && p > 0)
    .map((p) => `http://*:${p} https://*:${p}`)
    .join(' ');
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    "worker-src 'self' blob:",
    `connect-src 'self' ${connect}`.trimEnd(),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-cache',
  };
}

export function consoleRoutes(deps: ConsoleDeps): Route[] {
  const root = deps.root ?? CONSOLE_ROOT;
  const secure = (res: ServerResponse) => {
    for (const [k, v] of Object.entries(consoleSecurityHeaders(deps.ports()))) res.setHeader(k, v);
  };
  const config = () => {
    const ports = deps.ports();
    return {
      httpServer: ports.httpServer,
      httpApi: ports.httpApi,
      ...(ports.httpsServer ? { httpsServer: ports.httpsServer } : {}),
      ...(ports.httpsApi ? { httpsApi: ports.httpsApi } : {}),
      tokenRequired: deps.tokenRequired,
    };
  };
  return [
    {
      path: '/console',
      methods: {
        GET: ({ res }) => {
          res.writeHead(301, { Location: '/console/', 'Content-Length': '0' });
          res.end();
        },
      },
    },
    {
      path: '/console/config.json',
      methods: { GET: ({ res }) => sendJson(res, 200, config(), consoleSecurityHeaders(deps.ports())) },
    },
    {
      path: '/console/',
      prefix: true,
      methods: {
        GET: ({ req, res, rest }) => {
          secure(res);
          return serveStatic(req, res, root, `/${rest}`);
        },
      },
    },
  ];
}
