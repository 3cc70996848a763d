/** Why an RTMP codec rejected its input (stable strings: callers may switch on them). */
export type RtmpErrorCode =
  // AMF0 / AMF3
  | 'AMF_TRUNCATED'
  | 'AMF_BAD_MARKER'
  | 'AMF_DEPTH'
  | 'AMF_TOO_MANY_ITEMS'
  | 'AMF_BAD_REFERENCE'
  | 'AMF_BAD_UTF8'
  | 'AMF_DUPLICATE_KEY'
  | 'AMF_TRAILING_BYTES'
  | 'AMF3_UNSUPPORTED'
  | 'AMF_ENCODE'
  | 'AMF_COMMAND'
  // handshake
  | 'HANDSHAKE_VERSION'
  | 'HANDSHAKE_STATE'
  // chunk stream
  | 'CHUNK_NO_PREVIOUS_HEADER'
  | 'CHUNK_HEADER_MID_MESSAGE'
  | 'CHUNK_MESSAGE_TOO_LARGE'
  | 'CHUNK_TOO_MANY_STREAMS'
  | 'CHUNK_BUFFER_LIMIT'
  | 'CHUNK_INVALID_MESSAGE'
  | 'CHUNK_INVALID_OPTION'
  // protocol control / user control messages
  | 'MESSAGE_LENGTH'
  | 'MESSAGE_VALUE'
  // a caller passed an unusable argument (not input from the network)
  | 'INVALID_ARGUMENT';

/** The only error the RTMP codecs throw, for malformed input and for values that cannot be encoded. */
export class RtmpError extends Error {
  override readonly name = 'RtmpError';

  constructor(
    readonly code: RtmpErrorCode,
    message: string,
  ) {
    super(message);
  }
}
