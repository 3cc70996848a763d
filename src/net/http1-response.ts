// An HTTP/1.1 response parser for the proxy's own origin client (src/net/origin-client.ts): pure, no I/O.
// Bytes are pushed as they arrive; the head is reported once whole, body bytes are reported as slices of
// the pushed buffers (no copy), and the end of the message once its framing says so. Every length is
// checked: the head's size and header count, Content-Length values (one length, decimal), chunk sizes
// (hex, bounded), the CRLF after each chunk, trailers' size, the number of interim (1xx) heads. One message
// per connection turn: the client never pipelines, so bytes after the end of a message make the connection
// unusable (`extra`). Bytes split across pushes (a head, a chunk-size or trailer line) are gathered in one
// growing buffer, never re-copied whole per push: an origin sending its head a byte per packet costs linear
// work, not quadratic. Time is not this file's concern: the client bounds the head's and the body's silence.

/** The origin's bytes are not an HTTP/1.1 answer the proxy can relay (the message says why; no addresses). */
export class ResponseParseError extends Error {
  override readonly name = 'ResponseParseError';
}

export interface ResponseEvents {
  /**
   * The final response head: status 200–999 (1xx interim answers other than 101 are skipped), header
   * names and values as sent, as a flat `[name, value, …]` list. With Transfer-Encoding, Content-Length
   * is left out (the body is de-chunked; its length is not known).
   */
  onHead(status: number, headers: string[]): void;
  /** Body bytes: a slice of the pushed buffer, valid only during this call. */
  onBody(chunk: Buffer): void;
  /** The message is complete. */
  onEnd(): void;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_HEADERS = 100;
/** A chunk-size line with its extensions, or one trailer line. */
const MAX_LINE_BYTES = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;
/** Chunk sizes up to 2^52 - 1 (13 hex digits): always an exact number. */
const MAX_CHUNK_SIZE_DIGITS = 13;
/** Interim answers (100, 103, …) before the final one: a few are normal, an endless stream of them is not. */
const MAX_INTERIM_HEADS = 16;

type State = 'head' | 'length' | 'close' | 'size' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done';

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
/** RFC 9110 token characters, by char code. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHARS[c.charCodeAt(0)] = 1;

/** text[from, to) is a non-empty token. */
function isToken(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
const DECIMAL = /^\d{1,15}$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?$/;

export class ResponseParser {
  private state: State = 'head';
  /** Head bytes (or a chunk-size/trailer line) split across pushes, copied out of the caller's buffers. */
  private readonly pending = new Carry();
  private remaining = 0;
  private trailerBytes = 0;
  private interim = 0;
  /** The connection may carry another request after this message. */
  keepAlive = true;
  /**
   * The origin's `Keep-Alive: timeout=N` (seconds) on the final head: how long it keeps an idle connection.
   * Undefined when absent or malformed (a bad value is ignored, never an error).
   */
  keepAliveTimeoutS: number | undefined;
  /** Bytes arrived after the end of the message (never expected: the client does not pipeline). */
  extra = false;

  /** `noBody`: the request was HEAD (the answer's framing headers describe a body that is not sent). */
  constructor(
    private readonly events: ResponseEvents,
    private readonly noBody: boolean,
  ) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** The head has been reported. */
  get started(): boolean {
    return this.state !== 'head';
  }

  /** Parses `data`; throws ResponseParseError on a malformed answer (the connection is then unusable). */
  push(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case 'head':
          at = this.head(data, at);
          break;
        case 'length': {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          // A read that is all body (most of a segment's) is passed on as pushed: no view made per read.
          const slice = at === 0 && n === data.length ? data : data.subarray(at, at + n);
          at += n;
          if (this.remaining === 0) this.state = 'done';
          this.events.onBody(slice);
          if (this.state === 'done') this.events.onEnd();
          break;
        }
        case 'close':
          this.events.onBody(at === 0 ? data : data.subarray(at));
          return;
        case 'size':
        case 'trailer':
          at = this.line(data, at);
          break;
        case 'data': {
          const n = Math.min(this.remaining, data.length - at);
          this.remaining -= n;
          const slice = data.subarray(at, at + n);
          at += n;
          if (this.remaining === 0) this.state = 'data-cr';
          this.events.onBody(slice);
          break;
        }
        case 'data-cr':
          if (data[at++] !== 0x0d) throw new ResponseParseError('origin sent a chunk longer than its size');
          this.state = 'data-lf';
          break;
        case 'data-lf':
          if (data[at++] !== 0x0a) throw new ResponseParseError('origin sent a chunk longer than its size');
          this.state = 'size';
          break;
        case 'done':
          this.extra = true;
          this.keepAlive = false;
          return;
      }
    }
  }

