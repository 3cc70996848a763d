// The one place the proxy takes undici's runtime values from. undici's entry file loads every
// dispatcher, interceptor, cache store and mock it ships (~110 modules, several MB of RSS an idle
// proxy never uses); the proxy needs only the Agent, its error classes and the request/stream API.
// These are loaded here from undici's own files, and the API methods are put on the Dispatcher
// prototype the same way undici's entry does, so `agent.request()` / `agent.stream()` behave as usual.
// Other files import undici's runtime values from here; type-only imports from 'undici' are fine.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const load = createRequire(import.meta.url);

/**
 * undici's keep-alive Agent class (one pool per origin), loaded at the first call: its client and HTTP parser
 * are ~10 MB of RSS that a proxy relaying only RTMP, SRT or RTSP never needs (measured with `require` alone).
 */
export function loadAgent(): typeof Undici.Agent {
  const dispatcher = load('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
  const api = {
    request: load('undici/lib/api/api-request.js') as unknown,
    stream: load('undici/lib/api/api-stream.js') as unknown,
  };
  // undici's entry assigns the same functions; doing it again (when something else loads the entry) is harmless.
  for (const [name, fn] of Object.entries(api)) {
    if ((dispatcher.prototype as unknown as Record<string, unknown>)[name] !== fn) Object.assign(dispatcher.prototype, { [name]: fn });
  }
  return load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
}
export type Agent = Undici.Agent;

/** undici's error classes (ConnectTimeoutError, HeadersTimeoutError, BodyTimeoutError, …). */
export const errors = load('undici/lib/core/errors.js') as typeof Undici.errors;

export type { Dispatcher } from 'undici';
