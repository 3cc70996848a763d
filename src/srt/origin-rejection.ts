// What a caller learns when its origin rejects the handshake. A rejection code the SRT specification
// or libsrt defines is relayed as the origin sent it (wrong passphrase, version, "not found", …): the
// caller's libsrt can report it. Any other code (an origin's own application codes, or a value no
// standard defines) is replaced by a generic standard one, because an arbitrary number means nothing
// to the caller and can reveal details of the origin's software:
//   - unknown internal codes (wire 1000-1999)         → RejectionCode.Peer (1002, "peer rejected"),
//   - unknown or user-defined access codes (>= 2000)  → AccessRejectionCode.Fallback (2000, the generic
//     access-control rejection, what libsrt sends when an application rejects without a reason).
// The log keeps the origin's own value.
import { AccessRejectionCode, RejectionCode } from './handshake.js';

const STANDARD = new Set<number>([...Object.values(RejectionCode), ...Object.values(AccessRejectionCode)]);

/** The rejection code to send the caller for an origin's rejection `code` (wire value, >= 1000). */
export function callerRejectionCode(code: number): number {
  if (STANDARD.has(code)) return code;
  return code < AccessRejectionCode.Fallback ? RejectionCode.Peer : AccessRejectionCode.Fallback;
}