  /**
   * The connection ended (EOF): completes a close-delimited body; throws ResponseParseError when the
   * message was not complete.
   */
  finish(): void {
    if (this.state === 'done') return;
    if (this.state === 'close') {
      this.state = 'done';
      this.events.onEnd();
      return;
    }
    throw new ResponseParseError(this.state === 'head' ? 'origin closed before answering' : 'origin ended its answer early');
  }

  /** Collects the head; returns the offset after it (or data.length while it is incomplete). */
  private head(data: Buffer, at: number): number {
    const carried = this.pending.length;
    if (carried === 0) {
      const end = data.indexOf('\r\n\r\n', at, 'latin1');
      if (end !== -1) {
        if (end - at > MAX_HEAD_BYTES) throw new ResponseParseError('origin sent an oversized response head');
        this.parseHead(data.toString('latin1', at, end));
        return end + 4;
      }
      if (data.length - at > MAX_HEAD_BYTES) throw new ResponseParseError('origin sent an oversized response head');
      this.pending.append(data, at, data.length);
      return data.length;
    }
    // Only as many new bytes as a head may still take (plus its blank line) are gathered.
    const take = Math.min(data.length - at, MAX_HEAD_BYTES + 4 - carried);
    this.pending.append(data, at, at + take);
    // The blank line may straddle two pushes: search from a little before the new bytes.
    const buf = this.pending.bytes();
    const end = buf.indexOf('\r\n\r\n', Math.max(0, carried - 3), 'latin1');
    if (end === -1) {
      if (buf.length > MAX_HEAD_BYTES) throw new ResponseParseError('origin sent an oversized response head');
      return at + take;
    }
    if (end > MAX_HEAD_BYTES) throw new ResponseParseError('origin sent an oversized response head');
    const text = buf.toString('latin1', 0, end);
    this.pending.clear();
    this.parseHead(text);
    return at + (end + 4 - carried);
  }

