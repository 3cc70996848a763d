// Origin-side fuzzing: well-formed client requests over every protocol, routed to an origin that answers
// garbage (test/fixtures/garbage-origin.ts). The proxy must stay up and end each client's attempt cleanly
// (an HTTP status, an RTMP error status or close, an SRT rejection), never hang it past its timeouts.
// What each attempt ended with is counted in `outcomes`.
import { TestCaller, callerHsReq } from '../../fixtures/srt-peers.js';
import { HandshakeType, handshakeTypeName } from '../../../src/srt/handshake.js';
import { buildShutdown } from '../../../src/srt/packet.js';
import { fakeOffer } from '../../fixtures/webrtc-fake-origin.js';
import type { Rng } from '../rng.js';
import { deliverTcp, type FuzzInput, type FuzzTarget } from '../target.js';
import { validRtmpSession } from './rtmp.js';
import { streamIdExtension } from '../../fixtures/srt-codec.js';

export interface OriginTarget extends FuzzTarget {
  outcomes: Map<string, number>;
}

/** Outcomes that mean the proxy left a client hanging. */
export const HUNG_OUTCOMES = ['still open after the client gave up', 'no answer'];
/** An RTMP session still open at the end: a relay the garbage origin accepted (idle timeout 30 s), or a hang. */
const RTMP_STILL_OPEN = 'still open after 15 s (a relay the origin accepted, or a hang)';

function count(outcomes: Map<string, number>, key: string, label = ''): void {
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  if (HUNG_OUTCOMES.includes(key)) {
    const examples = `examples: ${key}`;
    if ((outcomes.get(examples) ?? 0) < 5) {
      outcomes.set(examples, (outcomes.get(examples) ?? 0) + 1);
      process.stderr.write(`  origin fuzz: ${key} for ${label}\n`);
    }
  }
}

/**
 * Longest a client waits for the proxy to end an attempt: the fuzz env's handshake (5 s), dial (1 s) and
 * per-answer (2 s) timeouts, with room for each origin answer the proxy waits for.
 */
const CLIENT_PATIENCE_MS = 15_000;

/**
 * Attempts in flight at once by default. An attempt mostly waits on the garbage origin's timers (answers
 * dropped after up to 500 ms, silent origins the proxy times out after 2 s, accepted relays held 15 s), not
 * on CPU, so a wide pool is what makes 100,000 attempts fit in minutes rather than hours.
 */
export const ORIGIN_POOL = 256;

export function originRtmpTarget(port: number, concurrency = ORIGIN_POOL): OriginTarget {
  const outcomes = new Map<string, number>();
  return {
    name: 'origin-rtmp',
    transport: 'tcp',
    port,
    concurrency,
    outcomes,
    generate: (rng: Rng, index: number): FuzzInput => ({ label: `valid session #${index}`, parts: [validRtmpSession(rng, port)] }),
    async deliver(input) {
      const r = await deliverTcp(port, input.parts, { lingerMs: CLIENT_PATIENCE_MS, timeoutMs: CLIENT_PATIENCE_MS + 1000 });
      count(outcomes, r.closedByProxy ? 'closed by the proxy' : RTMP_STILL_OPEN, input.label);
    },
  };
}

export function originHttpTarget(port: number, name = 'origin-http', concurrency = ORIGIN_POOL): OriginTarget {
  const outcomes = new Map<string, number>();
  return {
    name,
    transport: 'tcp',
    port,
    concurrency,
    outcomes,
    generate(rng: Rng): FuzzInput {
      const stream = `fz${rng.int(40)}`;
      const path = rng.pick([`/live/${stream}.flv`, `/live/${stream}.m3u8`, `/live/${stream}.ts`, `/live/${stream}.mpd`, `/live/${stream}-1.ts`]);
      return { label: `GET ${path}`, parts: [Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)] };
    },
    async deliver(input) {
      const r = await deliverTcp(port, input.parts, { lingerMs: CLIENT_PATIENCE_MS, timeoutMs: CLIENT_PATIENCE_MS + 1000 });
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(r.head.toString('latin1'))?.[1];
      count(
        outcomes,
        status ? `HTTP ${status}` : r.received ? 'bytes that are not an HTTP status line' : r.closedByProxy ? 'closed without an answer' : 'no answer',
        input.label,
      );
    },
  };
}

export function originWhipTarget(port: number, concurrency = ORIGIN_POOL): OriginTarget {
  const outcomes = new Map<string, number>();
  return {
    name: 'origin-whip',
    transport: 'tcp',
    port,
    concurrency,
    outcomes,
    generate(rng: Rng): FuzzInput {
      const offer = fakeOffer(rng.word(8), rng.word(24));
      const json = rng.chance(0.3);
      const body = json ? JSON.stringify({ api: 'x', streamurl: `webrtc://127.0.0.1/live/fz${rng.int(40)}`, sdp: offer }) : offer;
      const path = json ? '/rtc/v1/publish/' : `/rtc/v1/${rng.pick(['whip', 'whep'])}/?app=live&stream=fz${rng.int(40)}`;
      const text = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: ${json ? 'application/json' : 'application/sdp'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      return { label: `POST ${path}`, parts: [Buffer.from(text)] };
    },
    async deliver(input) {
      const r = await deliverTcp(port, input.parts, { lingerMs: CLIENT_PATIENCE_MS, timeoutMs: CLIENT_PATIENCE_MS + 1000 });
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(r.head.toString('latin1'))?.[1];
      count(outcomes, status ? `HTTP ${status}` : r.received ? 'bytes that are not an HTTP status line' : 'no answer', input.label);
    },
  };
}

/**
 * SRT attempts in flight: each holds a proxy session (and its per-address slot, 256 by default) until the
 * origin answers or the handshake times out, so a wider pool only fills that cap and the attempts are then
 * refused (Backlog) before reaching the origin.
 */
export const ORIGIN_SRT_POOL = 32;

export function originSrtTarget(port: number, concurrency = ORIGIN_SRT_POOL): OriginTarget {
  const outcomes = new Map<string, number>();
  return {
    name: 'origin-srt',
    transport: 'udp',
    port,
    concurrency,
    outcomes,
    generate: (rng: Rng): FuzzInput => ({ label: `#!::r=live/fz${rng.int(40)},m=${rng.pick(['publish', 'request'])}`, parts: [] }),
    async deliver(input) {
      const caller = await TestCaller.open(port);
      try {
        const induction = await caller.induce(2000);
        const answer = await caller.conclude(caller.conclusion(induction.synCookie, [callerHsReq(), streamIdExtension(input.label)]), CLIENT_PATIENCE_MS);
        count(outcomes, handshakeTypeName(answer.handshakeType));
        // Hang up as a caller does, so the session (and its per-address slot) ends now, not at the idle timeout.
        if (answer.handshakeType === HandshakeType.Conclusion) caller.send(buildShutdown(answer.socketId, 300));
      } catch {
        count(outcomes, 'no answer', input.label);
      } finally {
        caller.close();
      }
    },
  };
}
