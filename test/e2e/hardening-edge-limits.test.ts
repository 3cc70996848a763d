// Connection floods and memory pressure: per-IP and total connection caps on the client listeners,
// the descriptor reserve that keeps origin heartbeats flowing while a client listener is flooded,
// the soft RLIMIT_NOFILE raised at start, and the heap guard refusing new work (HTTP 503 JSON,
// RTMP connections closed) while heartbeats are still accepted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { eventually } from '../fixtures/media.js';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy, type RunningProxy } from '../fixtures/proxy.js';

after(stopAllPeers);

const heartbeat = (server: string) => ({ ip: '127.0.0.1', server, service: 's', pid: '1', rtmp: ['1935'] });

async function register(systemApi: string, server: string): Promise<number> {
  const res = await fetch(`${systemApi}/api/v1/srs/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(heartbeat(server)),
  });
  await res.arrayBuffer();
  return res.status;
}

type Outcome = 'served' | 'closed';

/**
 * Opens a connection (from `localAddress`) and sends the listener's opening bytes: an RTMP C0+C1
 * or an HTTP request. 'served' once the proxy answers (the connection stays open, returned for the
 * caller to close); 'closed' when the proxy closes it without an answer.
 */
function probe(port: number, kind: 'rtmp' | 'http', localAddress = '127.0.0.1'): Promise<{ outcome: Outcome; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      resolve({ outcome, socket });
    };
    socket.on('connect', () => {
      if (kind === 'rtmp') socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]));
      else socket.write('GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    socket.on('data', () => settle('served'));
    socket.on('close', () => settle('closed'));
    socket.on('error', () => settle('closed'));
  });
}

describe('connection caps', () => {
  test('PROXY_MAX_CONNECTIONS_PER_IP: one address is capped on RTMP and HTTP; another address is not', async () => {
    // One process (with workers each admits its share of the caps: test/e2e/workers-caps.test.ts, docs/BEHAVIOUR.md §8.5).
    const proxy = await startProxy({ env: { PROXY_MAX_CONNECTIONS_PER_IP: '5', PROXY_WORKERS: '1' } });
    const held: Socket[] = [];
    try {
      for (const [kind, port] of [
        ['rtmp', proxy.ports.rtmp],
        ['http', proxy.ports.httpServer],
      ] as const) {
        for (let i = 0; i < 5; i++) {
          const r = await probe(port, kind);
          held.push(r.socket);
          assert.equal(r.outcome, 'served', `${kind} connection ${i + 1}`);
        }
        for (let i = 0; i < 3; i++) assert.equal((await probe(port, kind)).outcome, 'closed', `${kind}: one connection over the cap`);
        const other = await probe(port, kind, '127.0.0.2');
        held.push(other.socket);
        assert.equal(other.outcome, 'served', `${kind}: another address still gets in`);
      }
      // The system API is not a client listener: an origin on the same address still registers.
      assert.equal(await register(proxy.systemApi, 'o1'), 200);
      // Closing connections frees their slots.
      for (const s of held.splice(0)) s.destroy();
      const again = await (async () => {
        for (let i = 0; i < 50; i++) {
          const r = await probe(proxy.ports.rtmp, 'rtmp');
          r.socket.destroy();
          if (r.outcome === 'served') return r.outcome;
        }
        return 'closed';
      })();
      assert.equal(again, 'served');
    } finally {
      for (const s of held) s.destroy();
      await proxy.stop();
    }
  });

  test('PROXY_MAX_CONNECTIONS: the total is capped across addresses', async () => {
    // One process (with workers each admits its share of the caps: test/e2e/workers-caps.test.ts, docs/BEHAVIOUR.md §8.5).
    const proxy = await startProxy({ env: { PROXY_MAX_CONNECTIONS: '4', PROXY_WORKERS: '1' } });
    const held: Socket[] = [];
    try {
      for (const addr of ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']) {
        const r = await probe(proxy.ports.httpServer, 'http', addr);
        held.push(r.socket);
        assert.equal(r.outcome, 'served');
      }
      assert.equal((await probe(proxy.ports.httpServer, 'http', '127.0.0.6')).outcome, 'closed');
      assert.equal((await probe(proxy.ports.httpServer, 'http', '127.0.0.7')).outcome, 'closed');
      // Each listener has its own count.
      const rtmp = await probe(proxy.ports.rtmp, 'rtmp', '127.0.0.6');
      held.push(rtmp.socket);
      assert.equal(rtmp.outcome, 'served');
    } finally {
      for (const s of held) s.destroy();
      await proxy.stop();
    }
  });
});

/** The proxy started through util-linux prlimit with the given descriptor limits. */
/** The proxy under `prlimit --nofile=<soft:hard>`, with the suite's settings (TEST_PROXY_ENV) like any other. */
function startLimitedProxy(nofile: string, env: Record<string, string>): Promise<RunningProxy> {
  return startProxy({ launcher: ['prlimit', `--nofile=${nofile}`], env: { PROXY_LOG_LEVEL: 'info', ...env } });
}

describe('file descriptors', () => {
  test('the soft limit is raised to the hard one at start', async () => {
    const p = await startLimitedProxy('256:4096', {});
    try {
      // Node itself raises the soft limit on Linux before any JavaScript runs; where it has not, prlimit does.
      await p.peer.waitForOutput(/("to":4096[^\n]*file descriptor limit raised|"soft":4096,"hard":4096[^\n]*already at its maximum)/);
      const limits = readFileSync(`/proc/${p.peer.pid}/limits`, 'utf8');
      assert.match(limits, /Max open files\s+4096\s+4096/);
    } finally {
      await p.peer.stop();
    }
  });

  test('a flood of client connections (RTMP and HTTP, from many addresses) leaves room for origin heartbeats', async () => {
    const p = await startLimitedProxy('300:300', { PROXY_FD_RESERVE: '120' });
    const flood: Socket[] = [];
    try {
      let closedByProxy = 0;
      const open = (port: number, i: number) =>
        new Promise<void>((resolve) => {
          const s = connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + (i % 200)}.${1 + (i % 250)}` });
          flood.push(s);
          s.once('connect', () => resolve());
          s.once('close', () => {
            closedByProxy++;
            resolve();
          });
          s.on('error', () => resolve());
        });
      // More connections than the process has descriptors, half on each client listener.
      for (let i = 0; i < 400; i++) await open(i % 2 === 0 ? p.ports.rtmp : p.ports.httpServer, i);
      // The kernel completes a connection before the proxy accepts it: on a loaded machine the proxy may still be
      // working through its accept queue when the loop ends. Its closes are the state that says it reached the reserve.
      await eventually(async () => assert.ok(closedByProxy > 0, 'the flood reached the reserve'), 15_000, 50);
      // Heartbeats (new and known origins) are all accepted while the flood holds its connections.
      for (let i = 0; i < 30; i++) assert.equal(await register(p.systemApi, `o${i % 10}`), 200, `heartbeat ${i}`);
      const list = await fetch(`${p.systemApi}/api/v1/origins`);
      assert.equal(((await list.json()) as { origins: unknown[] }).origins.length, 10);
      assert.equal(p.peer.hasExited, false);
    } finally {
      for (const s of flood) s.destroy();
      await p.peer.stop();
    }
  });
});

