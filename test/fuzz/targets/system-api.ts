// System API inputs: register bodies mutated from a valid SRS heartbeat (field types, endpoint strings,
// sizes, nesting, JSON syntax bytes), and requests to the other admin routes with odd paths and queries.
import { mutateBytes, mutateText, splitWrites } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzInput, FuzzTarget } from '../target.js';
import { deliverTcp } from '../target.js';

/** Server ids of fuzz-registered origins start with this (so a run can remove them afterwards). */
export const FUZZ_SERVER_PREFIX = 'fzorigin';

function heartbeat(rng: Rng): Record<string, unknown> {
  return {
    device_id: 'origin1',
    ip: '127.0.0.1',
    server: `${FUZZ_SERVER_PREFIX}-${rng.int(500)}`,
    service: rng.word(8),
    pid: String(rng.range(1, 99999)),
    rtmp: [String(rng.range(1, 65535))],
    http: [String(rng.range(1, 65535))],
    api: ['1985'],
    srt: ['udp://0.0.0.0:10080'],
    rtc: ['udp://0.0.0.0:8000'],
  };
}

const ODD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  Number.MAX_VALUE,
  '',
  ' ',
  'x'.repeat(300),
  'y'.repeat(70_000),
  [],
  [''],
  ['1935', 'tcp://:1935', 'udp://[::1]:1'],
  Array.from({ length: 1000 }, (_, i) => String(i + 1)),
  { a: 1 },
  '0.0.0.0',
  '255.255.255.255',
  '169.254.169.254',
  '224.0.0.1',
  '::',
  '[::1]',
  'localhost',
  '10.0.0.1:99999',
  'udp://host:0',
  'tcp://:-1',
  '\u0000',
  '\ud800',
  '__proto__',
];

function registerBody(rng: Rng): string {
  const b: Record<string, unknown> = heartbeat(rng);
  for (let i = 0, n = rng.range(0, 3); i < n; i++) {
    const key = rng.chance(0.85) ? rng.pick(Object.keys(b)) : rng.pick(['__proto__', 'constructor', 'extra', mutateText(rng, 'k')]);
    switch (rng.int(4)) {
      case 0:
        delete b[key];
        break;
      case 1:
        b[key] = rng.pick(ODD_VALUES);
        break;
      case 2:
        b[key] =
          typeof b[key] === 'string' ? mutateText(rng, b[key]) : Array.isArray(b[key]) ? (b[key] as unknown[]).map((v) => mutateText(rng, String(v))) : b[key];
        break;
      default: {
        // Deep nesting, written as text (JSON.stringify itself would overflow the stack).
        const depth = rng.pick([10, 1000, 100_000]);
        return JSON.stringify(b).replace(/\}$/, `,${JSON.stringify(key)}:${'['.repeat(depth)}1${']'.repeat(depth)}}`);
      }
    }
  }
  return JSON.stringify(b);
}

function httpRequest(method: string, path: string, body: string, extra: string[] = []): string {
  return [
    `${method} ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...extra,
    '',
    body,
  ].join('\r\n');
}

export function systemApiTarget(port: number): FuzzTarget {
  return {
    name: 'api',
    transport: 'tcp',
    port,
    concurrency: 32,
    generate(rng: Rng): FuzzInput {
      let text: string;
      let label: string;
      const kind = rng.int(10);
      if (kind < 6) {
        let body = registerBody(rng);
        if (rng.chance(0.3)) body = mutateBytes(rng, Buffer.from(body), { maxLength: 200_000 }).toString('latin1');
        if (rng.chance(0.05)) body = 'z'.repeat(rng.pick([65_536, 65_537, 300_000]));
        text = httpRequest(
          rng.chance(0.95) ? 'POST' : rng.pick(['GET', 'PUT', 'DELETE']),
          rng.chance(0.9) ? '/api/v1/srs/register' : mutateText(rng, '/api/v1/srs/register?token=x'),
          body,
        );
        label = 'register body';
      } else if (kind < 9) {
        const method = rng.pick(['GET', 'DELETE', 'GET', 'HEAD']);
        const p = rng.pick([
          '/api/v1/origins',
          `/api/v1/origins/${FUZZ_SERVER_PREFIX}-${rng.int(500)}`,
          '/api/v1/streams?limit=' + rng.pick(['1', '0', '-1', '1e9', 'x', '99999999999']),
          '/api/v1/versions',
          '/api/v1/origins/',
          '/api/v1/origins/%2e%2e',
        ]);
        // Never delete the run's own origins (their ids do not start with the prefix).
        const mutated = mutateText(rng, p);
        text = httpRequest(method, method === 'DELETE' && !mutated.includes(FUZZ_SERVER_PREFIX) ? p : mutated, '');
        label = `${method} admin route`;
      } else {
        text = httpRequest('POST', '/api/v1/srs/register', registerBody(rng), [`Transfer-Encoding: chunked`]);
        label = 'register with conflicting framing';
      }
      return { label, parts: splitWrites(rng, Buffer.from(text, 'latin1')) };
    },
    async deliver(input) {
      await deliverTcp(port, input.parts, { lingerMs: 30 });
    },
  };
}
