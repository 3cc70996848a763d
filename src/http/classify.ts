// What an HTTP stream request is, decided by its path suffix (case-insensitive) and the session
// parameter: a live stream, an HLS playlist, a DASH manifest, a segment of a session, or a file.
import { SESSION_PARAM } from './session-param.js';

export type StreamRequestKind = 'live' | 'playlist' | 'manifest' | 'segment' | 'maybe-segment' | 'static';

/** Continuous live streams (HTTP-FLV, HTTP-TS, AAC/MP3 audio). */
const LIVE = new Set(['flv', 'ts', 'aac', 'mp3']);
/** Segments, parts, init sections, subtitles and keys of HLS/DASH sessions. */
const SEGMENT = new Set(['ts', 'm4s', 'mp4', 'm4a', 'm4v', 'aac', 'vtt', 'webvtt', 'key', 'mp3']);

export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot === -1 ? '' : name.slice(dot + 1).toLowerCase();
}

export function classifyStreamRequest(path: string, query: URLSearchParams): StreamRequestKind {
  return classifyBySession(path, query.get(SESSION_PARAM));
}

/** classifyStreamRequest, given the query's session parameter (null: none). */
export function classifyBySession(path: string, session: string | null): StreamRequestKind {
  const ext = extensionOf(path);
  if (ext === 'm3u8') return 'playlist';
  if (ext === 'mpd') return 'manifest';
  if (SEGMENT.has(ext) && session) return 'segment';
  // A segment name without the session parameter (a player that dropped it, or absolute URIs):
  // routed by the stream its name belongs to when that stream is known, else treated as below.
  if (LIVE.has(ext)) return 'live';
  if (SEGMENT.has(ext)) return 'maybe-segment';
  return 'static';
}

/** Extensions that are always a live stream of their own name (never a segment without the session). */
const LIVE_ONLY = new Set(['flv', 'aac', 'mp3']);

/**
 * Whether a request without the session parameter must be routed by its own stream key: `.flv`,
 * `.aac` and `.mp3` always are (a live stream named `game-720p` is not a segment of `game`).
 * `.ts` is decided by hlsSegmentOwner and the owner's HLS session.
 */
export function isLiveOnly(ext: string): boolean {
  return LIVE_ONLY.has(ext);
}

/**
 * The stream an HLS `.ts` segment name belongs to, when the name can be one: `<stream>-<number>`
 * (`livestream-12` → `livestream`; SRS's `[stream]-[seq]` and nginx-rtmp's numbering). It is only
 * treated as a segment when that stream has an HLS session and the whole name is not a stream itself.
 */
export function hlsSegmentOwner(fileBase: string): string | undefined {
  const m = /^(.+)-\d+$/.exec(fileBase);
  return m ? m[1] : undefined;
}

/**
 * Stream names a segment file may belong to: `livestream-12.ts` → `livestream`,
 * `livestream-init.m4v` → `livestream` (nginx-rtmp, SRS templates `[stream]-[seq]`).
 */
export function segmentOwner(fileBase: string): string | undefined {
  const m = /^(.+)-[^-]+$/.exec(fileBase);
  return m ? m[1] : undefined;
}
