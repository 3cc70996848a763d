// What an origin's refusal may tell the client. The origin's level and code pass (clients act on them, e.g.
// an auth hook's NetStream.Publish.Unauthorized), its description too, but with anything that names the
// origin (its addresses, host names, server id, any IP literal or host:port) replaced: the client must not
// learn the cluster's inside. Other fields of the info object are dropped. Pure.
import { Amf0Object, type Amf0Value } from './amf0.js';
import { infoText } from './commands.js';

/** Longest description passed on (an origin's text is untrusted). */
const MAX_DESCRIPTION = 256;
const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g;
const IPV6 = /\[?[0-9a-f]*:[0-9a-f]*:[0-9a-f:.]*\]?(?::\d{1,5})?/gi;
const HOST_PORT = /\b[a-z0-9.-]+:\d{1,5}\b/gi;

/** The origin's status reduced to level, code and a description that names nothing inside the cluster. */
export function clientSafeStatus(info: Amf0Value, originNames: readonly string[]): Amf0Object {
  const level = infoText(info, 'level') || 'error';
  const code = infoText(info, 'code');
  const description = redactOriginNames(infoText(info, 'description'), originNames);
  return Amf0Object.fromRecord({ level, code, description });
}

/** `text` with every origin name, IP literal and host:port replaced by "origin", clipped. */
export function redactOriginNames(text: string, originNames: readonly string[]): string {
  let out = text.slice(0, MAX_DESCRIPTION * 4);
  for (const name of originNames) {
    if (name.length >= 2) out = out.split(name).join('origin');
  }
  out = out.replace(IPV4, 'origin').replace(IPV6, 'origin').replace(HOST_PORT, 'origin');
  return out.slice(0, MAX_DESCRIPTION);
}
