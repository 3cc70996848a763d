// Cuts streams whose socket stopped taking bytes: one interval for every watched stream instead of a
// timer made and cleared per request (a segment request is short; its own timer was a measurable share
// of its cost). A stream is cut once its socket's bytesWritten did not move between two ticks, so a
// stall is noticed after idleMs at the least and 2 × idleMs at the most.
import type { Socket } from 'node:net';

export interface IdleWatched {
  /** The socket whose written bytes show progress (none: no progress can show, so it is cut after two ticks). */
  readonly socket: Socket | null | undefined;
  /** bytesWritten at the last tick (-1: not seen yet). */
  idleLast: number;
  /** Called once, on the tick that finds no progress; the entry is then no longer watched. */
  onIdle(): void;
}

export class IdleWatch {
  private readonly watched = new Set<IdleWatched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly idleMs: number) {}

  add(w: IdleWatched): void {
    w.idleLast = -1;
    this.watched.add(w);
    if (this.timer === undefined && this.idleMs > 0) {
      this.timer = setInterval(this.tick, this.idleMs);
      this.timer.unref();
    }
  }

  delete(w: IdleWatched): void {
    this.watched.delete(w);
  }

  /** Streams watched now (tests). */
  get size(): number {
    return this.watched.size;
  }

  private readonly tick = (): void => {
    // Stopped when nothing is watched; the next add starts it again.
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    for (const w of this.watched) {
      const written = w.socket?.bytesWritten ?? 0;
      if (written === w.idleLast) {
        this.watched.delete(w);
        w.onIdle();
      } else {
        w.idleLast = written;
      }
    }
  };

  /** Stops the interval (shutdown); watched streams are no longer policed. */
  close(): void {
    this.watched.clear();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
