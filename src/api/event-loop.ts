// Event-loop delay for the liveness probe: node's histogram of timer lateness, read per window, so
// `/healthz` reports recent lag rather than the worst moment since startup.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export const LOOP_WINDOW_MS = 5000;

export class EventLoopMonitor {
  private histogram: IntervalHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** p99 delay of the last complete window, in ms. */
  private lastMs = 0;

  constructor(private readonly windowMs = LOOP_WINDOW_MS) {}

  start(): void {
    if (this.histogram) return;
    this.histogram = monitorEventLoopDelay({ resolution: 20 });
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.lastMs = this.currentMs();
      this.histogram?.reset();
    }, this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.histogram?.disable();
    this.timer = undefined;
    this.histogram = undefined;
  }

  /** The larger of the last window's and the current window's p99 delay (ms). */
  delayMs(): number {
    return Math.max(this.lastMs, this.currentMs());
  }

  private currentMs(): number {
    const h = this.histogram;
    if (!h || h.count === 0) return 0;
    // The histogram includes the sampling resolution itself; what matters is lateness beyond it.
    return Math.max(0, h.percentile(99) / 1e6 - 20);
  }
}
