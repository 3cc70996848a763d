// Why a stream could not be routed, and the ONE table that turns each reason into every protocol's
// wire error. Client-facing texts never name an origin's address, port or id: the log line with the
// same cid carries those.

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
  /** The `code` of the JSON body `{code, error}`: a stable machine-readable name. */
  code: string;
  /** The client-facing text (HTTP `error`, RTMP description, SRT log reason). */
  text: string;
  /** RTMP: the onStatus code for a publish / a play. */
  rtmpPublish: string;
  rtmpPlay: string;
  /** SRT rejection reason sent in the handshake (the access-control range 2000-2999). */
  srtReject: number;
}

/** SRT access-control rejection codes used here (SRT_REJX_*). */
const SRT_NOT_FOUND = 2404;
const SRT_UNIMPLEMENTED = 2501;
const SRT_GATEWAY = 2502;
const SRT_DOWN = 2503;

export const REFUSAL_WIRE: Readonly<Record<RefusalKind, WireError>> = {
  'no-origin': {
    httpStatus: 503,
    code: 'no_origin',
    text: 'no origin available',
    rtmpPublish: 'NetStream.Publish.BadName',
    rtmpPlay: 'NetStream.Play.StreamNotFound',
    srtReject: SRT_NOT_FOUND,
  },
  'no-service': {
    httpStatus: 503,
    code: 'no_origin_for_protocol',
    text: 'no origin serves this protocol for this stream',
    rtmpPublish: 'NetStream.Publish.BadName',
    rtmpPlay: 'NetStream.Play.StreamNotFound',
    srtReject: SRT_UNIMPLEMENTED,
  },
  'balancer-unavailable': {
    httpStatus: 503,
    code: 'balancer_unavailable',
    text: 'stream routing unavailable',
    rtmpPublish: 'NetStream.Publish.Failed',
    rtmpPlay: 'NetStream.Play.Failed',
    srtReject: SRT_DOWN,
  },
  'endpoints-down': {
    httpStatus: 503,
    code: 'origins_down',
    text: 'every origin for this stream is down, retry shortly',
    rtmpPublish: 'NetStream.Publish.Failed',
    rtmpPlay: 'NetStream.Play.Failed',
    srtReject: SRT_DOWN,
  },
  unreachable: {
    httpStatus: 502,
    code: 'origin_unreachable',
    text: 'origin unreachable',
    rtmpPublish: 'NetStream.Publish.Failed',
    rtmpPlay: 'NetStream.Play.Failed',
    srtReject: SRT_GATEWAY,
  },
};

export function wireError(kind: RefusalKind): WireError {
  return REFUSAL_WIRE[kind];
}
