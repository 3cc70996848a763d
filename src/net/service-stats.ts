// The one shape of counters every protocol service reports (`GET /api/v1/stats`, `/metrics`). Counters are
// plain numbers bumped once per connection, request or refusal; bytes are read from sockets when asked, so
// nothing here sits on the per-packet path.

/** What a client does with its stream. */
export type ClientRole = 'publish' | 'play';

/** Per-protocol counters; a service may report several protocols (the HTTP listener: flv, ts, hls, dash). */
export interface ProtocolStats {
  /** Clients relaying now, by role; `pending`: connected but role or stream not known yet. */
  active: { publish: number; play: number; pending: number };
  /** Clients whose relay to an origin started, since the process started, by role. */
  total: { publish: number; play: number };
  /** Bytes received from and sent to clients since start. */
  bytes: { in: number; out: number };
  /** Clients refused, by reason (the routing refusal kinds, and the protocol's own: limit, overloaded, bad-request, …). */
  refused: Record<string, number>;
  /** Datagrams or messages dropped, by reason (UDP protocols; `{}` for the others). */
  dropped: Record<string, number>;
  /** Time from a client's arrival to its relay starting (origin accepted). */
  setup: SetupHistogram;
}

/** Keyed by protocol label: rtmp, flv, ts, hls, dash, webrtc, srt, rtsp. Labels are a small fixed set (metrics). */
export type ServiceStats = Record<string, ProtocolStats>;

/** Upper bounds, in seconds, of the setup-time buckets (the last bucket is +Inf). */
export const SETUP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A fixed-bucket histogram: one observation per client, read as Prometheus cumulative buckets. */
export class SetupHistogram {
  /** counts[i]: observations ≤ SETUP_BUCKETS_S[i] and > the previous bound; the extra last slot is +Inf. */
  readonly counts: number[] = new Array<number>(SETUP_BUCKETS_S.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    let i = 0;
    while (i < SETUP_BUCKETS_S.length && seconds > SETUP_BUCKETS_S[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Cumulative counts per bound (Prometheus `le`), the last one for +Inf. */
  cumulative(): number[] {
    let running = 0;
    return this.counts.map((c) => (running += c));
  }
}

/** An empty ProtocolStats (a protocol that has seen no client yet). */
export function emptyProtocolStats(): ProtocolStats {
  return {
    active: { publish: 0, play: 0, pending: 0 },
    total: { publish: 0, play: 0 },
    bytes: { in: 0, out: 0 },
    refused: {},
    dropped: {},
    setup: new SetupHistogram(),
  };
}
