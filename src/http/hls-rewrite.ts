// HLS playlist rewriting (RFC 8216 + LL-HLS): every URI that leads back to the proxy — segment and
// part lines, and URI="…" attributes of EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-PART,
// EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT, EXT-X-I-FRAME-STREAM-INF, EXT-X-SESSION-* — gets the
// session parameter, so the follow-up request finds its stream (and origin) again. Everything else,
// line endings included, is byte-identical.
import { withSessionParam } from './session-param.js';

// An attribute named exactly URI (not SERVER-URI etc.): preceded by ':' or ','.
const URI_ATTRIBUTE = /([:,]\s*URI=")([^"]*)(")/g;

/**
 * One pass over the text: line ends are found by scanning (no split into an array, no regex per line),
 * untouched stretches are copied as slices, and only URI lines and tags with a URI attribute are rebuilt.
 */
export function rewriteHlsPlaylist(text: string, sessionId: string): string {
  let out = '';
  let copied = 0; // text before this offset is already in `out`
  let start = 0;
  const n = text.length;
  while (start <= n) {
    let end = start;
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c === 10 || c === 13) break;
      end++;
    }
    if (end > start) {
      const replaced = rewriteLine(text.slice(start, end), sessionId);
      if (replaced !== undefined) {
        out += text.slice(copied, start) + replaced;
        copied = end;
      }
    }
    if (end >= n) break;
    // CRLF, LF and a lone CR all end a line.
    start = text.charCodeAt(end) === 13 && text.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const HASH = 35;

function isSpace(c: number): boolean {
  // The common ASCII whitespace; anything else takes the general path (trim()).
  return c === 32 || c === 9 || c === 11 || c === 12 || c > 127;
}

/** The line with the session parameter added, or undefined when it stays as it is. */
function rewriteLine(line: string, sessionId: string): string | undefined {
  const first = line.charCodeAt(0);
  if (first === HASH) {
    if (line.startsWith('#EXT') && line.includes('URI="')) {
      return line.replace(URI_ATTRIBUTE, (_m, pre: string, uri: string, post: string) => pre + withSessionParam(uri, sessionId) + post);
    }
    return undefined;
  }
  if (!isSpace(first) && !isSpace(line.charCodeAt(line.length - 1))) return withSessionParam(line, sessionId);
  // Leading or trailing whitespace: kept around the URI.
  const trimmed = line.trim();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('#')) {
    if (trimmed.startsWith('#EXT') && line.includes('URI="')) {
      return line.replace(URI_ATTRIBUTE, (_m, pre: string, uri: string, post: string) => pre + withSessionParam(uri, sessionId) + post);
    }
    return undefined;
  }
  const lead = line.length - line.trimStart().length;
  return line.slice(0, lead) + withSessionParam(trimmed, sessionId) + line.slice(lead + trimmed.length);
}

/** True when the body looks like an HLS playlist (so a mislabelled error page is not rewritten). */
export function isHlsPlaylist(text: string): boolean {
  return text
    .replace(/^\uFEFF/, '')
    .trimStart()
    .startsWith('#EXTM3U');
}
