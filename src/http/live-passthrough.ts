// Live streams (HTTP-FLV/TS/AAC/MP3) as a byte pipe: after the origin's response head, the origin
// socket is piped straight into the client socket, framing (chunked or close-delimited) included.
// This skips parsing and re-chunking every FLV tag — the per-chunk work that dominates CPU at
// streaming rates — so a live relay costs about what a plain TCP relay costs.
// One dedicated origin connection per live request (Connection: close both ways): live bodies last
// until either side leaves, so there is nothing to pool.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { HttpError } from '../net/http-util.js';
import { hostPort } from '../balancer/endpoint.js';
import type { DialTarget } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import { forwardRequestHeaders } from '../net/origin-http.js';
import { clientHeaders } from './origin-request.js';

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_HEADERS = 100;

export interface LivePassthrough {
  req: IncomingMessage;
  res: ServerResponse;
  target: DialTarget;
  /** Path and query as sent to the origin. */
  path: string;
  log: Logger;
  dialMs: number;
  answerMs: number;
  idleMs: number;
  extension: string;
}

export interface ResponseHead {
  status: number;
  reason: string;
  /** Lower-case names; repeated headers as arrays. */
  headers: Record<string, string | string[]>;
  /** Body bytes that arrived with the head. */
  rest: Buffer;
}

/** Parses an HTTP/1.x response head from `buf`; undefined until the blank line has arrived. */
export function parseResponseHead(buf: Buffer): ResponseHead | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    if (buf.length > MAX_HEAD_BYTES) throw new HttpError(502, 'origin sent an oversized response head');
    return undefined;
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new HttpError(502, 'origin sent an invalid response');
  if (lines.length - 1 > MAX_HEADERS) throw new HttpError(502, 'origin sent too many headers');
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpError(502, 'origin sent an invalid header');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers, rest: buf.subarray(end + 4) };
}

/** A message head: the start line, then the headers, then the blank line. */
function serializeHead(startLine: string, headers: Record<string, string | string[]>): string {
  let out = `${startLine}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      // Header values were read from a socket: never let a stray CR/LF split the head we write.
      if (!/[\r\n]/.test(v)) out += `${name}: ${v}\r\n`;
    }
  }
  return `${out}\r\n`;
}

export async function passthroughLive(o: LivePassthrough): Promise<void> {
  const origin = await dial(o.target, o.dialMs);
  const headers = forwardRequestHeaders(o.req, hostPort(o.target.host, o.target.port));
  headers.connection = 'close';
  const method = o.req.method === 'HEAD' ? 'HEAD' : 'GET';
  origin.write(serializeHead(`${method} ${o.path} HTTP/1.1`, headers));
  let head: ResponseHead;
  try {
    head = await readHead(origin, o.answerMs);
  } catch (err) {
    origin.destroy();
    throw err;
  }
  // From here on the client socket is ours: Node's ServerResponse never writes to it.
  const client = o.req.socket;
  const out = clientHeaders(head.headers, true, o.extension);
  // The origin's framing (chunked / Content-Length / close) reaches the client unchanged.
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) out['transfer-encoding'] = te;
  out.connection = 'close';
  o.res.shouldKeepAlive = false;
  client.setNoDelay(true);
  client.write(serializeHead(`HTTP/1.1 ${head.status} ${head.reason || 'OK'}`, out));
  if (head.rest.length > 0) client.write(head.rest);
  await pipeUntilEither(origin, client, o.log, o.idleMs);
}

function dial(target: DialTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: target.host, port: target.port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new HttpError(504, 'origin did not answer in time'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => {
      clearTimeout(timer);
      reject(new HttpError(502, 'origin unreachable'));
    });
  });
}

function readHead(origin: Socket, timeoutMs: number): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err?: Error, head?: ResponseHead) => {
      clearTimeout(timer);
      origin.off('data', onData).off('error', onError).off('end', onEnd);
      if (err) reject(err);
      else {
        origin.pause();
        resolve(head!);
      }
    };
    const onData = (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      try {
        const head = parseResponseHead(buf);
        if (head) done(undefined, head);
      } catch (err) {
        done(err as Error);
      }
    };
    const onError = () => done(new HttpError(502, 'origin unreachable'));
    const onEnd = () => done(new HttpError(502, 'origin closed before answering'));
    const timer = setTimeout(() => done(new HttpError(504, 'origin did not answer in time')), timeoutMs);
    origin.on('data', onData).once('error', onError).once('end', onEnd);
  });
}

/** Pipes origin → client with backpressure until either side ends or the stream idles. */
function pipeUntilEither(origin: Socket, client: Socket, log: Logger, idleMs: number): Promise<void> {
  return new Promise((resolve) => {
    let lastRead = -1;
    const idle = setInterval(() => {
      // The origin's byte counter moves with every chunk at no per-chunk cost to us.
      if (origin.bytesRead === lastRead) {
        log.info({ idleMs }, 'origin stream idle: closing');
        finish();
      }
      lastRead = origin.bytesRead;
    }, idleMs);
    idle.unref();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(idle);
      origin.unpipe(client);
      origin.destroy();
      client.end();
      // A client that does not read its last bytes must not hold the socket open.
      setTimeout(() => client.destroy(), 1000).unref();
      resolve();
    };
    origin.once('end', finish).once('error', finish).once('close', finish);
    client.once('close', finish).once('error', finish);
    origin.pipe(client, { end: false });
    origin.resume();
  });
}
