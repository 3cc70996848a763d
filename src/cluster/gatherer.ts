// Both worker ends of gathers (gather-protocol.ts): every worker answers the primary's queries with
// its own view (answerQueries); worker 0, the API owner, asks for gathers (Gatherer).
import type { Logger } from '../log.js';
import { ANSWER_TAG, GATHER_TAG, GATHER_TIMEOUT_MS, MAX_GATHERS, parseGathered, parseQueryMessage, type Query, type WorkerAnswer } from './gather-protocol.js';
import type { Channel } from './ipc-protocol.js';

/** A gather that could not be made or was not answered at all (the primary is gone or overloaded). */
export class GatherError extends Error {
  override readonly name = 'GatherError';
}

interface Pending {
  resolve: (answers: WorkerAnswer[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class Gatherer {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly channel: Channel,
    private readonly timeoutMs = GATHER_TIMEOUT_MS,
  ) {
    this.unsubscribe = channel.onMessage((m) => {
      const g = parseGathered(m);
      if (!g) return;
      const p = this.pending.get(g.id);
      if (!p) return;
      this.pending.delete(g.id);
      clearTimeout(p.timer);
      p.resolve(g.r);
    });
  }

  /** Every started worker's answer to `q` (or worker `to`'s alone), missing ones marked `ok: false`. */
  gather(q: Query, to?: number): Promise<WorkerAnswer[]> {
    if (this.pending.size >= MAX_GATHERS) return Promise.reject(new GatherError(`${MAX_GATHERS} requests to the other workers already wait`));
    const id = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER) this.nextId = 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new GatherError(`the primary process did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.channel.send({ t: GATHER_TAG, id, q, ...(to === undefined ? {} : { to }) });
      } catch (err) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new GatherError(`cannot reach the primary process: ${(err as Error).message}`));
      }
    });
  }

  close(): void {
    this.unsubscribe();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new GatherError('closed'));
    }
  }
}

/** Answers the primary's queries with `answer`; returns the unsubscribe function. */
export function answerQueries(channel: Channel, answer: (q: Query) => Promise<unknown>, log: Logger): () => void {
  return channel.onMessage((m) => {
    const query = parseQueryMessage(m);
    if (!query) return;
    const reply = (message: Record<string, unknown>) => {
      try {
        channel.send({ t: ANSWER_TAG, id: query.id, ...message });
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'answer to the primary not sent');
      }
    };
    answer(query.q).then(
      (v) => reply({ ok: true, v }),
      (err: unknown) => reply({ ok: false, e: err instanceof Error ? err.message : String(err) }),
    );
  });
}
