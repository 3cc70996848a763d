// What an HLS session record may hold. The record lives for PROXY_SESSION_TTL in memory or Redis,
// so it keeps only bounded fields: the stream key (bounded by the stream-key rules) and the playlist
// URL, cut to MAX_HLS_URL characters (it is informational; nothing routes by it).

export const MAX_HLS_URL = 512;

export function boundedHlsUrl(url: string): string {
  return url.length > MAX_HLS_URL ? url.slice(0, MAX_HLS_URL) : url;
}
