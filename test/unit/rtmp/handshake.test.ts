import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ClientHandshake, HANDSHAKE_PACKET_SIZE, ServerHandshake, digestOffset, findClientDigest } from '../../../src/rtmp/handshake.js';
import { counterBytes, hex, onlyRtmpErrors, throwsRtmp } from './helpers.js';

// The keys as published for the Flash/FMS handshake, rebuilt here independently of the implementation.
const TAIL = hex('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae');
const FP_KEY_30 = Buffer.from('Genuine Adobe Flash Player 001', 'latin1');
const FMS_KEY_36 = Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1');
const FMS_KEY_68 = Buffer.concat([FMS_KEY_36, TAIL]);

const hmac = (key: Buffer, ...data: Buffer[]): Buffer => {
  const h = createHmac('sha256', key);
  data.forEach((d) => h.update(d));
  return h.digest();
};

/**
 * Where the digest goes, from the layout: the 764-byte digest block starts at 8 (schema 1) or 8 + 764
 * (schema 0, after the key block); its first four bytes summed mod 728 give the digest's offset after them.
 */
function digestPos(packet: Buffer, schema: 0 | 1): number {
  const block = schema === 1 ? 8 : 772;
  return block + 4 + ((packet[block] + packet[block + 1] + packet[block + 2] + packet[block + 3]) % 728);
}

/** A Flash-Player-like C1: time, non-zero version, random, and a valid digest for `schema`. */
function flashC1(schema: 0 | 1, seed: number): { c1: Buffer; digest: Buffer } {
  const c1 = counterBytes(seed)(HANDSHAKE_PACKET_SIZE);
  c1.writeUInt32BE(123456, 0); // uptime
  c1.writeUInt32BE(0x80000702, 4); // Flash Player version 128.0.7.2
  const pos = digestPos(c1, schema);
  const digest = hmac(FP_KEY_30, c1.subarray(0, pos), c1.subarray(pos + 32));
  digest.copy(c1, pos);
  return { c1, digest };
}

describe('server, simple handshake (RTMP specification 1.0 §5.2)', () => {
  test('S0 = 3, S1 = time + zero + random, S2 = C1; C2 ends it and the rest is kept', () => {
    const c1 = counterBytes(7)(HANDSHAKE_PACKET_SIZE);
    c1.writeUInt32BE(0, 4); // zero version: simple
    const server = new ServerHandshake({ randomBytes: counterBytes(100), time: 5 });
    const first = server.feed(Buffer.concat([hex('03'), c1]));
    assert.equal(first.done, false);
    assert.equal(first.send.length, 1 + 2 * HANDSHAKE_PACKET_SIZE);
    assert.equal(first.send[0], 3);
    const s1 = first.send.subarray(1, 1537);
    assert.deepStrictEqual(s1.subarray(0, 8), hex('00000005 00000000'));
    assert.deepStrictEqual(s1.subarray(8), counterBytes(100)(1528));
    assert.deepStrictEqual(first.send.subarray(1537), c1);
    assert.equal(server.mode, 'simple');
    assert.equal(server.clientVersion, 3);

    const c2AndMore = Buffer.concat([Buffer.alloc(HANDSHAKE_PACKET_SIZE, 9), hex('0300')]);
    const last = server.feed(c2AndMore);
    assert.deepStrictEqual(last, { send: Buffer.alloc(0), done: true, rest: hex('0300') });
    assert.equal(server.done, true);
    assert.deepStrictEqual(server.feed(hex('aa')), { send: Buffer.alloc(0), done: true, rest: hex('aa') });
  });

  test('byte-at-a-time feeding gives the same output', () => {
    const c0c1 = Buffer.concat([hex('03'), counterBytes(1)(HANDSHAKE_PACKET_SIZE)]);
    const whole = new ServerHandshake({ randomBytes: counterBytes(2) }).feed(c0c1).send;
    const server = new ServerHandshake({ randomBytes: counterBytes(2) });
    const sent: Buffer[] = [];
    for (let i = 0; i < c0c1.length; i++) sent.push(server.feed(c0c1.subarray(i, i + 1)).send);
    assert.deepStrictEqual(Buffer.concat(sent), whole);
    let done = false;
    for (let i = 0; i < HANDSHAKE_PACKET_SIZE; i++) done = server.feed(hex('00')).done;
    assert.equal(done, true);
  });

  test('C0 of 32 or more is not RTMP (e.g. an HTTP request)', () => {
    throwsRtmp(() => new ServerHandshake().feed(Buffer.from('GET / HTTP/1.1\r\n')), 'HANDSHAKE_VERSION');
    throwsRtmp(() => new ServerHandshake().feed(hex('20')), 'HANDSHAKE_VERSION');
    // Other versions are answered with 3, as the spec says.
    const out = new ServerHandshake().feed(Buffer.concat([hex('06'), Buffer.alloc(HANDSHAKE_PACKET_SIZE)]));
    assert.equal(out.send[0], 3);
  });
});

