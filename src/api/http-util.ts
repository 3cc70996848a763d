// Small HTTP helpers shared by the three HTTP listeners: JSON replies, bounded body reads, errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SERVER_HEADER } from '../version.js';

/** An error that becomes a JSON reply `{code, error}` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = status,
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    Server: SERVER_HEADER,
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, { code: err.code, error: err.message }, headers);
}

/**
 * Reads a request body up to `limit` bytes. A larger body is refused with 413 as soon as the
 * limit is crossed (by Content-Length or by bytes received), without buffering the rest.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new HttpError(413, `body larger than ${limit} bytes`));
  }
  // Plain events rather than async iteration: this is on every register request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(new HttpError(413, `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Parses a request URL (path + query) without trusting the Host header. */
export function requestUrl(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, 'invalid request URL');
  }
}
