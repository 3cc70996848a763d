// DTLS record-layer peeking (RFC 6347 §4.1, RFC 9147 §4) for a relay that never terminates DTLS.
// The relay wants one thing from it: to notice a peer closing the association, so the session can be
// torn down at once instead of at the idle timeout. That is only visible while the alert is in
// plaintext (epoch 0, i.e. during or right after a failed handshake); once keys are in use the
// alert is encrypted and looks like any other record, so idle timeouts remain the backstop.

/** Bytes in a DTLS 1.0/1.2 (and DTLS 1.3 plaintext) record header. */
export const DTLS_RECORD_HEADER_LENGTH = 13;

/** Record content types (IANA TLS ContentType registry). */
export const DtlsContentType = {
  ChangeCipherSpec: 20,
  Alert: 21,
  Handshake: 22,
  ApplicationData: 23,
  Heartbeat: 24,
  /** RFC 9146: the header carries a connection id of negotiated length, so it cannot be parsed blind. */
  Tls12Cid: 25,
  Ack: 26,
} as const;

/** Alert levels (RFC 5246 §7.2). */
export const DtlsAlertLevel = { Warning: 1, Fatal: 2 } as const;

/** The alert descriptions a relay cares about (RFC 5246 §7.2). */
export const DtlsAlertDescription = { CloseNotify: 0, HandshakeFailure: 40 } as const;

/** Why bytes were refused as a DTLS record. */
export type DtlsErrorCode =
  /** Fewer than 13 bytes left for the header. */
  | 'truncated'
  /** The length field runs past the end of the datagram. */
  | 'overrun'
  /** The first byte is not a content type with the classic 13-byte header (CID or DTLS 1.3 unified header, or not DTLS at all). */
  | 'unsupported-header';

/** Malformed or unparseable DTLS record bytes; `code` says which. */
export class DtlsError extends Error {
  override readonly name = 'DtlsError';

  constructor(
    readonly code: DtlsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** One record header, with its fragment as a view into the datagram. */
export interface DtlsRecordHeader {
  contentType: number;
  /** ProtocolVersion as one 16-bit number: 0xfeff DTLS 1.0, 0xfefd DTLS 1.2 (and 1.3 legacy). */
  version: number;
  epoch: number;
  /** 48-bit record sequence number (exact in a JS number). */
  sequenceNumber: number;
  /** Length of the fragment in bytes. */
  length: number;
  /** Offset of the header within the datagram. */
  offset: number;
  /** The record's fragment (a view, not a copy). */
  fragment: Buffer;
}

/** A plaintext alert found in a datagram. */
export interface DtlsAlert {
  level: number;
  description: number;
  epoch: number;
}

function hasClassicHeader(contentType: number): boolean {
  return (contentType >= DtlsContentType.ChangeCipherSpec && contentType <= DtlsContentType.Heartbeat) || contentType === DtlsContentType.Ack;
}

/** Parses the record header at `offset`; throws DtlsError unless the whole record lies inside the datagram. */
export function parseDtlsRecordHeader(datagram: Buffer, offset = 0): DtlsRecordHeader {
  if (!Number.isInteger(offset) || offset < 0 || datagram.length - offset < DTLS_RECORD_HEADER_LENGTH) {
    throw new DtlsError('truncated', `DTLS record header needs ${DTLS_RECORD_HEADER_LENGTH} bytes at offset ${offset}`);
  }
  const contentType = datagram[offset]!;
  if (!hasClassicHeader(contentType)) {
    throw new DtlsError('unsupported-header', `first byte ${contentType} has no classic DTLS record header`);
  }
  const length = datagram.readUInt16BE(offset + 11);
  const fragmentStart = offset + DTLS_RECORD_HEADER_LENGTH;
  if (fragmentStart + length > datagram.length) {
    throw new DtlsError('overrun', `DTLS record length ${length} overruns the datagram by ${fragmentStart + length - datagram.length} bytes`);
  }
  return {
    contentType,
    version: datagram.readUInt16BE(offset + 1),
    epoch: datagram.readUInt16BE(offset + 3),
    sequenceNumber: datagram.readUIntBE(offset + 5, 6),
    length,
    offset,
    fragment: datagram.subarray(fragmentStart, fragmentStart + length),
  };
}

/** True when the datagram starts with a well-formed alert record (content type 21), encrypted or not. Never throws. */
export function isDtlsAlertRecord(datagram: Buffer): boolean {
  if (datagram.length < DTLS_RECORD_HEADER_LENGTH || datagram[0] !== DtlsContentType.Alert) return false;
  return DTLS_RECORD_HEADER_LENGTH + datagram.readUInt16BE(11) <= datagram.length;
}

/**
 * The first alert readable in plaintext (epoch 0, 2-byte body) among the datagram's records, or
 * undefined. Never throws: a datagram that does not parse is simply not a teardown signal.
 */
export function findPlaintextDtlsAlert(datagram: Buffer): DtlsAlert | undefined {
  let offset = 0;
  while (offset < datagram.length) {
    let record: DtlsRecordHeader;
    try {
      record = parseDtlsRecordHeader(datagram, offset);
    } catch {
      return undefined;
    }
    if (record.contentType === DtlsContentType.Alert && record.epoch === 0 && record.length === 2) {
      return { level: record.fragment[0]!, description: record.fragment[1]!, epoch: 0 };
    }
    offset += DTLS_RECORD_HEADER_LENGTH + record.length;
  }
  return undefined;
}

/** True for alerts after which the association is over: close_notify, or any fatal alert. */
export function isDtlsTeardownAlert(alert: DtlsAlert): boolean {
  return alert.description === DtlsAlertDescription.CloseNotify || alert.level === DtlsAlertLevel.Fatal;
}
