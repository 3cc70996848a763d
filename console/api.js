// Calls to the proxy's APIs with the operator's token (kept in sessionStorage), and the signal
// that a token is needed: a 401 shows the token form instead of failing the page.
const TOKEN_KEY = 'origin-proxy-token';

export class UnauthorizedError extends Error {
  name = 'UnauthorizedError';
}

export class ApiError extends Error {
  name = 'ApiError';
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function call(method, path, accept) {
  const headers = { Accept: accept };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const res = await fetch(path, { method, headers, cache: 'no-store' });
  if (res.status === 401) throw new UnauthorizedError('token required');
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && typeof body.error === 'string') message = `${res.status}: ${body.error}`;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, message);
  }
  return res;
}

export async function getJson(path) {
  return (await call('GET', path, 'application/json')).json();
}

export async function getText(path) {
  return (await call('GET', path, 'text/plain')).text();
}

export async function del(path) {
  return (await call('DELETE', path, 'application/json')).json();
}
