// Known-answer handshakes written out word by word from the draft's figures (§3.2.1, Figure 5;
// §4.3.1 for the field values of each step). Nothing here is produced by the code under test.

/** Joins hex words ("80000000 0000...") into a Buffer; spaces are cosmetic. */
export function hex(...words: string[]): Buffer {
  return Buffer.from(words.join('').replace(/\s+/g, ''), 'hex');
}

const PEER_IP_127_0_0_1 = hex('0100007F 00000000 00000000 00000000');

/** A libsrt caller's INDUCTION: version 4, Encryption 0 / Extension 2 (UDT_DGRAM), destination 0, cookie 0. */
export const INDUCTION_REQUEST = Buffer.concat([
  hex(
    '80000000', // F=1, Control Type 0 (HANDSHAKE), Subtype 0
    '00000000', // Type-specific Information
    '0001E240', // Timestamp 123456 µs
    '00000000', // Destination Socket ID 0: a connection request
    '00000004', // Version 4
    '0000 0002', // Encryption Field 0, Extension Field 2
    '2E5C3A1B', // Initial Packet Sequence Number
    '000005DC', // MTU 1500
    '00002000', // Flow window 8192
    '00000001', // Handshake Type INDUCTION
    '1A2B3C4D', // SRT Socket ID of the caller
    '00000000', // SYN Cookie 0
  ),
  PEER_IP_127_0_0_1,
]);

/** The HSv5 listener's INDUCTION response: version 5, Extension 0x4A17, the cookie, its own socket id. */
export const INDUCTION_RESPONSE = Buffer.concat([
  hex(
    '80000000',
    '00000000',
    '000003E8', // Timestamp 1000 µs
    '1A2B3C4D', // Destination: the caller's socket id
    '00000005', // Version 5
    '0000 4A17', // Encryption 0, Extension SRT magic code
    '2E5C3A1B', // ISN echoed
    '000005DC', // MTU echoed
    '00002000', // flow window echoed
    '00000001', // INDUCTION
    '0BADCAFE', // listener socket id
    '418D5E4E', // SYN cookie
  ),
  PEER_IP_127_0_0_1,
]);

/** "#!::r=live/livestream,m=publish" (31 bytes + 1 NUL) with every 4-byte word reversed by hand. */
export const SID_CONTENTS = Buffer.concat([
  Buffer.from('::!#' + 'il=r' + 'l/ev' + 'sevi' + 'aert' + '=m,m' + 'lbup', 'latin1'), // "#!::" "r=li" "ve/l" "ives" "trea" "m,m=" "publ"
  Buffer.from([0x00, 0x68, 0x73, 0x69]), // "ish\0" reversed
]);

/** The caller's CONCLUSION: version 5, Extension HSREQ|CONFIG, the cookie, HSREQ then SID blocks. 116 bytes. */
export const CONCLUSION_REQUEST = Buffer.concat([
  hex(
    '80000000',
    '00000000',
    '0001E628', // Timestamp 124456 µs
    '0BADCAFE', // Destination: the listener's socket id from the INDUCTION response
    '00000005', // Version 5
    '0000 0005', // Encryption 0, Extension HSREQ(1) | CONFIG(4)
    '2E5C3A1B',
    '000005DC',
    '00002000',
    'FFFFFFFF', // CONCLUSION
    '1A2B3C4D', // caller socket id
    '418D5E4E', // the cookie from the INDUCTION response
  ),
  PEER_IP_127_0_0_1,
  hex(
    '0001 0003', // Extension Type HSREQ, 3 words
    '00010503', // SRT version 1.5.3
    '000000BF', // TSBPDSND|TSBPDRCV|CRYPT|TLPKTDROP|PERIODICNAK|REXMITFLG|PACKET_FILTER
    '0078 0050', // receiver TSBPD delay 120 ms, sender TSBPD delay 80 ms
    '0005 0008', // Extension Type SID, 8 words
  ),
  SID_CONTENTS,
]);

/** Offsets inside CONCLUSION_REQUEST where a truncation still leaves whole blocks. */
export const CONCLUSION_BLOCK_BOUNDARIES = [64, 80];
