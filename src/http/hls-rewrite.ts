// HLS playlist rewriting (RFC 8216 + LL-HLS): every URI that leads back to the proxy — segment and
// part lines, and URI="…" attributes of EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-PART,
// EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT, EXT-X-I-FRAME-STREAM-INF, EXT-X-SESSION-* — gets the
// session parameter, so the follow-up request finds its stream (and origin) again. Everything else,
// line endings included, is byte-identical.
import { withSessionParam } from './session-param.js';

// An attribute named exactly URI (not SERVER-URI etc.): preceded by ':' or ','.
const URI_ATTRIBUTE = /([:,]\s*URI=")([^"]*)(")/g;

export function rewriteHlsPlaylist(text: string, sessionId: string): string {
  // Split keeping the separators so CRLF/LF survive untouched.
  const parts = text.split(/(\r\n|\n|\r)/);
  for (let i = 0; i < parts.length; i += 2) {
    const line = parts[i]!;
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      if (trimmed.startsWith('#EXT') && line.includes('URI="')) {
        parts[i] = line.replace(URI_ATTRIBUTE, (_m, pre: string, uri: string, post: string) => pre + withSessionParam(uri, sessionId) + post);
      }
      continue;
    }
    const lead = line.length - line.trimStart().length;
    parts[i] = line.slice(0, lead) + withSessionParam(trimmed, sessionId) + line.slice(lead + trimmed.length);
  }
  return parts.join('');
}

/** True when the body looks like an HLS playlist (so a mislabelled error page is not rewritten). */
export function isHlsPlaylist(text: string): boolean {
  return text
    .replace(/^\uFEFF/, '')
    .trimStart()
    .startsWith('#EXTM3U');
}
