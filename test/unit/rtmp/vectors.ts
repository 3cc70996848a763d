// Byte vectors shared by the RTMP tests, written out field by field from the spec layouts.
import { ascii, hex } from './helpers.js';

/** What FFmpeg's RTMP muxer sends as `connect` (publishing), laid out field by field. */
export const FFMPEG_CONNECT = Buffer.concat([
  hex('02 0007'),
  ascii('connect'), //            command name
  hex('00 3ff0000000000000'), //                   transaction id 1.0
  hex('03'), //                                    command object
  hex('0003'),
  ascii('app'),
  hex('02 0004'),
  ascii('live'),
  hex('0004'),
  ascii('type'),
  hex('02 000a'),
  ascii('nonprivate'),
  hex('0008'),
  ascii('flashVer'),
  hex('02 0024'),
  ascii('FMLE/3.0 (compatible; Lavf59.27.100)'),
  hex('0005'),
  ascii('tcUrl'),
  hex('02 001a'),
  ascii('rtmp://127.0.0.1:1935/live'),
  hex('0000 09'), //                               object end
]);
