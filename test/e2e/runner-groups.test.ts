// scripts/test.mjs leaves nothing behind a test file it kills: this file runs the runner on itself in
// "victim" mode (ORPHAN_PROBE set), where it starts real peers, lists every process below it and hangs.
// The runner then ends it by its per-file timeout, by a cancel (SIGTERM to the runner) or after the file
// process died by SIGKILL, and the test checks by pid (and start time) that none of those processes is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { launchChromium } from '../fixtures/browser.js';
import { childPids } from '../fixtures/kill-tree.js';
import { makeTestFlv, publish } from '../fixtures/media.js';
import { startNginxRtmp } from '../fixtures/nginx-rtmp.js';
import { startNodeMediaServer } from '../fixtures/nms.js';
import { REPO_ROOT, tempDir } from '../fixtures/paths.js';
import { freePort } from '../fixtures/ports.js';
import { stopAllPeers } from '../fixtures/process.js';
import { startProxy } from '../fixtures/proxy.js';
import { startRedis } from '../fixtures/redis.js';
import { startSrtListener } from '../fixtures/srt.js';
import { waitFor } from '../fixtures/wait.js';

interface Proc {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a reused pid from the process that had it. */
  start: string;
  comm: string;
}

/** The process as /proc shows it now; undefined once it is gone or only a zombie. */
function procNow(pid: number): Proc | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 (start time) is rest[19].
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return { pid, start: rest[19]!, comm };
}

/**
 * Every process below `pid`, and every one that carries this file's TEST_RUN_GROUP marker (set by the runner)
 * though it is no longer below it (Chromium's crash handler is reparented to init).
 */
