// Every interleaved byte through the RTSP proxy, checked one by one against a scripted origin: a player that
// reads in bursts (stops reading until the proxy has paused its origin, then reads on) gets every frame intact,
// and every frame a client publishes reaches the origin. The origin here numbers and fills its frames itself and
// counts what it receives: real RTSP servers drop frames of their own (GStreamer's recorder loses the pipeline's
// tail at TEARDOWN), so they cannot tell the proxy losing a byte from the server doing so.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { RtspDetail } from '../../src/rtsp/server.js';
import { stopAllPeers } from '../fixtures/process.js';
import { registerOrigin, startProxy, type RunningProxy } from '../fixtures/proxy.js';
import { RawRtspClient } from '../fixtures/rtsp-client.js';
import { RtmpListener } from '../fixtures/rtmp-listener.js';
import { waitFor } from '../fixtures/wait.js';

after(stopAllPeers);

/** Frame `i` of a numbered sequence: `$`, channel 0, a length that varies from frame to frame, then i and a pattern. */
function frame(i: number): Buffer {
  const length = 64 + ((i * 7919) % 1400);
  const f = Buffer.allocUnsafe(4 + length);
  f[0] = 0x24;
  f[1] = 0;
  f.writeUInt16BE(length, 2);
  f.writeUInt32BE(i, 4);
  for (let k = 8; k < f.length; k++) f[k] = (i * 31 + k) & 0xff;
  return f;
}

/** Checks a stream of interleaved frames against frame(i) in order; stops at the first one that differs. */
class FrameChecker {
  good = 0;
  error: Error | undefined;
  private pending: Buffer = Buffer.alloc(0);

  push(d: Buffer): void {
    if (this.error) return;
    try {
      this.check(d);
    } catch (err) {
      this.error = err as Error;
    }
  }

  /** Resolves once `n` frames were good; rejects as soon as one was not. */
  async reached(n: number, timeoutMs: number): Promise<void> {
    await waitFor(() => this.error !== undefined || this.good >= n, { what: `frame ${n} checked`, timeoutMs });
    if (this.error) throw this.error;
  }

  private check(d: Buffer): void {
    this.pending = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    let pos = 0;
    while (this.pending.length - pos >= 4) {
      if (this.pending[pos] !== 0x24) throw new Error(`frame ${this.good}: no '$' at its start`);
      const len = 4 + this.pending.readUInt16BE(pos + 2);
      if (this.pending.length - pos < len) break;
      const got = this.pending.subarray(pos, pos + len);
      if (!got.equals(frame(this.good))) throw new Error(`frame ${this.good} differs from what the origin sent`);
      this.good++;
      pos += len;
    }
    this.pending = Buffer.from(this.pending.subarray(pos));
  }
}

/**
 * A scripted origin: answers every request 200 (CSeq echoed, one session); after PLAY writes `frames` numbered
 * frames as fast as its socket takes them; counts and checks the interleaved frames it receives (a RECORD).
 */
