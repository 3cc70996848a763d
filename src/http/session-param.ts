// Adding the HLS/DASH session parameter (`spbhid`) to a URI found in a playlist or manifest.
// Only URIs that will come back to the proxy are touched: relative references and absolute paths.
// Absolute URLs (another host: a key server, a CDN) and data: URIs are left alone.

export const SESSION_PARAM = 'spbhid';

/** True for URIs that resolve against the playlist's own origin (and so reach the proxy). */
export function comesBackToProxy(uri: string): boolean {
  if (uri === '' || uri.startsWith('//')) return false;
  return !/^[a-z][a-z0-9+.-]*:/i.test(uri);
}

/**
 * `a.ts` → `a.ts?spbhid=ID`; `a.ts?x=1` → `a.ts?spbhid=ID&x=1`; an existing spbhid is replaced.
 * `amp` is the separator to write (`&amp;` inside XML attributes).
 */
export function withSessionParam(uri: string, id: string, amp = '&'): string {
  if (!comesBackToProxy(uri)) return uri;
  const hash = uri.indexOf('#');
  const fragment = hash === -1 ? '' : uri.slice(hash);
  const base = hash === -1 ? uri : uri.slice(0, hash);
  const q = base.indexOf('?');
  if (q === -1) return `${base}?${SESSION_PARAM}=${id}${fragment}`;
  const path = base.slice(0, q);
  const rest = base
    .slice(q + 1)
    .split(amp)
    .filter((p) => p !== '' && !p.startsWith(`${SESSION_PARAM}=`));
  return `${path}?${[`${SESSION_PARAM}=${id}`, ...rest].join(amp)}${fragment}`;
}

/**
 * The first `spbhid` value of a URL's query, as `url.searchParams.get(SESSION_PARAM)` gives it, without
 * building the URLSearchParams (a segment request needs nothing else from its query). A query with
 * percent-escapes or `+` is left to URLSearchParams, which decodes them.
 */
export function sessionParamOf(url: URL): string | null {
  const search = url.search;
  if (search.length === 0) return null;
  if (search.includes('%') || search.includes('+')) return url.searchParams.get(SESSION_PARAM);
  let at = 1; // after '?'
  while (at <= search.length) {
    let end = search.indexOf('&', at);
    if (end === -1) end = search.length;
    const eq = search.indexOf('=', at);
    const nameEnd = eq === -1 || eq > end ? end : eq;
    if (nameEnd - at === SESSION_PARAM.length && search.startsWith(SESSION_PARAM, at)) return nameEnd === end ? '' : search.slice(nameEnd + 1, end);
    at = end + 1;
  }
  return null;
}
