import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config.js';

const load = (env: Record<string, string>) => loadConfig({ env, cwd: '/nonexistent', readDotenv: () => undefined, isDirectory: () => false });

describe('PROXY_RTSP_SERVER', () => {
  test('defaults to 18554 on all interfaces', () => {
    assert.deepEqual(load({}).config.rtsp, { host: undefined, port: 18554 });
  });
  test('takes a listen address', () => {
    assert.deepEqual(load({ PROXY_RTSP_SERVER: '127.0.0.1:8554' }).config.rtsp, { host: '127.0.0.1', port: 8554 });
  });
  test('set but empty, or off, turns the listener off', () => {
    for (const v of ['', 'off', 'OFF']) {
      const { config, effective } = load({ PROXY_RTSP_SERVER: v });
      assert.equal(config.rtsp, undefined, v);
      assert.equal(effective.PROXY_RTSP_SERVER, 'off');
    }
  });
  test('a bad value stops startup naming the variable', () => {
    for (const v of ['99999', 'nonsense:port', 'on']) {
      assert.throws(
        () => load({ PROXY_RTSP_SERVER: v }),
        (e: unknown) => e instanceof ConfigError && e.variable === 'PROXY_RTSP_SERVER',
        v,
      );
    }
  });
});
