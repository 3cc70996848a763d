// Every error class of the proxy names itself, so logs and `instanceof`-free checks tell them apart, and a
// wrapping error keeps the error it wraps as its cause.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { HttpError } from '../../src/net/http-util.js';
import { BalancerUnavailableError, NoOriginError } from '../../src/balancer/balancer.js';
import { EndpointError } from '../../src/balancer/endpoint.js';
import { RegisterError } from '../../src/balancer/origin.js';
import { RedisRecordError } from '../../src/balancer/redis-records.js';
import { RedisStartupError } from '../../src/balancer/redis.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DotenvError } from '../../src/config/dotenv.js';
import { UsageError, parseHeartbeatArgs } from '../../src/heartbeat/heartbeat.js';
import { ListenError } from '../../src/net/service.js';
import { ClientError } from '../../src/rtmp/client.js';
import { RtmpError } from '../../src/rtmp/errors.js';
import { OriginError } from '../../src/rtmp/origin.js';
import { SrtError } from '../../src/srt/errors.js';
import { StreamKeyError } from '../../src/stream-key.js';
import { SignallingSdpError } from '../../src/webrtc/answer.js';
import { DtlsError } from '../../src/webrtc/dtls.js';
import { SdpError } from '../../src/webrtc/sdp.js';
import { StunError } from '../../src/webrtc/stun.js';

describe('error classes', () => {
  const cause = new Error('underlying');
  const instances: [string, Error][] = [
    ['HttpError', new HttpError(400, 'x')],
    ['NoOriginError', new NoOriginError('live/s')],
    ['BalancerUnavailableError', new BalancerUnavailableError('pick', 'down')],
    ['EndpointError', new EndpointError('x')],
    ['RegisterError', new RegisterError('x')],
    ['RedisRecordError', new RedisRecordError('x')],
    ['RedisStartupError', new RedisStartupError('PROXY_REDIS_HOST', 'h', 'x')],
    ['ConfigError', new ConfigError('PROXY_X', 'v', 'x')],
    ['DotenvError', new DotenvError('x')],
    ['UsageError', new UsageError('x')],
    ['ListenError', new ListenError('PROXY_RTMP_SERVER', '1935', cause)],
    ['ClientError', new ClientError('x')],
    ['RtmpError', new RtmpError('AMF_TRUNCATED', 'x')],
    ['OriginError', new OriginError('x', 'origin failed')],
    ['SrtError', new SrtError('invalid-argument', 'x')],
    ['StreamKeyError', new StreamKeyError('x')],
    ['SignallingSdpError', new SignallingSdpError('x')],
    ['DtlsError', new DtlsError('truncated', 'x')],
    ['SdpError', new SdpError('bad-candidate', 'x')],
    ['StunError', new StunError('truncated', 'x')],
  ];
  for (const [name, err] of instances) {
    test(`${name} is named ${name}`, () => {
      assert.equal(err.name, name);
      assert.match(String(err), new RegExp(`^${name}: `));
    });
  }

  test('wrapping keeps the cause: a listen failure, a bad variable, a bad flag', () => {
    assert.equal(new ListenError('PROXY_RTMP_SERVER', '1935', cause).cause, cause);
    const configErr = (() => {
      try {
        loadConfig({ env: { PROXY_GRACE_QUIT_TIMEOUT: '20' }, cwd: '/nonexistent', readDotenv: () => undefined, isDirectory: () => true });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    assert.ok(configErr instanceof ConfigError);
    assert.ok(configErr.cause instanceof Error, 'the parser error is the cause');
    assert.throws(
      () => parseHeartbeatArgs(['--url', 'http://127.0.0.1:1/', '--ip', '127.0.0.1', '--rtmp', '1935', '--interval', 'soon']),
      (err: unknown) => err instanceof UsageError && err.cause instanceof Error,
    );
  });

  test('every error class declared in src/ sets its own name (new ones included)', () => {
    const srcDir = fileURLToPath(new URL('../../../src', import.meta.url));
    const walk = (d: string): string[] =>
      readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : n.endsWith('.ts') ? [join(d, n)] : []));
    const unnamed: string[] = [];
    let classes = 0;
    for (const file of walk(srcDir)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/class (\w+) extends \w*Error\b[^{]*\{([\s\S]*?)\n\}/g)) {
        classes++;
        if (!new RegExp(`name(?:: string)? = '${m[1]}'`).test(m[2]!)) unnamed.push(`${file}: ${m[1]}`);
      }
    }
    assert.ok(classes >= instances.length, `found only ${classes} error classes: is the source folder right?`);
    assert.deepEqual(unnamed, []);
  });
});
