import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULTS, loadConfig, parseWorkers, type ConfigSources } from '../../src/config.js';

function load(env: Record<string, string | undefined>, extra: Partial<ConfigSources> = {}) {
  return loadConfig({ env, cwd: '/srv/proxy', readDotenv: () => undefined, isDirectory: () => false, ...extra });
}

function configError(fn: () => unknown, variable: string): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.variable, variable);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  test('defaults match the Go proxy (BEHAVIOUR.md §1.1/1.2)', () => {
    const { config, warnings } = load({});
    assert.deepEqual(config.listeners, {
      rtmp: { host: undefined, port: 11935 },
      httpServer: { host: undefined, port: 18080 },
      httpApi: { host: undefined, port: 11985 },
      webrtc: { host: undefined, port: 18000 },
      srt: { host: undefined, port: 20080 },
      systemApi: { host: undefined, port: 12025 },
    });
    assert.equal(config.loadBalancer, 'memory');
    assert.deepEqual(config.redis, {
      host: '127.0.0.1',
      port: 6379,
      password: '',
      db: 0,
      username: undefined,
      tls: false,
      source: 'PROXY_REDIS_HOST/PROXY_REDIS_PORT',
      sentinels: undefined,
      sentinelName: 'mymaster',
      clusterNodes: undefined,
      fallback: 'off',
      fallbackTtlMs: 60_000,
      timeoutMs: 1000,
    });
    assert.equal(config.defaultBackend, undefined);
    assert.equal(config.graceQuitMs, 20_000);
    assert.equal(config.forceQuitMs, 30_000);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.originExpireMs, 30_000);
    assert.equal(config.sessionTtlMs, 120_000);
    assert.equal(config.registerToken, undefined);
    assert.deepEqual(config.timeouts, { dialMs: 3000, originAnswerMs: 10_000, handshakeMs: 10_000, idleMs: 30_000 });
    assert.equal(config.udpBufferBytes, 8 * 1024 * 1024);
    assert.equal(config.maxUdpSessions, 10_000);
    assert.equal(config.webrtcCandidate, undefined);
    assert.equal(config.rtmpMaxMessageSize, 16 * 1024 * 1024);
    // Scenario 1 (improved): the default static folder is missing → static off with a warning.
    assert.equal(config.staticFiles, undefined);
    assert.match(warnings.join('\n'), /static files off/);
  });

  test('empty counts as unset', () => {
    const { config } = load({ PROXY_RTMP_SERVER: '', PROXY_GRACE_QUIT_TIMEOUT: '' });
    assert.equal(config.listeners.rtmp.port, 11935);
    assert.equal(config.graceQuitMs, 20_000);
  });

  test('PROXY_RTMP_MAX_MESSAGE_SIZE takes a byte count', () => {
    assert.equal(load({ PROXY_RTMP_MAX_MESSAGE_SIZE: '1048576' }).config.rtmpMaxMessageSize, 1_048_576);
  });

  test('PROXY_HLS_CACHE_MAX: 256 MiB by default, a byte count, 0 turns the cache off', () => {
    assert.equal(load({}).config.hlsCacheMaxBytes, 256 * 1024 * 1024);
    assert.equal(load({ PROXY_HLS_CACHE_MAX: '1048576' }).config.hlsCacheMaxBytes, 1_048_576);
    assert.equal(load({ PROXY_HLS_CACHE_MAX: '0' }).config.hlsCacheMaxBytes, 0);
  });

  test('an explicitly set static folder that is missing is fatal', () => {
    configError(() => load({ PROXY_STATIC_FILES: '/nope' }), 'PROXY_STATIC_FILES');
  });

  test('an existing static folder is served, resolved against the working directory', () => {
    const { config } = load({ PROXY_STATIC_FILES: 'www' }, { isDirectory: (p) => p === '/srv/proxy/www' });
    assert.equal(config.staticFiles, '/srv/proxy/www');
  });

  test('.env supplies values; the process environment wins, even when empty (BEHAVIOUR.md §1.3, scenarios 2-3)', () => {
    const dotenv = 'PROXY_RTMP_SERVER=1936\nPROXY_HTTP_API=2985\nPROXY_SRT_SERVER=3000\n';
    const { config } = load({ PROXY_RTMP_SERVER: '1937', PROXY_SRT_SERVER: '' }, { readDotenv: () => dotenv });
    assert.equal(config.listeners.rtmp.port, 1937);
    assert.equal(config.listeners.httpApi.port, 2985);
    assert.equal(config.listeners.srt.port, 20080); // present-but-empty in env → default, not .env
  });

  test('an unparsable .env is fatal', () => {
    configError(() => load({}, { readDotenv: () => 'garbage line\n' }), '.env');
  });

  test('scenario 4: a bare-number timeout stops startup naming the variable', () => {
    const err = configError(() => load({ PROXY_GRACE_QUIT_TIMEOUT: '20' }), 'PROXY_GRACE_QUIT_TIMEOUT');
    assert.match(err.message, /PROXY_GRACE_QUIT_TIMEOUT="20".*unit/);
  });

  test('scenario 5: ip:port listen address', () => {
    assert.deepEqual(load({ PROXY_RTMP_SERVER: '127.0.0.1:19350' }).config.listeners.rtmp, { host: '127.0.0.1', port: 19350 });
  });

  const invalid: [string, string][] = [
    ['PROXY_LOAD_BALANCER_TYPE', 'mysql'],
    ['PROXY_REDIS_DB', 'one'],
    ['PROXY_REDIS_PORT', '70000'],
    ['PROXY_REDIS_URL', 'http://127.0.0.1:6379'],
    ['PROXY_REDIS_URL', 'redis://127.0.0.1:6379/x'],
    ['PROXY_REDIS_URL', 'redis://127.0.0.1:99999'],
    ['PROXY_REDIS_URL', 'not a url'],
    ['PROXY_REDIS_SENTINELS', '127.0.0.1'],
    ['PROXY_REDIS_SENTINELS', '127.0.0.1:26379,:26380'],
    ['PROXY_REDIS_SENTINEL_NAME', 'my master'],
    ['PROXY_REDIS_CLUSTER_NODES', 'a:b'],
    ['PROXY_REDIS_FALLBACK', 'on'],
    ['PROXY_REDIS_FALLBACK_TTL', '60'],
    ['PROXY_REDIS_TIMEOUT', '0s'],
    ['PROXY_HTTP_SERVER', 'not-an-address'],
    ['PROXY_SYSTEM_API', '99999'],
    ['PROXY_DEFAULT_BACKEND_ENABLED', 'yes please'],
    ['PROXY_DEFAULT_BACKEND_RTMP', 'abc'],
    ['PROXY_FORCE_QUIT_TIMEOUT', '1x'],
    ['PROXY_LOG_LEVEL', 'loud'],
    ['PROXY_LOG_FORMAT', 'xml'],
    ['PROXY_ORIGIN_EXPIRE', '0'],
    ['PROXY_SESSION_TTL', '5'],
    ['PROXY_MAX_STREAM_PINS', '0'],
    ['PROXY_DIAL_TIMEOUT', '3'],
    ['PROXY_IDLE_TIMEOUT', '0s'],
    ['PROXY_UDP_BUFFER_SIZE', '1k'],
    ['PROXY_UDP_BUFFER_SIZE', '100'],
    ['PROXY_MAX_UDP_SESSIONS', '-1'],
    ['PROXY_WEBRTC_CANDIDATE', 'a b'],
    ['PROXY_RTMP_MAX_MESSAGE_SIZE', '1000'],
    ['PROXY_RTMP_MAX_MESSAGE_SIZE', '16777217'],
    ['PROXY_RTMP_MAX_MESSAGE_SIZE', '1M'],
    ['PROXY_HLS_CACHE_MAX', '256MiB'],
    ['PROXY_HLS_CACHE_MAX', '1000'],
    ['PROXY_HLS_CACHE_MAX', '-1'],
  ];
  for (const [variable, value] of invalid) {
    test(`${variable}=${value} is rejected`, () => {
      const err = configError(() => load({ [variable]: value }), variable);
      assert.ok(err.message.startsWith(`${variable}=`), err.message);
    });
  }

  test('secrets are masked in the effective values', () => {
    const { effective, config } = load({ PROXY_REDIS_PASSWORD: 's3cret', PROXY_REGISTER_TOKEN: 'tok' });
    assert.equal(config.redis.password, 's3cret');
    assert.equal(config.registerToken, 'tok');
    assert.equal(effective.PROXY_REDIS_PASSWORD, '******');
    assert.equal(effective.PROXY_REGISTER_TOKEN, '******');
    assert.ok(!JSON.stringify(effective).includes('s3cret'));
  });

  test('PROXY_REDIS_URL: user, password, database, TLS; the password masked in the effective values', () => {
    const { config, effective } = load({ PROXY_REDIS_URL: 'rediss://proxy:p%40ss@redis.example.com:6380/4', PROXY_REDIS_PASSWORD: 'other' });
    assert.equal(config.redis.host, 'redis.example.com');
    assert.equal(config.redis.port, 6380);
    assert.equal(config.redis.username, 'proxy');
    assert.equal(config.redis.password, 'p@ss', 'the URL password wins and is percent-decoded');
    assert.equal(config.redis.db, 4);
    assert.equal(config.redis.tls, true);
    assert.equal(config.redis.source, 'PROXY_REDIS_URL');
    assert.equal(effective.PROXY_REDIS_URL, 'rediss://proxy:******@redis.example.com:6380/4');
    assert.ok(!JSON.stringify(effective).includes('p%40ss'));
    // Without a password or database in the URL, PROXY_REDIS_PASSWORD and PROXY_REDIS_DB apply.
    const plain = load({ PROXY_REDIS_URL: 'redis://[::1]', PROXY_REDIS_PASSWORD: 'pw', PROXY_REDIS_DB: '2' }).config.redis;
    assert.deepEqual([plain.host, plain.port, plain.password, plain.db, plain.tls, plain.username], ['::1', 6379, 'pw', 2, false, undefined]);
  });

  test('an invalid PROXY_REDIS_URL is reported without its password', () => {
    const err = configError(() => load({ PROXY_REDIS_URL: 'redis://u:hunter2@host:1/db' }), 'PROXY_REDIS_URL');
    assert.ok(!err.message.includes('hunter2'), err.message);
    assert.match(err.message, /redis:\/\/u:\*{6}@host:1\/db/);
  });

  test('Sentinel and Cluster node lists; at most one of URL, Sentinel, Cluster; Cluster only has database 0', () => {
    const s = load({ PROXY_REDIS_SENTINELS: '10.0.0.1:26379, [::1]:26380', PROXY_REDIS_SENTINEL_NAME: 'cache-master' }).config.redis;
    assert.deepEqual(s.sentinels, [
      { host: '10.0.0.1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    assert.equal(s.sentinelName, 'cache-master');
    assert.equal(s.source, 'PROXY_REDIS_SENTINELS');
    const c = load({ PROXY_REDIS_CLUSTER_NODES: 'r1:7000,r2:7001' }).config.redis;
    assert.deepEqual(c.clusterNodes, [
      { host: 'r1', port: 7000 },
      { host: 'r2', port: 7001 },
    ]);
    assert.equal(c.source, 'PROXY_REDIS_CLUSTER_NODES');
    configError(() => load({ PROXY_REDIS_URL: 'redis://h', PROXY_REDIS_SENTINELS: 'h:26379' }), 'PROXY_REDIS_SENTINELS');
    configError(() => load({ PROXY_REDIS_SENTINELS: 'h:26379', PROXY_REDIS_CLUSTER_NODES: 'h:7000' }), 'PROXY_REDIS_CLUSTER_NODES');
    configError(() => load({ PROXY_REDIS_CLUSTER_NODES: 'h:7000', PROXY_REDIS_DB: '1' }), 'PROXY_REDIS_DB');
  });

  test('PROXY_REDIS_FALLBACK, _FALLBACK_TTL and _TIMEOUT', () => {
    const r = load({ PROXY_REDIS_FALLBACK: 'cache', PROXY_REDIS_FALLBACK_TTL: '15s', PROXY_REDIS_TIMEOUT: '250ms' }).config.redis;
    assert.deepEqual([r.fallback, r.fallbackTtlMs, r.timeoutMs], ['cache', 15_000, 250]);
  });

  test('every default is reported in the effective values', () => {
    const { effective } = load({});
    for (const k of Object.keys(DEFAULTS)) assert.ok(k in effective, k);
  });

  test('default backend (BEHAVIOUR.md §3.8)', () => {
    const { config } = load({ PROXY_DEFAULT_BACKEND_ENABLED: 'on', PROXY_DEFAULT_BACKEND_IP: '10.0.0.5' });
    assert.deepEqual(config.defaultBackend, { ip: '10.0.0.5', rtmp: '1935', http: undefined, api: '1985', rtc: '8000', srt: '10080' });
  });
});

describe('PROXY_WORKERS (BEHAVIOUR.md §8.5)', () => {
  test('1 by default; a count; auto = one per CPU', () => {
    assert.equal(load({}).config.workers, 1);
    assert.equal(load({ PROXY_WORKERS: '4' }).config.workers, 4);
    assert.equal(parseWorkers('auto', 2), 2);
    assert.equal(parseWorkers('AUTO', 1000), 256);
    assert.ok(load({ PROXY_WORKERS: 'auto' }).config.workers >= 1);
  });

  test('anything else stops startup naming the variable', () => {
    for (const bad of ['0', '-1', '257', '1.5', 'two', ' 2']) configError(() => load({ PROXY_WORKERS: bad }), 'PROXY_WORKERS');
  });
});