describe('server, digest ("complex") handshake', () => {
  for (const schema of [0, 1] as const) {
    test(`a Flash Player C1 with a schema ${schema} digest gets an S1 and S2 whose digests verify`, () => {
      const { c1, digest: clientDigest } = flashC1(schema, 40 + schema);
      const server = new ServerHandshake({ randomBytes: counterBytes(3) });
      const { send } = server.feed(Buffer.concat([hex('03'), c1]));
      assert.equal(server.mode, 'digest');
      assert.equal(server.schema, schema);
      assert.equal(send[0], 3);
      const s1 = send.subarray(1, 1537);
      const s2 = send.subarray(1537);
      // S1: non-zero version and an FMS-key digest at the same schema's position (how Flash checks it).
      assert.notEqual(s1.readUInt32BE(4), 0);
      const pos = digestPos(s1, schema);
      assert.deepStrictEqual(s1.subarray(pos, pos + 32), hmac(FMS_KEY_36, s1.subarray(0, pos), s1.subarray(pos + 32)));
      // S2: last 32 bytes = HMAC(HMAC(full FMS key, C1 digest), first 1504 bytes).
      const key = hmac(FMS_KEY_68, clientDigest);
      assert.deepStrictEqual(s2.subarray(1504), hmac(key, s2.subarray(0, 1504)));
      // The exported helpers agree.
      assert.deepStrictEqual(findClientDigest(c1), { schema, digest: clientDigest });
      assert.equal(digestOffset(c1, schema), digestPos(c1, schema));
    });
  }

  test('a corrupted digest falls back to the simple handshake (S2 echoes C1)', () => {
    const { c1 } = flashC1(1, 5);
    const pos = digestPos(c1, 1);
    c1[pos] ^= 1;
    const server = new ServerHandshake();
    const { send } = server.feed(Buffer.concat([hex('03'), c1]));
    assert.equal(server.mode, 'simple');
    assert.deepStrictEqual(send.subarray(1537), c1);
    assert.equal(send.readUInt32BE(5), 0);
  });

  test('digest answers can be switched off', () => {
    const { c1 } = flashC1(0, 9);
    const server = new ServerHandshake({ digest: false });
    const { send } = server.feed(Buffer.concat([hex('03'), c1]));
    assert.equal(server.mode, 'simple');
    assert.deepStrictEqual(send.subarray(1537), c1);
  });
});

describe('client (towards origins)', () => {
  test('C0+C1, then C2 = S1 once S0+S1+S2 arrived; S0 must be 3', () => {
    const client = new ClientHandshake({ randomBytes: counterBytes(50), time: 1 });
    const c0c1 = client.start();
    assert.equal(c0c1.length, 1537);
    assert.deepStrictEqual(c0c1.subarray(0, 9), hex('03 00000001 00000000'));
    assert.deepStrictEqual(c0c1.subarray(9), counterBytes(50)(1528));

    const s1 = counterBytes(200)(HANDSHAKE_PACKET_SIZE);
    const reply = Buffer.concat([hex('03'), s1, c0c1.subarray(1), hex('02 000000')]);
    assert.deepStrictEqual(client.feed(reply.subarray(0, 1000)), { send: Buffer.alloc(0), done: false, rest: Buffer.alloc(0) });
    const out = client.feed(reply.subarray(1000));
    assert.deepStrictEqual(out, { send: s1, done: true, rest: hex('02 000000') });
    assert.equal(client.s2EchoesC1, true);
    assert.equal(client.done, true);
  });

  test('wrong S0 and feeding before start are typed errors', () => {
    const client = new ClientHandshake();
    throwsRtmp(() => client.feed(hex('03')), 'HANDSHAKE_STATE');
    client.start();
    throwsRtmp(() => client.feed(hex('06')), 'HANDSHAKE_VERSION');
  });

  test('client and server state machines complete against each other', () => {
    const client = new ClientHandshake();
    const server = new ServerHandshake();
    const s = server.feed(client.start());
    const c = client.feed(Buffer.concat([s.send, hex('beef')]));
    assert.equal(c.done, true);
    assert.deepStrictEqual(c.rest, hex('beef'));
    assert.equal(client.s2EchoesC1, true);
    const end = server.feed(Buffer.concat([c.send, hex('cafe')]));
    assert.equal(end.done, true);
    assert.deepStrictEqual(end.rest, hex('cafe'));
  });
});

describe('handshake properties', () => {
  test('arbitrary bytes in any split: only RtmpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4000 }), fc.integer({ min: 1, max: 4000 }), (a, step) => {
        const bytes = Buffer.from(a);
        const server = new ServerHandshake({ randomBytes: counterBytes(0) });
        const client = new ClientHandshake({ randomBytes: counterBytes(0) });
        client.start();
        for (let i = 0; i < bytes.length; i += step) {
          onlyRtmpErrors(() => server.feed(bytes.subarray(i, i + step)));
          onlyRtmpErrors(() => client.feed(bytes.subarray(i, i + step)));
        }
      }),
      { numRuns: 200 },
    );
  });

  test('any valid digest C1 is recognised, in either schema', () => {
    fc.assert(
      fc.property(fc.constantFrom(0 as const, 1 as const), fc.nat(), (schema, seed) => {
        const { c1 } = flashC1(schema, seed);
        const server = new ServerHandshake();
        server.feed(Buffer.concat([hex('03'), c1]));
        assert.equal(server.mode, 'digest');
      }),
      { numRuns: 100 },
    );
  });
});
