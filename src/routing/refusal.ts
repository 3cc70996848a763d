// Why a stream could not be routed, and the ONE table that turns each reason into every protocol's
// wire error. Client-facing texts never name an origin's address, port or id: the log line with the
// same cid carries those.
import { HttpError } from '../net/http-util.js';

export type RefusalKind =
  /** No origin is registered, or none takes new streams (all draining). */
  | 'no-origin'
  /** No origin registered an endpoint for the protocol, or the stream's origin lacks it. */
  | 'no-service'
  /** The shared state (Redis) cannot be reached: the cluster may have origins, this proxy cannot tell. */
  | 'balancer-unavailable'
  /** Every endpoint that could take the stream is in its failure backoff. */
  | 'endpoints-down'
  /** Every endpoint tried within this request refused the connection or did not answer in time. */
  | 'unreachable';

export class RouteRefusal extends Error {
  override readonly name = 'RouteRefusal';
  constructor(
    readonly kind: RefusalKind,
    /** Internal detail for logs (may name origins); never sent to clients. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${detail}`, options);
  }
}

export interface WireError {
  /** HTTP status for HTTP-FLV/TS, HLS, DASH, WHIP/WHEP and the WebRTC API. */
  httpStatus: number;
  /** The client-facing text (HTTP JSON `error`, RTMP description, SRT log reason). */
  text: string;
  /** RTMP: the onStatus code for a publish / a play. */
  rtmpPublish: string;
  rtmpPlay: string;
  /** SRT rejection reason sent in the handshake (the access-control range 2000-2999). */
  srtReject: number;
  /** RTSP status answered to the request that named the stream. */
  rtspStatus: number;
}

/** SRT access-control rejection codes used here (SRT_REJX_*). */
const SRT_NOT_FOUND = 2404;
const SRT_DOWN = 2503;

export const REFUSAL_WIRE: Readonly<Record<RefusalKind, WireError>> = {
  'no-origin': {
    httpStatus: 503,
    text: 'no origin available',
    rtmpPublish: 'NetStream.Publish.BadName',
    rtmpPlay: 'NetStream.Play.StreamNotFound',
    srtReject: SRT_NOT_FOUND,
    rtspStatus: 503,
  },
  'no-service': {
    httpStatus: 503,
    text: 'no origin serves this protocol for this stream',
    rtmpPublish: 'NetStream.Publish.BadName',
    rtmpPlay: 'NetStream.Play.StreamNotFound',
    srtReject: SRT_NOT_FOUND,
    rtspStatus: 503,
  },
  'balancer-unavailable': {
    httpStatus: 503,
    text: 'stream routing unavailable',
    rtmpPublish: 'NetStream.Publish.Failed',
    rtmpPlay: 'NetStream.Play.Failed',
    srtReject: SRT_DOWN,
    rtspStatus: 503,
  },
  'endpoints-down': {
    httpStatus: 503,
    text: 'every origin for this stream is down, retry shortly',
    rtmpPublish: 'NetStream.Publish.Failed',
    rtmpPlay: 'NetStream.Play.Failed',
    srtReject: SRT_DOWN,
    rtspStatus: 503,
  },
  unreachable: {
    httpStatus: 502,
    text: 'origin unreachable',
    rtmpPublish: 'NetStream.Publish.Failed',
    rtmpPlay: 'NetStream.Play.Failed',
    srtReject: SRT_DOWN,
    rtspStatus: 502,
  },
};

export function wireError(kind: RefusalKind): WireError {
  return REFUSAL_WIRE[kind];
}

/** The HTTP error (JSON `{code, error}`, code = status as everywhere in the proxy) for a refusal. */
export function refusalHttpError(refusal: RouteRefusal): HttpError {
  const wire = REFUSAL_WIRE[refusal.kind];
  return new HttpError(wire.httpStatus, wire.text, wire.httpStatus, { cause: refusal });
}
