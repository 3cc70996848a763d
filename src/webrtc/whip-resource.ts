// WHIP/WHEP resource URLs through the proxy (RFC 9725 §4.3, spec 9.2 #6). An origin answers an offer
// with `Location: <resource>`; the client later sends DELETE (teardown) and PATCH (trickle ICE, ICE
// restart) to it. The proxy rewrites that URL to a path on itself and adds which origin and which ICE
// session it belongs to, so those requests come back to the proxy — any proxy of the cluster — and
// reach the same origin without per-resource state. The rewritten URL carries a MAC over the origin, the
// session and the origin's own path and query, so a client can reach only the resource an origin gave it,
// and never another client's. Pure string work: no I/O (the MAC function is passed in).

/** Query parameter naming the origin (server id) that owns the resource. */
export const PROXY_ORIGIN_PARAM = 'proxy_origin';
/** Query parameter naming the ICE session (`<answerUfrag>:<offerUfrag>`) of the resource. */
export const PROXY_SESSION_PARAM = 'proxy_session';
/** Query parameter carrying the MAC of the resource (see `resourceMacInput`). */
export const PROXY_SIGNATURE_PARAM = 'proxy_sig';
/** Paths the proxy forwards as they are; an origin resource elsewhere is reached under RESOURCE_PREFIX. */
export const WEBRTC_API_PREFIXES = ['/rtc/v1/whip/', '/rtc/v1/whep/', '/rtc/v1/whip-play/'] as const;
/** Proxy path prefix for origin resources outside WEBRTC_API_PREFIXES (`/rtc/v1/resource/<origin path>`). */
export const RESOURCE_PREFIX = '/rtc/v1/resource';

/** What the proxy needs to know about the answering origin to rewrite its Location. */
export interface ResourceOwner {
  serverId: string;
  /** ICE session id `<answerUfrag>:<offerUfrag>`. */
  session: string;
  /** Host names that mean "the origin" in an absolute Location (its API host, its registered ip). */
  originHosts: readonly string[];
  /** The URL the offer was sent to, against which a relative Location resolves. */
  requestUrl: string;
  /** MAC of `resourceMacInput(...)` with the cluster's secret. */
  mac: (input: string) => string;
}

/** What the MAC of a resource URL covers: the origin, the session and the origin's own path and query. */
export function resourceMacInput(serverId: string, session: string, originPath: string, originQuery: string): string {
  return ['whip-resource-v1', serverId, session, originPath, originQuery].join('\n');
}

/**
 * The Location to give the client: a proxy path + query for a resource on the origin, or the value
 * unchanged when it names another server (or cannot be parsed).
 */
export function proxyResourceLocation(location: string, owner: ResourceOwner): string {
  let url: URL;
  try {
    url = new URL(location, owner.requestUrl);
  } catch {
    return location;
  }
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(location.trim());
  if (absolute && !owner.originHosts.includes(stripBrackets(url.hostname))) return location;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return location;
  const path = isForwardedAsIs(url.pathname) ? url.pathname : RESOURCE_PREFIX + url.pathname;
  const query = removeParams(url.search.slice(1), [PROXY_ORIGIN_PARAM, PROXY_SESSION_PARAM, PROXY_SIGNATURE_PARAM]);
  const mac = owner.mac(resourceMacInput(owner.serverId, owner.session, url.pathname, query));
  const added = `${PROXY_ORIGIN_PARAM}=${encodeURIComponent(owner.serverId)}&${PROXY_SESSION_PARAM}=${encodeURIComponent(owner.session)}&${PROXY_SIGNATURE_PARAM}=${encodeURIComponent(mac)}`;
  return `${path}?${query === '' ? added : `${query}&${added}`}`;
}

/** True for a path the proxy serves with the same path on the origin. */
export function isForwardedAsIs(path: string): boolean {
  return WEBRTC_API_PREFIXES.some((p) => path.startsWith(p));
}

/** The origin path for a request that arrived at the proxy: RESOURCE_PREFIX removed once. */
export function originPath(proxyPath: string): string {
  return proxyPath.startsWith(`${RESOURCE_PREFIX}/`) ? proxyPath.slice(RESOURCE_PREFIX.length) : proxyPath;
}

/** The proxy's routing parameters of a raw query, and the query without them (other bytes unchanged). */
export interface ProxyParams {
  query: string;
  serverId: string | undefined;
  session: string | undefined;
  signature: string | undefined;
}

/** Takes the proxy's parameters out of a raw query string (without '?'). */
export function takeProxyParams(rawQuery: string): ProxyParams {
  let serverId: string | undefined;
  let session: string | undefined;
  let signature: string | undefined;
  const kept: string[] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeQueryComponent(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decodeQueryComponent(part.slice(eq + 1));
    if (name === PROXY_ORIGIN_PARAM) serverId ??= value;
    else if (name === PROXY_SESSION_PARAM) session ??= value;
    else if (name === PROXY_SIGNATURE_PARAM) signature ??= value;
    else kept.push(part);
  }
  return { query: kept.join('&'), serverId, session, signature };
}

function removeParams(rawQuery: string, names: readonly string[]): string {
  return rawQuery
    .split('&')
    .filter((part) => part !== '' && !names.includes(decodeQueryComponent(part.split('=', 1)[0]!)))
    .join('&');
}

/** application/x-www-form-urlencoded decoding that never throws (a bad escape is kept as written). */
function decodeQueryComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
