// Bench media: 720p H.264 + AAC made with lavfi, with noise so the encoder cannot go below the asked rate.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../test/fixtures/process.js';

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
  const rateControl = o.cbr
    ? ['-b:v', o.rate, '-minrate', o.rate, '-maxrate', o.rate, '-bufsize', bufsize, '-x264-params', 'nal-hrd=cbr']
    : ['-tune', 'zerolatency', '-b:v', o.rate, '-maxrate', o.rate, '-bufsize', bufsize];
  const r = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=1280x720:rate=25,noise=alls=${o.noise}:allf=t`,
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=44100',
      '-t',
      '10',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '50',
      ...rateControl,
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      '-b:a',
      '128k',
      '-shortest',
      file,
    ],
    120_000,
  );
  if (r.code !== 0) throw new Error(`ffmpeg could not make bench media: ${r.stderr}`);
  return file;
}
