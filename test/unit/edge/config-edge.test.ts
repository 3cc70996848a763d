// The edge variables: defaults, validation naming the variable, and the startup warning for an
// unprotected system API.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemApiExposure } from '../../../src/api/system-api.js';
import { ConfigError, loadConfig, type ConfigSources } from '../../../src/config.js';

function load(env: Record<string, string | undefined>, extra: Partial<ConfigSources> = {}) {
  return loadConfig({ env, cwd: '/srv/proxy', readDotenv: () => undefined, isDirectory: () => false, readable: (p) => p.endsWith('.pem'), ...extra });
}

function failsOn(env: Record<string, string>, variable: string, reason: RegExp): void {
  try {
    load(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.variable, variable);
    assert.match(err.message, reason);
    return;
  }
  assert.fail(`expected a ConfigError for ${variable}`);
}

describe('edge configuration', () => {
  test('defaults', () => {
    const { edge } = load({}).config;
    assert.equal(edge.maxOrigins, 1000);
    assert.equal(edge.maxConnections, 100_000);
    assert.equal(edge.maxConnectionsPerIp, 5000);
    assert.equal(edge.fdReserve, 256);
    assert.equal(edge.maxHeapRatio, 0.85);
    assert.equal(edge.originAllowCidrs, undefined);
    assert.equal(edge.systemApiAllowCidrs, undefined);
    assert.equal(edge.httpsApi, undefined);
    assert.equal(edge.tlsCert, undefined);
  });
  test('values', () => {
    const { edge } = load({
      PROXY_MAX_ORIGINS: '3',
      PROXY_ORIGIN_ALLOW_CIDRS: '10.0.0.0/8',
      PROXY_SYSTEM_API_ALLOW_CIDRS: '127.0.0.1,::1',
      PROXY_MAX_HEAP_RATIO: '0.5',
      PROXY_HTTPS_API: '127.0.0.1:8443',
      PROXY_TLS_CERT: 'c.pem',
      PROXY_TLS_KEY: 'k.pem',
    }).config;
    assert.equal(edge.maxOrigins, 3);
    assert.equal(edge.originAllowCidrs?.length, 1);
    assert.equal(edge.systemApiAllowCidrs?.length, 2);
    assert.equal(edge.maxHeapRatio, 0.5);
    assert.deepEqual(edge.httpsApi, { host: '127.0.0.1', port: 8443 });
    assert.equal(edge.tlsCert, '/srv/proxy/c.pem');
  });
  const bad: [Record<string, string>, string, RegExp][] = [
    [{ PROXY_MAX_ORIGINS: '0' }, 'PROXY_MAX_ORIGINS', /1\.\.1000000/],
    [{ PROXY_MAX_ORIGINS: 'many' }, 'PROXY_MAX_ORIGINS', /integer/],
    [{ PROXY_ORIGIN_ALLOW_CIDRS: '10.0.0.0/40' }, 'PROXY_ORIGIN_ALLOW_CIDRS', /prefix/],
    [{ PROXY_SYSTEM_API_ALLOW_CIDRS: 'office' }, 'PROXY_SYSTEM_API_ALLOW_CIDRS', /not an IP/],
    [{ PROXY_MAX_CONNECTIONS_PER_IP: '-1' }, 'PROXY_MAX_CONNECTIONS_PER_IP', /integer/],
    [{ PROXY_MAX_HEAP_RATIO: '1.5' }, 'PROXY_MAX_HEAP_RATIO', /between/],
    [{ PROXY_MAX_HEAP_RATIO: '0.05' }, 'PROXY_MAX_HEAP_RATIO', /between/],
    [{ PROXY_HTTPS_SERVER: 'nope:x' }, 'PROXY_HTTPS_SERVER', /port/],
    [{ PROXY_TLS_CERT: 'c.pem' }, 'PROXY_TLS_KEY', /together with PROXY_TLS_CERT/],
    [{ PROXY_TLS_KEY: 'k.pem' }, 'PROXY_TLS_CERT', /together with PROXY_TLS_KEY/],
    [{ PROXY_HTTPS_API: '8443' }, 'PROXY_TLS_CERT', /required by PROXY_HTTPS_API/],
    [{ PROXY_TLS_CERT: 'missing.crt', PROXY_TLS_KEY: 'k.pem' }, 'PROXY_TLS_CERT', /cannot read/],
  ];
  for (const [env, variable, reason] of bad) test(`${JSON.stringify(env)} stops startup naming ${variable}`, () => failsOn(env, variable, reason));
});

describe('system API exposure warning', () => {
  const cfg = (env: Record<string, string>) => load(env).config;
  test('all interfaces or a public address, no token, no allow list → warning naming the variables', () => {
    for (const listen of ['12025', '0.0.0.0:12025', '[::]:12025', '10.1.2.3:12025']) {
      assert.match(systemApiExposure(cfg({ PROXY_SYSTEM_API: listen })) ?? '', /PROXY_REGISTER_TOKEN.*PROXY_SYSTEM_API_ALLOW_CIDRS/, listen);
    }
  });
  test('loopback, a token or an allow list → no warning', () => {
    assert.equal(systemApiExposure(cfg({ PROXY_SYSTEM_API: '127.0.0.1:12025' })), undefined);
    assert.equal(systemApiExposure(cfg({ PROXY_SYSTEM_API: '[::1]:12025' })), undefined);
    assert.equal(systemApiExposure(cfg({ PROXY_REGISTER_TOKEN: 't' })), undefined);
    assert.equal(systemApiExposure(cfg({ PROXY_SYSTEM_API_ALLOW_CIDRS: '10.0.0.0/8' })), undefined);
  });
});
