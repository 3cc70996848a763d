// The global brake: when the V8 heap passes a share of its limit, new work (connections, requests,
// sessions) is refused until it falls back, so client input can never drive the process into a
// heap-out-of-memory abort. Running work is left alone.
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../log.js';

export interface HeapGuardOptions {
  /** Share of the heap limit (0..1) above which new work is refused (PROXY_MAX_HEAP_RATIO). */
  ratio: number;
  log: Logger;
  /** Heap in use and its limit, in bytes (tests inject their own). */
  heap?: () => { used: number; limit: number };
  now?: () => number;
  /** The heap is read at most this often; in between the last verdict stands. */
  sampleMs?: number;
}

const v8Heap = () => {
  const h = getHeapStatistics();
  return { used: h.used_heap_size, limit: h.heap_size_limit };
};

export class HeapGuard {
  private readonly heap: () => { used: number; limit: number };
  private readonly now: () => number;
  private readonly sampleMs: number;
  private sampledAt = -Infinity;
  private over = false;
  /** Refusals in the current episode (logged when it ends). */
  private refused = 0;

  constructor(private readonly opts: HeapGuardOptions) {
    this.heap = opts.heap ?? v8Heap;
    this.now = opts.now ?? Date.now;
    this.sampleMs = opts.sampleMs ?? 100;
  }

  /** True while new work must be refused. Cheap: the heap is sampled at most every sampleMs. */
  overloaded(): boolean {
    const now = this.now();
    if (now - this.sampledAt >= this.sampleMs) {
      this.sampledAt = now;
      const { used, limit } = this.heap();
      const over = used > limit * this.opts.ratio;
      if (over && !this.over) {
        this.opts.log.warn({ heapUsed: used, heapLimit: limit, ratio: this.opts.ratio }, 'heap above PROXY_MAX_HEAP_RATIO: refusing new work');
      } else if (!over && this.over) {
        this.opts.log.info({ heapUsed: used, refused: this.refused }, 'heap back below PROXY_MAX_HEAP_RATIO: accepting new work');
        this.refused = 0;
      }
      this.over = over;
    }
    if (this.over) this.refused++;
    return this.over;
  }
}