class ScriptedOrigin {
  readonly received = new FrameChecker();
  /** Frames written to players so far. */
  sent = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly frames: number) {}

  async start(): Promise<this> {
    this.server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    return this;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length >= 4 && buf[0] === 0x24) {
          // An interleaved frame from a publisher: handed to the checker whole.
          const len = 4 + buf.readUInt16BE(2);
          if (buf.length < len) return;
          this.received.push(Buffer.from(buf.subarray(0, len)));
          buf = buf.subarray(len);
          continue;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.toString('latin1', 0, end);
        const bodyLength = Number(/^Content-Length:\s*(\d+)/im.exec(head)?.[1] ?? '0');
        if (buf.length < end + 4 + bodyLength) return;
        buf = buf.subarray(end + 4 + bodyLength);
        const cseq = /^CSeq:\s*(\S+)/im.exec(head)?.[1] ?? '0';
        const method = head.slice(0, head.indexOf(' '));
        const extra = method === 'SETUP' ? 'Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n' : '';
        socket.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nSession: 1234\r\n${extra}\r\n`);
        if (method === 'PLAY') this.play(socket);
      }
    });
  }

  /** Writes the numbered frames while the socket takes them, waiting for 'drain' when it does not. */
  private play(socket: Socket): void {
    const pump = () => {
      while (this.sent < this.frames && !socket.destroyed) {
        if (!socket.write(frame(this.sent++))) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

async function rtspDetail(proxy: RunningProxy): Promise<RtspDetail> {
  const detail = (await proxy.stats()).detail.rtsp;
  assert.ok(detail, 'the RTSP listener reports its detail');
  return detail;
}

async function withOrigin(frames: number, body: (proxy: RunningProxy, origin: ScriptedOrigin) => Promise<void>): Promise<void> {
  const [origin, rtmp] = await Promise.all([new ScriptedOrigin(frames).start(), RtmpListener.start()]);
  const proxy = await startProxy();
  try {
    await registerOrigin(proxy.systemApi, {
      ip: '127.0.0.1',
      server: 'scripted',
      service: 's',
      pid: '1',
      rtmp: [String(rtmp.port)],
      rtsp: [String(origin.port)],
    });
    await body(proxy, origin);
  } finally {
    await proxy.stop();
    await origin.close();
    await rtmp.close();
  }
}

describe('RTSP interleaved bytes through the proxy, byte for byte', () => {
  test('a player that reads in bursts gets every frame intact while the proxy pauses and resumes its origin', async () => {
    // ~29 MB: far more than the loopback socket buffers hold, so a player that stops reading fills the proxy's backlog.
    const FRAMES = 40_000;
    await withOrigin(FRAMES, async (proxy, origin) => {
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      try {
        const url = `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/burst`;
        c.request('DESCRIBE', url, 1);
        assert.equal((await c.response()).status, 200);
        c.request('SETUP', `${url}/stream=0`, 2, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
        assert.equal((await c.response()).status, 200);
        // From the PLAY answer on, the bytes go to the checker (the answer itself is skipped by hand).
        const checker = new FrameChecker();
        let head = Buffer.alloc(0);
        let answered = false;
        c.socket.removeAllListeners('data');
        c.socket.on('data', (d: Buffer) => {
          if (answered) return checker.push(d);
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end === -1) return;
          answered = true;
          if (!head.toString('latin1', 0, end).startsWith('RTSP/1.0 200')) checker.error = new Error('PLAY not answered 200');
          checker.push(head.subarray(end + 4));
        });
        c.request('PLAY', url, 3, { Session: '1234' });
        // Three bursts: each pause lasts until the proxy has stopped reading the origin (its client backlog is full).
        for (const at of [1000, 12_000, 24_000]) {
          await checker.reached(at, 20_000);
          c.socket.pause();
          await waitFor(async () => (await rtspDetail(proxy)).originsPaused === 1, { what: 'the origin paused for the stalled player', timeoutMs: 20_000 });
          c.socket.resume();
        }
        await checker.reached(FRAMES, 30_000);
        assert.equal(checker.good, FRAMES);
        assert.equal(origin.sent, FRAMES);
      } finally {
        c.destroy();
      }
    });
  });

  test('every frame a client publishes reaches the origin, in order and intact', async () => {
    const FRAMES = 5000;
    await withOrigin(0, async (proxy, origin) => {
      const c = await RawRtspClient.open(proxy.ports.rtsp);
      try {
        const url = `rtsp://127.0.0.1:${proxy.ports.rtsp}/live/publish`;
        const sdp = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n';
        c.request('ANNOUNCE', url, 1, { 'Content-Type': 'application/sdp' }, sdp);
        assert.equal((await c.response()).status, 200);
        c.request('SETUP', `${url}/stream=0`, 2, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record' });
        assert.equal((await c.response()).status, 200);
        c.request('RECORD', url, 3, { Session: '1234' });
        assert.equal((await c.response()).status, 200);
        // As fast as the proxy takes them, then TEARDOWN right behind the last frame.
        for (let i = 0; i < FRAMES; i++) {
          if (!c.socket.write(frame(i))) await new Promise((resolve) => c.socket.once('drain', resolve));
        }
        c.request('TEARDOWN', url, 4, { Session: '1234' });
        assert.equal((await c.response()).status, 200);
        // The TEARDOWN was answered by the origin, which had read every frame before it.
        assert.equal(origin.received.error, undefined);
        assert.equal(origin.received.good, FRAMES);
      } finally {
        c.destroy();
      }
    });
  });
});
