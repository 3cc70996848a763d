// Which streams have a live relay in some worker (PROXY_WORKERS > 1 with the memory balancer): the
// primary's balancer keeps those pins under PROXY_MAX_STREAM_PINS as one process does (docs/BEHAVIOUR.md
// §8.5). Each worker reports only changes (a stream's first relay, its last one gone), batched per
// event-loop turn; the primary keeps one set per worker and drops it when the worker exits.
import type { Channel } from './ipc-protocol.js';

export const LIVE_TAG = 'origin-proxy:live';
/** Most keys in one report (a larger one is split). */
const MAX_REPORT = 4096;
const MAX_KEY = 1024;

/** Worker side: collects changes and sends them once per turn. */
export class LiveStreamReporter {
  private readonly changes = new Map<string, boolean>();
  private scheduled = false;

  constructor(private readonly channel: Channel) {}

  note(streamKey: string, live: boolean): void {
    this.changes.set(streamKey, live);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const all = [...this.changes];
    this.changes.clear();
    for (let i = 0; i < all.length; i += MAX_REPORT) {
      const part = all.slice(i, i + MAX_REPORT);
      try {
        this.channel.send({ t: LIVE_TAG, on: part.filter(([, l]) => l).map(([k]) => k), off: part.filter(([, l]) => !l).map(([k]) => k) });
      } catch {
        return; // the primary is gone: this worker stops
      }
    }
  }
}

/** Primary side: the live streams of every worker. */
export class LiveStreams {
  private readonly bySlot = new Map<number, Set<string>>();

  /** Applies a report from a worker; false when the message is not one. */
  handle(slot: number, message: unknown): boolean {
    const m = message as { t?: unknown; on?: unknown; off?: unknown } | null;
    if (typeof m !== 'object' || m === null || m.t !== LIVE_TAG) return false;
    let set = this.bySlot.get(slot);
    if (!set) this.bySlot.set(slot, (set = new Set()));
    for (const k of keys(m.off)) set.delete(k);
    for (const k of keys(m.on)) set.add(k);
    return true;
  }

  workerGone(slot: number): void {
    this.bySlot.delete(slot);
  }

  isLive(streamKey: string): boolean {
    for (const set of this.bySlot.values()) if (set.has(streamKey)) return true;
    return false;
  }
}

function keys(v: unknown): string[] {
  return Array.isArray(v) ? v.slice(0, MAX_REPORT).filter((k): k is string => typeof k === 'string' && k.length <= MAX_KEY) : [];
}
