// HTTPS listeners (PROXY_HTTPS_API, PROXY_HTTPS_SERVER) with certificates openssl makes for the test:
// served over TLS to curl and Node, a certificate swapped on SIGHUP or by a file change without
// dropping open connections, and every misconfiguration stopping startup naming the variable.
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../fixtures/media.js';
import { MAIN_JS, tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { run, stopAllPeers } from '../fixtures/process.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';

after(stopAllPeers);

const tmp = tempDir('tls');
after(() => tmp.remove());

/** A self-signed certificate for 127.0.0.1 with `cn`; returns the cert and key paths. */
async function makeCert(name: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = join(tmp.dir, `${name}.crt`);
  const key = join(tmp.dir, `${name}.key`);
  const r = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { cert, key };
}

/** Opens a TLS connection and resolves with it and the certificate CN the server presented. */
function tlsOpen(port: number): Promise<{ socket: TLSSocket; cn: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () =>
      resolve({ socket, cn: String(socket.getPeerCertificate().subject?.CN) }),
    );
    socket.once('error', reject);
  });
}

/** One HTTP/1.1 request on an open keep-alive TLS connection; resolves with the status line. */
function requestOn(socket: TLSSocket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const onData = (d: Buffer) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(data);
      if (end !== -1 && len && data.length >= end + 4 + Number(len[1])) {
        socket.off('data', onData);
        resolve(data.split('\r\n')[0]!);
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

describe('HTTPS listeners', () => {
  let proxy: RunningProxy;
  let httpsApi: number;
  let httpsServer: number;
  let live: { cert: string; key: string };
  let first: { cert: string; key: string };
  before(async () => {
    first = await makeCert('first', 'first-cert');
    live = { cert: join(tmp.dir, 'live.crt'), key: join(tmp.dir, 'live.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    httpsApi = await freePort();
    httpsServer = await freePort();
    proxy = await startProxy({
      env: { PROXY_HTTPS_API: `127.0.0.1:${httpsApi}`, PROXY_HTTPS_SERVER: `127.0.0.1:${httpsServer}`, PROXY_TLS_CERT: live.cert, PROXY_TLS_KEY: live.key },
    });
  });
  after(() => proxy.stop());

  test('curl verifies the certificate and gets the versions on both HTTPS listeners; plain HTTP listeners still serve', async () => {
    for (const port of [httpsApi, httpsServer]) {
      const r = await run('curl', ['-sS', '--cacert', first.cert, `https://127.0.0.1:${port}/api/v1/versions`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"version"/);
    }
    // The HTTPS stream listener routes like the plain one (no origin → 503 JSON, CORS on OPTIONS).
    const noOrigin = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--cacert',
      first.cert,
      `https://127.0.0.1:${httpsServer}/live/none.flv`,
    ]);
    assert.equal(noOrigin.stdout, '503');
    const preflight = await run('curl', ['-sS', '-i', '-X', 'OPTIONS', '--cacert', first.cert, `https://127.0.0.1:${httpsApi}/rtc/v1/whip/?app=live&stream=s`]);
    assert.match(preflight.stdout, /access-control-allow-origin: \*/i);
    assert.equal((await fetch(`${proxy.httpApi}/api/v1/versions`)).status, 200);
    // Plain HTTP on the HTTPS port is not served.
    const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${httpsApi}/api/v1/versions`]);
    assert.notEqual(plain.stdout, '200');
  });

  test('SIGHUP swaps the certificate; an open connection keeps working on the old one', async () => {
    const before = await tlsOpen(httpsApi);
    assert.equal(before.cn, 'first-cert');
    assert.match(await requestOn(before.socket, '/api/v1/versions'), /200/);
    const second = await makeCert('second', 'second-cert');
    copyFileSync(second.cert, live.cert);
    copyFileSync(second.key, live.key);
    proxy.peer.child.kill('SIGHUP');
    await eventually(
      async () => {
        const c = await tlsOpen(httpsApi);
        c.socket.destroy();
        assert.equal(c.cn, 'second-cert');
      },
      10_000,
      100,
    );
    // The other HTTPS listener follows too, and the old connection was not dropped.
    const server = await tlsOpen(httpsServer);
    server.socket.destroy();
    assert.equal(server.cn, 'second-cert');
    assert.match(await requestOn(before.socket, '/api/v1/versions'), /200/);
    before.socket.destroy();
  });

  test('a changed file is picked up without a signal; a broken file is refused and the current certificate kept', async () => {
    const third = await makeCert('third', 'third-cert');
    copyFileSync(third.cert, live.cert);
    copyFileSync(third.key, live.key);
    await eventually(
      async () => {
        const c = await tlsOpen(httpsServer);
        c.socket.destroy();
        assert.equal(c.cn, 'third-cert');
      },
      15_000,
      250,
    );
    writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
    proxy.peer.child.kill('SIGHUP');
    await proxy.peer.waitForOutput(/TLS certificate reload failed/, 10_000);
    const c = await tlsOpen(httpsServer);
    c.socket.destroy();
    assert.equal(c.cn, 'third-cert');
    assert.equal(proxy.peer.hasExited, false);
  });
});

describe('TLS misconfiguration stops startup naming the variable', () => {
  let good: { cert: string; key: string };
  let other: { cert: string; key: string };
  before(async () => {
    good = await makeCert('good', 'good');
    other = await makeCert('other', 'other');
  });
  const cases: [string, () => Record<string, string>, RegExp][] = [
    ['certificate without key', () => ({ PROXY_TLS_CERT: good.cert }), /PROXY_TLS_KEY.*together with PROXY_TLS_CERT/],
    ['key without certificate', () => ({ PROXY_TLS_KEY: good.key }), /PROXY_TLS_CERT.*together with PROXY_TLS_KEY/],
    ['HTTPS listener without either', () => ({ PROXY_HTTPS_API: '127.0.0.1:0' }), /PROXY_TLS_CERT.*required by PROXY_HTTPS_API/],
    ['missing certificate file', () => ({ PROXY_TLS_CERT: join(tmp.dir, 'nope.crt'), PROXY_TLS_KEY: good.key }), /PROXY_TLS_CERT.*cannot read/],
    ['a certificate that is not PEM', () => ({ PROXY_TLS_CERT: writeJunk('junk.crt'), PROXY_TLS_KEY: good.key }), /PROXY_TLS_CERT.*not a PEM certificate/],
    ['a key that is not PEM', () => ({ PROXY_TLS_CERT: good.cert, PROXY_TLS_KEY: writeJunk('junk.key') }), /PROXY_TLS_KEY.*not a PEM private key/],
    ['a key of another certificate', () => ({ PROXY_TLS_CERT: good.cert, PROXY_TLS_KEY: other.key }), /PROXY_TLS_KEY.*does not belong/],
  ];
  for (const [name, env, message] of cases) {
    test(name, async () => {
      const r = await run(process.execPath, [MAIN_JS], 20_000, {
        env: {
          PATH: process.env.PATH ?? '',
          PROXY_HTTPS_SERVER: '127.0.0.1:0',
          PROXY_RTMP_SERVER: '127.0.0.1:0',
          PROXY_HTTP_SERVER: '127.0.0.1:0',
          PROXY_HTTP_API: '127.0.0.1:0',
          PROXY_WEBRTC_SERVER: '127.0.0.1:0',
          PROXY_SRT_SERVER: '127.0.0.1:0',
          PROXY_RTSP_SERVER: '127.0.0.1:0',
          PROXY_SYSTEM_API: '127.0.0.1:0',
          PROXY_LOG_FORMAT: 'json',
          ...env(),
        },
      });
      assert.equal(r.code, 255, r.stdout + r.stderr);
      assert.match(r.stderr, message);
    });
  }
});

function writeJunk(name: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, 'this is not PEM\n');
  return path;
}
