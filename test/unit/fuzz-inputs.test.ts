// The fuzz runner's promise: an input is a pure function of (seed, listener, index), so a seed printed with
// a failure makes the same bytes again; and the mutators really change their input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mutateBytes, mutateText, splitWrites } from '../fuzz/mutate.js';
import { Rng } from '../fuzz/rng.js';
import { httpTarget } from '../fuzz/targets/http.js';
import { rtmpTarget } from '../fuzz/targets/rtmp.js';
import { srtTarget } from '../fuzz/targets/srt.js';
import { systemApiTarget } from '../fuzz/targets/system-api.js';
import { webrtcUdpTarget } from '../fuzz/targets/webrtc-udp.js';
import { whipTarget } from '../fuzz/targets/whip.js';

const targets = () => [
  rtmpTarget(1935),
  httpTarget(8080),
  whipTarget(1985),
  webrtcUdpTarget(8000, 'http://127.0.0.1:1985'),
  srtTarget(10080),
  systemApiTarget(12025),
];

void describe('fuzz inputs', () => {
  for (const target of targets()) {
    void test(`${target.name}: the same seed and index give the same bytes; other indices give others`, () => {
      const again = targets().find((t) => t.name === target.name)!;
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const a = target.generate(new Rng(Rng.derive(99, 3, i)), i);
        const b = again.generate(new Rng(Rng.derive(99, 3, i)), i);
        assert.deepEqual(b.parts, a.parts, `input ${i} differs between two generations`);
        assert.equal(b.label, a.label);
        seen.add(Buffer.concat(a.parts).toString('base64'));
      }
      assert.ok(seen.size >= 35, `only ${seen.size} distinct inputs out of 40`);
    });
  }

  void test('byte and text mutators change their input and respect the size limit', () => {
    const rng = new Rng(7);
    const input = Buffer.from('GET /live/stream.flv HTTP/1.1\r\n\r\n');
    let changed = 0;
    for (let i = 0; i < 200; i++) {
      const out = mutateBytes(rng, input, { maxLength: 100 });
      assert.ok(out.length <= 100);
      if (!out.equals(input)) changed++;
      if (mutateText(rng, 'live/stream') !== 'live/stream') changed++;
    }
    assert.ok(changed > 350, `only ${changed} of 400 mutations changed anything`);
  });

  void test('splitWrites keeps every byte in order', () => {
    const rng = new Rng(1);
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    for (let i = 0; i < 50; i++) assert.deepEqual(Buffer.concat(splitWrites(rng, data)), data);
  });
});
