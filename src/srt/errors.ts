// The one error type the SRT codec throws: callers catch SrtError and drop the datagram.

/** Why a datagram (or an encoder argument) was refused. */
export type SrtErrorCode =
  /** Shorter than the fixed part the packet kind requires. */
  | 'truncated'
  /** Not a handshake control packet (first word is not 0x80000000). */
  | 'not-handshake'
  /** An extension block whose length lies, leftover bytes, or a too-short HSREQ/HSRSP. */
  | 'bad-extension'
  /** An encoder or helper was given a value that cannot be put on the wire. */
  | 'invalid-argument';

/** Malformed SRT input or an unencodable value; `code` says which. */
export class SrtError extends Error {
  override readonly name = 'SrtError';

  constructor(
    readonly code: SrtErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Throws `invalid-argument` unless `value` is an integer in [0, max]. */
export function assertUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new SrtError('invalid-argument', `${what} must be an integer in [0, ${max}], got ${value}`);
  }
}

/** Largest value of an unsigned 32-bit field. */
export const UINT32_MAX = 0xffffffff;
/** Largest value of an unsigned 16-bit field. */
export const UINT16_MAX = 0xffff;
