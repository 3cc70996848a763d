// Our identity on the wire: versions endpoints, the Server header, RTMP srs_version.
// Keep VERSION equal to package.json's version (a unit test checks it).
export const SIGNATURE = 'origin-proxy';
export const VERSION = '0.1.0';
export const SERVER_HEADER = `${SIGNATURE}/${VERSION}`;

export function versionParts(): { major: number; minor: number; revision: number; version: string } {
  const [major = 0, minor = 0, revision = 0] = VERSION.split('.').map((p) => Number.parseInt(p, 10));
  return { major, minor, revision, version: VERSION };
}
