// The listener's decision on a caller's CONCLUSION once its SYN cookie has checked out: admit it
// (with the stream it names) or refuse it with a rejection code the caller's libsrt can report.
// Pure: no I/O, no clock.
import { StreamKeyError, streamKeyFromSrt, type SrtStreamId } from '../stream-key.js';
import { AccessRejectionCode, RejectionCode, streamIdOf, type Handshake } from './handshake.js';

/** Admit: the caller's stream id (forwarded unchanged) and the stream it routes to. */
export interface Admitted {
  kind: 'admit';
  streamId: string;
  stream: SrtStreamId;
}

/** Refuse: the wire rejection code (>= 1000) and a reason for the log. */
export interface Refused {
  kind: 'reject';
  reason: number;
  why: string;
}

/** What to do with a caller's CONCLUSION. */
export type Admission = Admitted | Refused;

/**
 * Decides on a CONCLUSION: HSv4 callers get RejectionCode.Version (we only speak HSv5, which carries the
 * stream id); a missing, empty or unparsable stream id gets AccessRejectionCode.BadRequest.
 */
export function admitConclusion(conclusion: Handshake): Admission {
  if (conclusion.version !== 5) {
    return { kind: 'reject', reason: RejectionCode.Version, why: `handshake version ${conclusion.version} (HSv5 required)` };
  }
  const streamId = streamIdOf(conclusion);
  if (streamId === undefined) {
    return { kind: 'reject', reason: AccessRejectionCode.BadRequest, why: 'no stream id (SID extension)' };
  }
  try {
    return { kind: 'admit', streamId, stream: streamKeyFromSrt(streamId) };
  } catch (err) {
    if (!(err instanceof StreamKeyError)) throw err;
    return { kind: 'reject', reason: AccessRejectionCode.BadRequest, why: err.message };
  }
}
