// The proxy's caller-side handshake with an origin (draft §4.3.1, HSv5 caller-listener), as a pure
// state machine: it says what to send and interprets what comes back; the session owns the socket
// and the retransmission timer.
//
// Socket ids are end to end: we introduce ourselves to the origin with the caller's own socket id, and
// the origin's conclusion response (its socket id, HSRSP, KMRSP) goes back to the caller unchanged
// except for the cookie and the peer address. So data packets need no rewriting in either direction:
// the caller addresses the origin's socket id and the origin addresses the caller's.
import { SrtError } from './errors.js';
import { callerRejectionCode } from './origin-rejection.js';
import {
  HandshakeType,
  RejectionCode,
  SRT_MAGIC_CODE,
  buildInductionRequest,
  buildRejection,
  isRejection,
  parseHandshake,
  patchHandshake,
  type Handshake,
} from './handshake.js';
import { isHandshakePacket } from './packet.js';

/** Construction options for OriginHandshake. */
export interface OriginHandshakeOptions {
  /** The caller's CONCLUSION datagram, exactly as received. */
  callerConclusion: Buffer;
  /** The same, parsed. */
  caller: Handshake;
  /** The caller's address as the proxy sees it (written into responses for the caller). */
  callerAddress: string;
  /** The origin's address as dialled (an IP literal; written into packets for the origin). */
  originAddress: string;
}

/** The origin's induction response arrived: send this CONCLUSION now (and on every retransmission). */
export interface SendConclusion {
  kind: 'send';
  packet: Buffer;
}

/** The origin accepted: relay `response` to the caller; data flows between the two socket ids. */
export interface OriginAccepted {
  kind: 'accepted';
  originSocketId: number;
  response: Buffer;
}

/** The origin refused (or cannot speak HSv5): relay `response`, a rejection, to the caller. */
export interface OriginRejected {
  kind: 'rejected';
  /** The code the caller gets (a standard one: see origin-rejection.ts). */
  reason: number;
  /** The code the origin sent, when the caller gets another one (for the log). */
  originReason?: number;
  response: Buffer;
}

/** A datagram that does not move the handshake on (late duplicate, foreign id, not a handshake). */
export interface Ignored {
  kind: 'ignore';
  why: string;
}

/** The outcome of one datagram from the origin. */
export type OriginStep = SendConclusion | OriginAccepted | OriginRejected | Ignored;

/** One caller's handshake with one origin endpoint. */
export class OriginHandshake {
  private currentPhase: 'induction' | 'conclusion' | 'done' = 'induction';
  private conclusion: Buffer | undefined;
  private readonly options: OriginHandshakeOptions;

  constructor(options: OriginHandshakeOptions) {
    this.options = options;
  }

  /** 'induction' until the origin's cookie arrives, then 'conclusion', then 'done'. */
  get phase(): 'induction' | 'conclusion' | 'done' {
    return this.currentPhase;
  }

  /** The packet to (re)send in the current phase; undefined once done. */
  request(timestamp: number): Buffer | undefined {
    if (this.currentPhase === 'done') return undefined;
    if (this.currentPhase === 'conclusion') return this.conclusion;
    const { caller, originAddress } = this.options;
    return buildInductionRequest({
      socketId: caller.socketId,
      initialSequenceNumber: caller.initialSequenceNumber,
      timestamp: timestamp >>> 0,
      peerAddress: originAddress,
      mtu: caller.mtu,
      flowWindow: caller.flowWindow,
    });
  }

  /** Interprets one datagram from the origin. Never throws: malformed input is ignored. */
  onPacket(datagram: Buffer): OriginStep {
    if (this.currentPhase === 'done') return { kind: 'ignore', why: 'handshake already finished' };
    if (!isHandshakePacket(datagram)) return { kind: 'ignore', why: 'not a handshake' };
    let answer: Handshake;
    try {
      answer = parseHandshake(datagram);
    } catch (err) {
      if (err instanceof SrtError) return { kind: 'ignore', why: `malformed handshake: ${err.message}` };
      throw err;
    }
    const { caller } = this.options;
    if (answer.destinationSocketId !== caller.socketId) return { kind: 'ignore', why: 'addressed to another socket' };
    if (isRejection(answer.handshakeType)) return this.rejected(answer.handshakeType, datagram);
    if (this.currentPhase === 'induction') {
      if (answer.handshakeType !== HandshakeType.Induction) return { kind: 'ignore', why: 'expected an induction response' };
      if (answer.version !== 5 || answer.extension !== SRT_MAGIC_CODE) {
        // An HSv4-only origin cannot take the caller's HSv5 conclusion (nor its stream id).
        this.currentPhase = 'done';
        return {
          kind: 'rejected',
          reason: RejectionCode.Version,
          response: buildRejection({
            request: caller,
            reason: RejectionCode.Version,
            timestamp: caller.timestamp,
            peerAddress: this.options.callerAddress,
          }),
        };
      }
      this.currentPhase = 'conclusion';
      this.conclusion = patchHandshake(this.options.callerConclusion, {
        synCookie: answer.synCookie,
        peerAddress: this.options.originAddress,
      });
      return { kind: 'send', packet: this.conclusion };
    }
    if (answer.handshakeType !== HandshakeType.Conclusion) return { kind: 'ignore', why: 'expected a conclusion response' };
    this.currentPhase = 'done';
    return { kind: 'accepted', originSocketId: answer.socketId, response: this.forCaller(datagram) };
  }

  private rejected(originReason: number, datagram: Buffer): OriginRejected {
    this.currentPhase = 'done';
    const reason = callerRejectionCode(originReason);
    if (reason === originReason) return { kind: 'rejected', reason, response: this.forCaller(datagram) };
    const { caller, callerAddress } = this.options;
    return {
      kind: 'rejected',
      reason,
      originReason,
      response: buildRejection({ request: caller, reason, timestamp: caller.timestamp, peerAddress: callerAddress }),
    };
  }

  /** The origin's answer as the caller must see it: our cookie and the caller's own address. */
  private forCaller(datagram: Buffer): Buffer {
    return patchHandshake(datagram, {
      synCookie: this.options.caller.synCookie,
      peerAddress: this.options.callerAddress,
    });
  }
}
