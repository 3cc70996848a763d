// Static files for players (PROXY_STATIC_FILES) with `send`: no path traversal or dotfiles, MIME types,
// Range, ETag/Last-Modified with 304, HEAD, index.html for folders (and a redirect to add the slash).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type sendModule from 'send';
import { HttpError, sendError } from '../net/http-util.js';

// `send` and its MIME database are loaded on the first static request, not by every proxy.
let send: typeof sendModule | undefined;

export function serveStatic(req: IncomingMessage, res: ServerResponse, root: string | undefined, encodedPath: string): Promise<void> {
  return new Promise((resolve) => {
    if (!root) {
      sendError(res, new HttpError(404, 'not found'));
      resolve();
      return;
    }
    send ??= createRequire(import.meta.url)('send') as typeof sendModule;
    const stream = send(req, encodedPath, { root, index: ['index.html'], dotfiles: 'deny', etag: true, lastModified: true });
    stream.on('error', (err: { status?: number }) => {
      const status = err.status === 403 ? 403 : err.status === 400 ? 400 : 404;
      sendError(res, new HttpError(status, status === 403 ? 'forbidden' : status === 400 ? 'bad path' : 'not found'));
      resolve();
    });
    stream.on('end', resolve);
    res.once('close', resolve);
    stream.pipe(res);
  });
}
