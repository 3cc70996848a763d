// Copies the web console (console/) into dist/console and vendors the player libraries from
// node_modules into dist/console/vendor, so the package serves them with no network and no bundler.
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
const vendor = [
  ['hls.js/dist/hls.min.js', 'hls.min.js'],
  ['mpegts.js/dist/mpegts.js', 'mpegts.js'],
];

rmSync(out, { recursive: true, force: true });
cpSync(join(root, 'console'), out, { recursive: true });
mkdirSync(join(out, 'vendor'), { recursive: true });
for (const [from, to] of vendor) {
  const src = join(root, 'node_modules', from);
  if (!existsSync(src)) {
    console.error(`build-console: ${src} is missing (run npm install): the console's players need it`);
    process.exit(1);
  }
  cpSync(src, join(out, 'vendor', to));
}
