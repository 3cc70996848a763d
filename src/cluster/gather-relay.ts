// The primary's side of gathers (gather-protocol.ts): puts worker 0's query to every started worker
// (or the one it names), waits at most ANSWER_TIMEOUT_MS for each, and sends back every answer, the
// missing ones marked, in one message. A worker that exits meanwhile counts as missing at once.
import type { Logger } from '../log.js';
import {
  ANSWER_TAG,
  ANSWER_TIMEOUT_MS,
  GATHER_TAG,
  GATHERED_TAG,
  MAX_GATHERS,
  parseAnswer,
  parseGather,
  QUERY_TAG,
  type Query,
  type WorkerAnswer,
} from './gather-protocol.js';

export interface GatherRelayOptions {
  /** Slots whose worker has started (listens), in slot order. */
  started: () => number[];
  /** Sends to a slot's worker; false when it cannot be reached. */
  send: (slot: number, message: unknown) => boolean;
  log: Logger;
  answerTimeoutMs?: number;
}

interface Waiting {
  slot: number;
  gather: Gather;
  timer: NodeJS.Timeout;
}

interface Gather {
  answers: WorkerAnswer[];
  left: number;
  done: () => void;
}

export class GatherRelay {
  private readonly waiting = new Map<number, Waiting>();
  private gathers = 0;
  private nextId = 1;
  /** Messages dropped as malformed. */
  dropped = 0;

  constructor(private readonly opts: GatherRelayOptions) {}

  /** Handles a message from a worker; false when it is not a gather or an answer. */
  handle(from: number, message: unknown): boolean {
    const tag = (message as { t?: unknown } | null)?.t;
    if (tag === GATHER_TAG) {
      const g = parseGather(message);
      if (!g) return this.drop('malformed gather');
      this.gather(g.q, g.to, (r) => this.opts.send(from, { t: GATHERED_TAG, id: g.id, r }));
      return true;
    }
    if (tag === ANSWER_TAG) {
      const a = parseAnswer(message);
      if (!a) return this.drop('malformed answer');
      const w = this.waiting.get(a.id);
      if (!w || w.slot !== from) return true; // late (timed out) or not asked of this worker
      this.settle(a.id, a.ok ? { w: from, ok: true, v: a.v } : { w: from, ok: false, ...(a.e !== undefined ? { e: a.e } : {}) });
      return true;
    }
    return false;
  }

  /** A worker exited: whatever it was asked is missing now. */
  workerGone(slot: number): void {
    for (const [id, w] of this.waiting) if (w.slot === slot) this.settle(id, { w: slot, ok: false, e: 'worker exited' });
  }

  /** Puts `q` to the started workers (or `to` alone) and calls `reply` with every answer once all are in. */
  gather(q: Query, to: number | undefined, reply: (answers: WorkerAnswer[]) => void): void {
    const slots = this.opts.started().filter((s) => to === undefined || s === to);
    if (this.gathers >= MAX_GATHERS) {
      reply(slots.map((w) => ({ w, ok: false, e: `${MAX_GATHERS} gathers already in flight` })));
      return;
    }
    const gather: Gather = { answers: [], left: slots.length, done: () => undefined };
    gather.done = () => {
      this.gathers--;
      reply(gather.answers.sort((a, b) => a.w - b.w));
    };
    this.gathers++;
    if (slots.length === 0) return gather.done();
    const timeoutMs = this.opts.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    for (const slot of slots) {
      const id = this.nextId++;
      if (this.nextId > Number.MAX_SAFE_INTEGER) this.nextId = 1;
      const timer = setTimeout(() => this.settle(id, { w: slot, ok: false, e: `no answer within ${timeoutMs} ms` }), timeoutMs);
      this.waiting.set(id, { slot, gather, timer });
      if (!this.opts.send(slot, { t: QUERY_TAG, id, q })) this.settle(id, { w: slot, ok: false, e: 'worker not reachable' });
    }
  }

  private settle(id: number, answer: WorkerAnswer): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.gather.answers.push(answer);
    if (--w.gather.left === 0) w.gather.done();
  }

  private drop(why: string): true {
    this.dropped++;
    this.opts.log.warn({ why }, 'message from a worker dropped');
    return true;
  }
}
