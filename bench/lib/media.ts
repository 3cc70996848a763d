// Bench media: 720p H.264 + AAC made with lavfi, with noise so the encoder cannot go below the asked rate.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encodeTestMedia } from '../../test/fixtures/media.js';

export interface NoisyFlvOptions {
  /** Strength of the added noise (ffmpeg `noise=alls=`). */
  noise: number;
  /** Video bit rate, e.g. '8M'. */
  rate: string;
  /** Constant bit rate (HRD signalling, minrate = maxrate) instead of a capped rate. */
  cbr: boolean;
}

/** A 10 s, 25 fps, GOP 2 s FLV at `rate` in `dir`; made once per folder and options. */
export async function makeNoisyFlv(dir: string, o: NoisyFlvOptions): Promise<string> {
  const file = join(dir, `bench-720p-${o.rate}-n${o.noise}${o.cbr ? '-cbr' : ''}.flv`);
  if (existsSync(file)) return file;
  const bufsize = `${Number.parseFloat(o.rate) / 2}M`;
  await encodeTestMedia(file, {
    seconds: 10,
    source: `testsrc2=size=1280x720:rate=25,noise=alls=${o.noise}:allf=t`,
    gopFrames: 50,
    preset: 'ultrafast',
    zeroLatency: !o.cbr,
    rate: o.cbr
      ? ['-b:v', o.rate, '-minrate', o.rate, '-maxrate', o.rate, '-bufsize', bufsize, '-x264-params', 'nal-hrd=cbr']
      : ['-b:v', o.rate, '-maxrate', o.rate, '-bufsize', bufsize],
    audioBitrate: '128k',
    timeoutMs: 120_000,
  });
  return file;
}
