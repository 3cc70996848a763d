import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { heartbeatBody, parseHeartbeatArgs, UsageError } from '../../../src/heartbeat/heartbeat.js';
import { parseRegistration } from '../../../src/balancer/origin.js';

const base = ['--url', 'http://127.0.0.1:12025/api/v1/srs/register', '--ip', '127.0.0.1', '--rtmp', '1935'];

describe('heartbeat sidecar --weight', () => {
  test('sent in the body and accepted by the register parser', () => {
    const o = parseHeartbeatArgs([...base, '--weight', '2.5']);
    const body = heartbeatBody(o, 42);
    assert.equal(body.weight, 2.5);
    assert.equal(parseRegistration(body, 0).weight, 2.5);
  });
  test('absent by default (the proxy assumes 1)', () => {
    assert.equal('weight' in heartbeatBody(parseHeartbeatArgs(base), 42), false);
  });
  test('out of range or not a number: a usage error naming the flag', () => {
    for (const bad of ['0', '-1', '1000', 'heavy', '1e2', '']) {
      assert.throws(
        () => parseHeartbeatArgs([...base, '--weight', bad]),
        (e: Error) => e instanceof UsageError && /--weight/.test(e.message),
        bad,
      );
    }
  });
});
