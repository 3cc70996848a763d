// Headless Chromium as a WHIP publisher (fake camera) and WHEP player (frames decoded) through the
// proxy. Chromium also gathers the machine's own interface addresses, so the whole scenario — proxy,
// origin, ffmpeg/werift publisher and browser — runs inside a private network namespace that has only
// `lo` (fixtures/webrtc-chromium-main.ts); this file starts it and checks what it reports.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FIXTURES_DIST, REPO_ROOT } from '../fixtures/paths.js';
import { run, stopAllPeers } from '../fixtures/process.js';

after(stopAllPeers);

/**
 * How to get a private network namespace: `unshare -rn` (a user namespace: no root needed where the
 * kernel allows unprivileged user namespaces), else `unshare -n` as root; else the reason, and the test
 * is skipped saying it.
 */
async function namespaceFlags(): Promise<{ flags: string[] } | { skip: string }> {
  const works = async (flags: string[]) =>
    (await run('unshare', [...flags, '--fork', 'sh', '-c', 'ip link set lo up'], 10_000).catch(() => ({ code: -1 }))).code === 0;
  if (await works(['-rn'])) return { flags: ['-rn'] };
  if (process.getuid?.() === 0 && (await works(['-n']))) return { flags: ['-n'] };
  return { skip: 'needs a private network namespace: `unshare -rn` (unprivileged user namespaces) or root for `unshare -n`, and `ip` (iproute2)' };
}
const namespace = await namespaceFlags();

interface ScenarioResult {
  error?: string;
  publish?: { status: number; contentType: string; location: string; answerPortIsProxy: boolean };
  originReceived?: Record<string, number>;
  publisherCodec?: string;
  playStats?: { framesDecoded: number; videoCodec: string; audioPackets: number };
  h264Stats?: { framesDecoded: number; videoCodec: string; audioPackets: number };
  consoleWhep?: { started: number; later: number; state: string };
  deleteStatus?: number;
  originClosed?: boolean;
  proxyClosed?: boolean;
  originRequests?: { method: string; authorization?: string; contentType?: string }[];
  playerCloseEndsSession?: string;
}

test(
  'Chromium publishes with WHIP and plays with WHEP through the proxy (private network namespace)',
  { timeout: 180_000, skip: 'skip' in namespace ? namespace.skip : false },
  async () => {
    if (!('flags' in namespace)) return;
    const script = join(FIXTURES_DIST, 'webrtc-chromium-main.js');
    // --fork: the namespace's init is `sh`, so a timeout kills the whole tree (node, proxy, chromium).
    const r = await run(
      'timeout',
      [
        '-k',
        '5',
        '150',
        'unshare',
        ...namespace.flags,
        '--fork',
        'sh',
        '-c',
        `ip link set lo up && exec "${process.execPath}" --enable-source-maps "${script}"`,
      ],
      170_000,
      { cwd: REPO_ROOT },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `no result (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const result = JSON.parse(line.slice('RESULT '.length)) as ScenarioResult;
    assert.equal(result.error, undefined, `scenario failed: ${result.error}\n${r.stderr.slice(-3000)}`);
    assert.equal(r.code, 0);

    // WHIP publish: 201, SDP answer pointing at the proxy, a Location the browser could read (CORS).
    assert.equal(result.publish?.status, 201);
    assert.equal(result.publish?.contentType, 'application/sdp');
    assert.equal(result.publish?.answerPortIsProxy, true);
    assert.match(
      result.publish?.location ?? '',
      /\/rtc\/v1\/whip\/\?action=delete&token=\w+&app=live&stream=chrome&session=\S+&proxy_origin=chromium-origin&proxy_session=/,
    );
    // The origin received the browser's video and Opus.
    const video = Object.entries(result.originReceived ?? {}).find(([codec]) => ['vp8', 'h264'].includes(codec));
    assert.ok(video && video[1] > 50, JSON.stringify(result.originReceived));
    assert.ok((result.originReceived?.opus ?? 0) > 50);
    // WHEP players in Chromium decoded frames: of the browser's stream and of ffmpeg's H.264.
    assert.ok((result.playStats?.framesDecoded ?? 0) > 30, JSON.stringify(result.playStats));
    assert.ok((result.playStats?.audioPackets ?? 0) > 30);
    assert.equal(result.h264Stats?.videoCodec, 'video/H264');
    assert.ok((result.h264Stats?.framesDecoded ?? 0) > 30, JSON.stringify(result.h264Stats));
    // The web console's WHEP tab played the same stream through the proxy: its video advanced.
    assert.ok(result.consoleWhep && result.consoleWhep.later >= result.consoleWhep.started + 1, JSON.stringify(result.consoleWhep));
    assert.match(result.consoleWhep.state, /\/rtc\/v1\/whep\/\?app=live&stream=ffmpeg WebRTC connected/);
    // The browser's DELETE (CORS preflight, Authorization) reached the origin and ended both sides.
    assert.equal(result.deleteStatus, 200);
    assert.equal(result.originClosed, true);
    assert.equal(result.proxyClosed, true);
    assert.ok(result.originRequests?.some((q) => q.method === 'DELETE' && q.authorization === 'Bearer browser-token'));
    assert.ok(result.originRequests?.some((q) => q.method === 'POST' && q.authorization === 'Bearer browser-token' && q.contentType === 'application/sdp'));
    // Closing the player's RTCPeerConnection ends its relay session (Chromium sends a DTLS alert).
    assert.equal(result.playerCloseEndsSession, 'dtls-alert');
  },
);
