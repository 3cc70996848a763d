// Misconfiguration that still starts the proxy gets a warning each: unknown PROXY_* variables (with the
// likely intended name), a force-quit deadline that cuts the drain short, and listeners on port 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULTS, loadConfig } from '../../src/config.js';
import { closestName, editDistance, unknownVariableWarnings } from '../../src/config/warnings.js';

function warningsFor(env: Record<string, string | undefined>, dotenv?: string): string[] {
  return loadConfig({ env, cwd: '/srv/proxy', readDotenv: () => dotenv, isDirectory: () => true }).warnings;
}

describe('edit distance', () => {
  test('insertions, deletions, substitutions and swaps cost one each', () => {
    assert.equal(editDistance('PROXY_RTMP_SERVER', 'PROXY_RTMP_SERVER'), 0);
    assert.equal(editDistance('PROXY_RTMP_SEVER', 'PROXY_RTMP_SERVER'), 1);
    assert.equal(editDistance('PROXY_RTMP_SERVERR', 'PROXY_RTMP_SERVER'), 1);
    assert.equal(editDistance('PROXY_RTMP_SERVEX', 'PROXY_RTMP_SERVER'), 1);
    assert.equal(editDistance('PROXY_RTMP_SERVRE', 'PROXY_RTMP_SERVER'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  test('the closest known name, only when it is a plausible typo', () => {
    const known = Object.keys(DEFAULTS);
    assert.equal(closestName('PROXY_RTMP_SEVER', known), 'PROXY_RTMP_SERVER');
    assert.equal(closestName('PROXY_GRACE_QUIT_TIMOUT', known), 'PROXY_GRACE_QUIT_TIMEOUT');
    assert.equal(closestName('proxy_log_level', known), 'PROXY_LOG_LEVEL');
    assert.equal(closestName('PROXY_REDIS_PASWORD', known), 'PROXY_REDIS_PASSWORD');
    assert.equal(closestName('PROXY_FOO', known), undefined);
    assert.equal(closestName('PROXY_SOMETHING_ELSE_ENTIRELY', known), undefined);
  });
});

describe('unknown PROXY_* variables', () => {
  test('a typo in the environment warns with the intended name; the default still applies', () => {
    const { config, warnings } = loadConfig({
      env: { PROXY_RTMP_SEVER: '1936' },
      cwd: '/srv/proxy',
      readDotenv: () => undefined,
      isDirectory: () => true,
    });
    assert.equal(config.listeners.rtmp.port, 11935);
    assert.deepEqual(warnings, ['unknown variable PROXY_RTMP_SEVER is ignored; did you mean PROXY_RTMP_SERVER?']);
  });

  test('a typo in .env warns the same way', () => {
    const warnings = warningsFor({}, 'PROXY_IDLE_TIMEOT=5s\n');
    assert.deepEqual(warnings, ['unknown variable PROXY_IDLE_TIMEOT is ignored; did you mean PROXY_IDLE_TIMEOUT?']);
  });

  test('a name far from every known one warns without a guess', () => {
    assert.deepEqual(warningsFor({ PROXY_FOO: '1' }), ['unknown variable PROXY_FOO is ignored']);
  });

  test('every variable the proxy reads is known: all of them set, no warning', () => {
    const env = Object.fromEntries(Object.keys(DEFAULTS).map((k) => [k, '']));
    assert.deepEqual(warningsFor({ ...env, HOME: '/root', PATH: '/bin', OTHER_PROXY_X: 'y' }), []);
  });

  test('a variable read by the loader but missing from the defaults table is still known', () => {
    assert.deepEqual(unknownVariableWarnings({ PROXY_NEW_THING: '1' }, new Set(['PROXY_NEW_THING'])), []);
  });
});

describe('quit timeouts', () => {
  test('a force-quit timeout shorter than the grace timeout warns, naming both', () => {
    const warnings = warningsFor({ PROXY_GRACE_QUIT_TIMEOUT: '20s', PROXY_FORCE_QUIT_TIMEOUT: '5s' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /PROXY_FORCE_QUIT_TIMEOUT \(5000 ms\) is shorter than PROXY_GRACE_QUIT_TIMEOUT \(20000 ms\)/);
  });

  test('equal or longer does not warn (the defaults: 20 s and 30 s)', () => {
    assert.deepEqual(warningsFor({}), []);
    assert.deepEqual(warningsFor({ PROXY_GRACE_QUIT_TIMEOUT: '10s', PROXY_FORCE_QUIT_TIMEOUT: '10s' }), []);
  });
});

describe('port 0', () => {
  test('each listener on port 0 warns, naming its variable', () => {
    const warnings = warningsFor({ PROXY_RTMP_SERVER: '0', PROXY_SRT_SERVER: '127.0.0.1:0' });
    assert.deepEqual(
      warnings.map((w) => w.split(' ')[0]),
      ['PROXY_RTMP_SERVER', 'PROXY_SRT_SERVER'],
    );
    assert.match(warnings[0]!, /port 0: the OS picks a random free port/);
  });

  test('a real port does not warn', () => {
    assert.deepEqual(warningsFor({ PROXY_RTMP_SERVER: '1935', PROXY_SRT_SERVER: '127.0.0.1:10080' }), []);
  });
});