describe('heap guard', () => {
  test('above PROXY_MAX_HEAP_RATIO: HTTP stream and WHIP requests get 503 JSON, RTMP is closed, heartbeats still work; logged once', async () => {
    // A small heap and the lowest ratio: the guard is over its threshold from the start. The young generation
    // counts in the heap's limit too (32 MB old space alone gives an 84 MB limit, a threshold of 8.4 MB that an
    // idle proxy's heap can dip under); with a 1 MB semi-space the limit is ~37 MB and the threshold ~3.7 MB.
    // One process: each worker has its own heap and guard, and logs its own episode (docs/BEHAVIOUR.md §8.5).
    const proxy = await startProxy({
      env: { PROXY_MAX_HEAP_RATIO: '0.1', NODE_OPTIONS: '--max-old-space-size=32 --max-semi-space-size=1', PROXY_WORKERS: '1' },
    });
    try {
      for (let i = 0; i < 3; i++) {
        for (const url of [`${proxy.httpServer}/live/s.flv`, `${proxy.httpServer}/live/s.m3u8`, `${proxy.httpApi}/rtc/v1/whip/?app=live&stream=s`]) {
          const res = await fetch(url, url.includes('whip') ? { method: 'POST', body: 'v=0', headers: { 'Content-Type': 'application/sdp' } } : {});
          assert.equal(res.status, 503, url);
          assert.equal(res.headers.get('content-type'), 'application/json');
          assert.match(((await res.json()) as { error: string }).error, /overloaded/);
        }
      }
      assert.equal((await probe(proxy.ports.rtmp, 'rtmp')).outcome, 'closed');
      assert.equal((await probe(proxy.ports.rtmp, 'rtmp', '127.0.0.2')).outcome, 'closed');
      assert.equal(await register(proxy.systemApi, 'still-here'), 200);
      assert.equal(proxy.peer.output.match(/refusing new work/g)?.length, 1, 'one log line per episode');
    } finally {
      await proxy.stop();
    }
  });
});
