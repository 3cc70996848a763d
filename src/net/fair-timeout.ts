// A deadline that only counts time the process could run. A plain setTimeout that fires after the process
// was stalled (a long GC, a starved CPU) runs before the I/O that completed meanwhile is read — the timers
// phase comes before the poll phase — so a peer that answered in time is declared late. Here the verdict
// waits one more loop turn (setImmediate runs after the poll phase), and a deadline that fired much later
// than due (the process was not running for a good part of the window) is re-armed once, so the peer gets
// a window the process was actually there for.
import { performance } from 'node:perf_hooks';

export interface FairTimeout {
  /** Cancels the deadline; `onExpired` will not run. Safe to call more than once. */
  clear(): void;
}

/** A deadline fired this much later than due (or more) counts as a stall: re-armed once. */
function stallThresholdMs(ms: number): number {
  return Math.max(50, ms / 2);
}

export function fairTimeout(onExpired: () => void, ms: number): FairTimeout {
  let cleared = false;
  let rearmed = false;
  let handle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const due = performance.now() + ms;
    handle = setTimeout(() => {
      if (cleared) return;
      if (!rearmed && performance.now() - due >= stallThresholdMs(ms)) {
        rearmed = true;
        arm();
        return;
      }
      setImmediate(() => {
        if (!cleared) onExpired();
      });
    }, ms);
  };
  arm();
  return {
    clear() {
      cleared = true;
      clearTimeout(handle);
    },
  };
}