function startedBy(pid: number): Proc[] {
  const seen = new Set<number>([pid]);
  const queue = childPids(pid);
  const marker = Buffer.from(`\0TEST_RUN_GROUP=${process.env.TEST_RUN_GROUP}\0`);
  for (const name of readdirSync('/proc')) {
    try {
      if (/^\d+$/.test(name) && Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`)]).includes(marker)) queue.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  const out: Proc[] = [];
  while (queue.length) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    const info = procNow(p);
    if (info) out.push(info);
    queue.push(...childPids(p));
  }
  return out;
}

const probe = process.env.ORPHAN_PROBE;

if (probe) {
  // Victim: started by the runner that the checker below drives.
  const media = tempDir('orphans-media');
  after(async () => {
    await stopAllPeers();
    media.remove();
  });
  // Its own timeout is out of the way (it would end the test and run `after`): only the runner's may end it.
  test('victim: starts real peers, lists them, hangs until the runner kills this file', { timeout: 2_147_483_647 }, async () => {
    const withChromium = process.env.ORPHAN_PROBE_CHROMIUM === '1';
    const flv = await makeTestFlv(media.dir, 2);
    const nginx = await startNginxRtmp();
    await startRedis();
    await startNodeMediaServer();
    await startSrtListener(`udp://127.0.0.1:${await freePort()}`);
    const proxy = await startProxy({ env: { PROXY_WORKERS: '2' } });
    publish(flv, `rtmp://127.0.0.1:${nginx.rtmpPort}/live/orphans`);
    if (withChromium) await launchChromium();
    // Every peer's own children (nginx's worker, the proxy's two workers, Chromium's helpers) are up.
    const procs = await waitFor(
      () => {
        const all = startedBy(process.pid);
        const names = all.map((p) => p.comm);
        const ready =
          childPids(nginx.peer.pid).length >= 1 &&
          childPids(proxy.peer.pid).length >= 2 &&
          names.includes('ffmpeg') &&
          (!withChromium || names.filter((n) => n.startsWith('chrom')).length >= 2);
        return ready ? all : undefined;
      },
      { what: 'every peer and its children', timeoutMs: 60_000 },
    );
    writeFileSync(probe, JSON.stringify({ self: procNow(process.pid), procs }));
    // Hold the event loop until the runner kills this process.
    await new Promise(() => setInterval(() => {}, 60_000));
  });
} else {
  const work = tempDir('orphans');
  after(() => work.remove());

  interface Outcome {
    code: number | null;
    output: string;
    self: Proc;
    procs: Proc[];
  }

  /**
   * Runs `scripts/test.mjs` on this file in victim mode; `act` gets the runner process and the victim's
   * own process once the victim has listed its peers.
   */
  async function runVictim(
    label: string,
    runnerArgs: string[],
    chromium: boolean,
    act: (runner: { pid: number; kill(sig: NodeJS.Signals): void }, self: Proc) => void,
  ): Promise<Outcome> {
    const probeFile = join(work.dir, `${label}.json`);
    // Without NODE_TEST_CONTEXT (set for this file by node's runner): the inner runner is a run of its own.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const runner = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'test.mjs'), ...runnerArgs, 'test/e2e/runner-groups'], {
      cwd: REPO_ROOT,
      env: { ...env, ORPHAN_PROBE: probeFile, ORPHAN_PROBE_CHROMIUM: chromium ? '1' : '0', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    runner.stdout.on('data', (d: Buffer) => (output += d.toString()));
    runner.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => runner.once('close', (code) => resolve(code)));
    try {
      const listed = await waitFor(
        () => {
          if (runner.exitCode !== null) return 'exited';
          // A half-written file fails to parse: not yet.
          return existsSync(probeFile) ? (JSON.parse(readFileSync(probeFile, 'utf8')) as { self: Proc; procs: Proc[] }) : undefined;
        },
        { what: `the victim's list of peers (${label})`, timeoutMs: 120_000, everyMs: 100 },
      );
      if (listed === 'exited') assert.fail(`the runner exited before the victim listed its peers:\n${output.slice(-3000)}`);
      act({ pid: runner.pid!, kill: (sig) => runner.kill(sig) }, listed.self);
      const code = await exited;
      return { code, output, ...listed };
    } finally {
      if (runner.exitCode === null) runner.kill('SIGKILL');
    }
  }

  /** Everything the victim listed (and the victim itself) is gone: not running, not reused. */
  async function assertNoneLeft(o: Outcome, names: string[]): Promise<void> {
    const comms = o.procs.map((p) => p.comm);
    // The list is what the check stands on: it must hold every kind of peer the victim started.
    for (const n of names)
      assert.ok(
        comms.some((c) => c.startsWith(n)),
        `no ${n} among the victim's processes: ${comms.join(', ')}`,
      );
    assert.ok(comms.filter((c) => c === 'node').length >= 4, `want node-media-server, the proxy and its 2 workers: ${comms.join(', ')}`);
    const alive = (p: Proc) => procNow(p.pid)?.start === p.start;
    // SIGKILL is asynchronous: wait for the kernel to finish each process.
    await waitFor(() => [o.self, ...o.procs].every((p) => !alive(p)), { what: 'every process the victim started to end', timeoutMs: 15_000 }).catch(() => {
      const left = [o.self, ...o.procs].filter(alive).map((p) => `${p.comm}(${p.pid})`);
      assert.fail(`left running after the runner ended the file: ${left.join(', ')}\n${o.output.slice(-2000)}`);
    });
  }

  const last = (o: Outcome) => o.output.trim().split('\n').at(-1) ?? '';
  // Names as /proc/<pid>/stat has them (15 characters at most).
  const PEERS = ['nginx', 'redis-server', 'ffmpeg', 'srt-live'];

  test('the per-file timeout kills every process the file started', { timeout: 180_000 }, async () => {
    // The file may run 40 s: enough to start its peers on a loaded machine, then the runner's timeout ends it.
    const o = await runVictim('timeout', ['--file-timeout=40'], false, () => {});
    assert.equal(o.code, 1, o.output.slice(-3000));
    assert.match(last(o), /^0 passed, [1-9]\d* failed$/);
    await assertNoneLeft(o, PEERS);
  });

  test('cancelling the run (SIGTERM to the runner) kills every process the file started, Chromium too', { timeout: 180_000 }, async () => {
    const o = await runVictim('cancel', [], true, (runner) => runner.kill('SIGTERM'));
    assert.equal(o.code, 1, o.output.slice(-3000));
    await assertNoneLeft(o, [...PEERS, 'chrom']);
  });

  test('a test file killed outright (SIGKILL, as the OOM killer would) leaves nothing behind', { timeout: 180_000 }, async () => {
    const o = await runVictim('sigkill', [], true, (_runner, self) => process.kill(self.pid, 'SIGKILL'));
    assert.equal(o.code, 1, o.output.slice(-3000));
    assert.match(last(o), /^0 passed, [1-9]\d* failed$/);
    await assertNoneLeft(o, [...PEERS, 'chrom']);
  });
}
