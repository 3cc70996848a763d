// The console's static route on the system API: files with their content types and safe headers, no
// token needed for the files themselves (the APIs keep theirs), 404 for unknown files, and every
// path-traversal spelling refused.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';

const TOKEN = 'static-test-token-77';
let proxy: RunningProxy;

before(async () => {
  proxy = await startProxy({ env: { PROXY_REGISTER_TOKEN: TOKEN } });
});
after(async () => {
  await proxy?.stop();
  await stopAllPeers();
});

/** A GET with the path sent exactly as written (fetch would resolve `..` before sending). */
function rawGet(path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.ports.systemApi, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('console files are served without a token, with their content types and safe headers', async () => {
  const expected: [string, RegExp][] = [
    ['/console/', /^text\/html/],
    ['/console/index.html', /^text\/html/],
    ['/console/app.js', /^text\/javascript/],
    ['/console/player.js', /^text\/javascript/],
    ['/console/console.css', /^text\/css/],
    ['/console/vendor/hls.min.js', /^text\/javascript/],
    ['/console/vendor/mpegts.js', /^text\/javascript/],
    ['/console/config.json', /^application\/json/],
  ];
  for (const [path, type] of expected) {
    const r = await rawGet(path);
    assert.equal(r.status, 200, path);
    assert.match(String(r.headers['content-type']), type, path);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.match(csp, new RegExp(`connect-src 'self' [^;]*:${proxy.ports.httpServer} [^;]*:${proxy.ports.httpApi}`), path);
  }
  const config = JSON.parse((await rawGet('/console/config.json')).body) as Record<string, unknown>;
  assert.deepEqual(config, { httpServer: proxy.ports.httpServer, httpApi: proxy.ports.httpApi, tokenRequired: true });
  assert.doesNotMatch(JSON.stringify(config), new RegExp(TOKEN));
  const bare = await rawGet('/console');
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.location, '/console/');
  // The APIs the page calls still need the token.
  assert.equal((await rawGet('/api/v1/origins')).status, 401);
});

test('an unknown console file is a 404 with a JSON body', async () => {
  for (const path of ['/console/nope.js', '/console/vendor/', '/console/vendor/nope.min.js']) {
    const r = await rawGet(path);
    assert.equal(r.status, 404, path);
    assert.match(String(r.headers['content-type']), /^application\/json/, path);
    assert.equal((JSON.parse(r.body) as { code: number }).code, 404, path);
  }
});

test('path traversal out of the console folder is refused in every spelling', async () => {
  for (const path of [
    '/console/../package.json',
    '/console/%2e%2e/package.json',
    '/console/..%2fpackage.json',
    '/console/%2e%2e%2fpackage.json',
    '/console/%2E%2E%2F%2E%2E%2Fpackage.json',
    '/console/vendor/..%2f..%2f..%2fpackage.json',
    '/console/..%5c..%5cpackage.json',
    '/console/%252e%252e/package.json',
    '/console/.%2e/.%2e/package.json',
    '/console/%00/../package.json',
    '/console/.env',
  ]) {
    const r = await rawGet(path);
    assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
    assert.doesNotMatch(r.body, /"devDependencies"/, path);
  }
});