  private parseHead(text: string): void {
    // Lines are cut by index rather than split (no array of lines, no regex per line: this is per answer).
    let eol = text.indexOf('\r\n');
    if (eol === -1) eol = text.length;
    const m = STATUS_LINE.exec(text.slice(0, eol));
    if (!m) throw new ResponseParseError('origin sent an invalid status line');
    const http10 = m[1] === '0';
    const status = Number(m[2]);
    const headers: string[] = [];
    let length: string | undefined;
    let coding: string | undefined;
    let connection = '';
    let keepAliveHint: string | undefined;
    let count = 0;
    for (let at = eol + 2; at < text.length + 2; at = eol + 2) {
      eol = text.indexOf('\r\n', at);
      if (eol === -1) eol = text.length;
      if (++count > MAX_HEADERS) throw new ResponseParseError('origin sent too many headers');
      const colon = text.indexOf(':', at);
      if (colon <= at || colon >= eol) throw new ResponseParseError('origin sent an invalid header line');
      // No whitespace before the colon, no folded lines (RFC 9112 §5.1, §5.2), no stray CR/LF.
      if (!isToken(text, at, colon)) throw new ResponseParseError('origin sent an invalid header name');
      const name = text.slice(at, colon);
      let from = colon + 1;
      let to = eol;
      while (from < to && isBlank(text.charCodeAt(from))) from++;
      while (to > from && isBlank(text.charCodeAt(to - 1))) to--;
      const value = text.slice(from, to);
      if (value.includes('\r') || value.includes('\n')) throw new ResponseParseError('origin sent an invalid header value');
      headers.push(name, value);
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        for (const v of value.split(',')) {
          const t = v.trim();
          if (!DECIMAL.test(t) || (length !== undefined && length !== t)) throw new ResponseParseError('origin sent conflicting Content-Length values');
          length = t;
        }
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        coding = coding === undefined ? value : `${coding}, ${value}`;
      } else if (name.length === 10) {
        const lower = name.toLowerCase();
        if (lower === 'connection') connection += `,${value.toLowerCase()}`;
        else if (lower === 'keep-alive') keepAliveHint = keepAliveHint === undefined ? value : `${keepAliveHint},${value}`;
      }
    }
    if (status < 200) {
      // 101 would switch protocols: never asked for. Other 1xx are interim: the final answer follows.
      if (status === 101) throw new ResponseParseError('origin switched protocols');
      if (++this.interim > MAX_INTERIM_HEADS) throw new ResponseParseError('origin sent too many interim answers');
      return;
    }
    this.keepAliveTimeoutS = keepAliveHint === undefined ? undefined : keepAliveTimeout(keepAliveHint);
    const tokens = connection.split(',').map((t) => t.trim());
    this.keepAlive = http10 ? tokens.includes('keep-alive') : !tokens.includes('close');
    if (coding !== undefined) {
      // Only `chunked` is a transfer coding the proxy can remove; anything else (gzip, …) would reach the
      // client as bytes it cannot decode.
      if (coding.trim().toLowerCase() !== 'chunked' || http10) throw new ResponseParseError('origin sent an unsupported Transfer-Encoding');
      if (length !== undefined) {
        // Both framings: chunked wins (RFC 9112 §6.3); the length is not passed on and the connection not reused.
        this.keepAlive = false;
        for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i]!.toLowerCase() === 'content-length') headers.splice(i, 2);
      }
    }
    if (this.noBody || status === 204 || status === 304) this.state = 'done';
    else if (coding !== undefined) this.state = 'size';
    else if (length !== undefined) {
      this.remaining = Number(length);
      this.state = this.remaining === 0 ? 'done' : 'length';
    } else {
      // Neither: the body runs to the end of the connection.
      this.keepAlive = false;
      this.state = 'close';
    }
    this.events.onHead(status, headers);
    if (this.state === 'done') this.events.onEnd();
  }

  /** A chunk-size line or a trailer line (CRLF-terminated, bounded); returns the offset after what it used. */
  private line(data: Buffer, at: number): number {
    const lf = data.indexOf(0x0a, at);
    if (lf === -1) {
      if (this.pending.length + data.length - at > MAX_LINE_BYTES) throw new ResponseParseError('origin sent an oversized chunk line');
      this.pending.append(data, at, data.length);
      return data.length;
    }
    let line: string;
    if (this.pending.length > 0) {
      if (this.pending.length + lf + 1 - at > MAX_LINE_BYTES) throw new ResponseParseError('origin sent an oversized chunk line');
      this.pending.append(data, at, lf + 1);
      line = this.pending.bytes().toString('latin1');
      this.pending.clear();
    } else {
      line = data.toString('latin1', at, lf + 1);
    }
    if (line.length > MAX_LINE_BYTES) throw new ResponseParseError('origin sent an oversized chunk line');
    if (line.length < 2 || line.charCodeAt(line.length - 2) !== 0x0d) throw new ResponseParseError('origin sent a malformed chunk line');
    const text = line.slice(0, -2);
    if (this.state === 'size') {
      const m = CHUNK_SIZE.exec(text);
      if (!m || m[1]!.length > MAX_CHUNK_SIZE_DIGITS) throw new ResponseParseError('origin sent an invalid chunk size');
      const size = parseInt(m[1]!, 16);
      if (size === 0) {
        this.state = 'trailer';
      } else {
        this.remaining = size;
        this.state = 'data';
      }
    } else {
      this.trailerBytes += line.length;
      if (this.trailerBytes > MAX_TRAILER_BYTES) throw new ResponseParseError('origin sent oversized trailers');
      if (text.length === 0) {
        this.state = 'done';
        this.events.onEnd();
      } else if (text.indexOf(':') <= 0 || text.includes('\r')) {
        throw new ResponseParseError('origin sent an invalid trailer');
      }
    }
    return lf + 1;
  }
}

/**
 * Bytes gathered across pushes into one buffer that doubles as needed (amortised linear copying). Its
 * callers cap what they append (a head ≤ 64 KiB, a line ≤ 4 KiB); a large buffer is let go once cleared.
 */
class Carry {
  private buf: Buffer | undefined;
  length = 0;

  append(src: Buffer, from: number, to: number): void {
    const need = this.length + (to - from);
    if (!this.buf || need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(256, need, (this.buf?.length ?? 0) * 2));
      if (this.buf) this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    src.copy(this.buf, this.length, from, to);
    this.length = need;
  }

  bytes(): Buffer {
    return this.buf ? this.buf.subarray(0, this.length) : Buffer.alloc(0);
  }

  clear(): void {
    this.length = 0;
    if (this.buf && this.buf.length > 4096) this.buf = undefined;
  }
}

const KEEP_ALIVE_SECONDS = /^(?:\d{1,9}|"\d{1,9}")$/;

/**
 * `timeout=N` of a Keep-Alive header value (`timeout=5, max=100`): whole seconds, optionally quoted. Other
 * parameters are skipped; a malformed timeout is ignored; several timeouts: the smallest (closing early is safe).
 */
export function keepAliveTimeout(value: string): number | undefined {
  let out: number | undefined;
  for (const param of value.split(',')) {
    const eq = param.indexOf('=');
    if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'timeout') continue;
    const v = param.slice(eq + 1).trim();
    if (!KEEP_ALIVE_SECONDS.test(v)) continue;
    const n = Number(v.startsWith('"') ? v.slice(1, -1) : v);
    if (out === undefined || n < out) out = n;
  }
  return out;
}
