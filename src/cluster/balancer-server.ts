// The primary's side of the shared memory balancer: answers workers' request batches against the one
// Balancer it owns. Picks carry the worker's health table (ipc-protocol.ts), so the primary needs no
// health monitor of its own. Malformed requests are dropped and counted, never thrown.
import type { Balancer } from '../balancer/balancer.js';
import type { Origin } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import { HealthStore, loadFromWire, verdictFromWire } from './health-store.js';
import { encodeError, parseRequestBatch, pickRequestFromWire, RESPONSE_TAG, type WireRequest, type WireResponse } from './ipc-protocol.js';

/** Most distinct shared secrets kept (names are fixed in the code; the cap only bounds a misbehaving worker). */
const MAX_SECRETS = 16;

export class BalancerServer {
  /** Requests dropped as malformed. */
  dropped = 0;
  private readonly secrets = new Map<string, string>();

  constructor(
    private readonly balancer: Balancer,
    private readonly log: Logger,
    /** The workers' shared origin health (drain marks, verdicts, loads, relay counts). */
    private readonly health?: HealthStore,
  ) {}

  /**
   * Handles one message from a worker: when it is a request batch, answers it with one response batch
   * through `reply` once every request settled. Returns false for messages of other kinds.
   */
  handle(message: unknown, reply: (message: unknown) => void, from = 0): boolean {
    const batch = parseRequestBatch(message);
    if (!batch) return false;
    if (batch.dropped > 0) {
      this.dropped += batch.dropped;
      this.log.warn({ dropped: batch.dropped }, 'malformed balancer requests from a worker dropped');
    }
    if (batch.valid.length === 0) return true;
    void Promise.all(batch.valid.map((r) => this.answer(r, from))).then((b) => {
      try {
        reply({ t: RESPONSE_TAG, b });
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'balancer answer not delivered (worker gone)');
      }
    });
    return true;
  }

  private async answer(r: WireRequest, from: number): Promise<WireResponse> {
    try {
      const v = await this.call(r, from);
      return v === undefined ? { id: r.id, ok: true } : { id: r.id, ok: true, v };
    } catch (err) {
      return { id: r.id, ok: false, e: encodeError(err) };
    }
  }

  private call(r: WireRequest, from: number): Promise<unknown> {
    const b = this.balancer;
    const a = r.a;
    const str = (i: number) => {
      const v = a[i];
      if (typeof v !== 'string') throw new Error(`argument ${i} of ${r.m} must be a string`);
      return v;
    };
    const origin = (i: number) => {
      const v = a[i] as Origin | undefined;
      if (typeof v !== 'object' || v === null || typeof v.id !== 'string' || typeof v.serverId !== 'string')
        throw new Error(`argument ${i} of ${r.m} must be an origin`);
      return v;
    };
    switch (r.m) {
      case 'register':
        return b.register(origin(0));
      case 'deregister':
        return b.deregister(str(0));
      case 'origins':
        return b.origins();
      case 'pick':
        return b.pick(str(0), pickRequestFromWire(a[1]));
      case 'claim':
        return b.claim(str(0), pickRequestFromWire(a[1]));
      case 'lookup':
        return b.lookup(str(0), pickRequestFromWire(a[1]));
      case 'commitPin':
        return b.commitPin(str(0), origin(1), a[2] === undefined ? undefined : origin(2));
      case 'releasePin':
        return b.releasePin(str(0), origin(1), typeof a[2] === 'boolean' ? a[2] : undefined);
      case 'pins': {
        const limit = a[0];
        if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) throw new Error('pins: limit must be a count');
        return b.pins(limit);
      }
      case 'hlsSession':
        return b.hlsSession(str(0), str(1));
      case 'hlsSessionById':
        return b.hlsSessionById(str(0));
      case 'hlsSessionOf':
        return b.hlsSessionOf(str(0));
      case 'putRtcSession': {
        const s = a[0] as { ufrag?: unknown; streamKey?: unknown } | null;
        if (typeof s !== 'object' || s === null || typeof s.ufrag !== 'string' || typeof s.streamKey !== 'string')
          throw new Error('putRtcSession: not a session');
        return b.putRtcSession(a[0] as Parameters<Balancer['putRtcSession']>[0]);
      }
      case 'rtcSession':
        return b.rtcSession(str(0));
      case 'deleteRtcSession':
        return b.deleteRtcSession(str(0));
      case 'sharedSecret':
        return Promise.resolve(this.sharedSecret(str(0), str(1)));
      case 'recordCounts':
        return Promise.resolve(b.recordCounts?.());
      default:
        return Promise.resolve(this.callHealth(r, from, str));
    }
  }

  private callHealth(r: WireRequest, from: number, str: (i: number) => string): unknown {
    const h = this.health;
    if (!h) throw new Error('no shared health here');
    const a = r.a;
    switch (r.m) {
      case 'healthDown': {
        const v = verdictFromWire(a[1]);
        if (!v) throw new Error('healthDown: not a verdict');
        return h.publishDown(str(0), v);
      }
      case 'healthUp':
        return h.publishUp(str(0), str(1));
      case 'healthDrain': {
        const since = a[1];
        if (since !== undefined && since !== null && (typeof since !== 'number' || !Number.isFinite(since)))
          throw new Error('healthDrain: since must be a time');
        return h.setDrain(str(0), typeof since === 'number' ? since : undefined);
      }
      case 'healthLoad': {
        const load = loadFromWire(a[1]);
        if (!load) throw new Error('healthLoad: not a load');
        return h.publishLoad(str(0), load);
      }
      case 'healthRelays':
        return h.publishRelays(from, entries(a[0]));
      case 'healthRead': {
        const ids = a[0];
        if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) throw new Error('healthRead: server ids must be strings');
        // Marks are kept for the origins this balancer knows, not the asking worker's list: that list may be up
        // to its cache time old, and pruning with it dropped the drain of an origin registered since.
        return this.balancer.origins().then((views) => h.read(views.map((v) => v.origin.serverId)));
      }
      default:
        throw new Error(`unknown method ${r.m}`);
    }
  }

  private sharedSecret(name: string, fresh: string): string {
    const known = this.secrets.get(name);
    if (known !== undefined) return known;
    if (this.secrets.size >= MAX_SECRETS) throw new Error('too many shared secrets');
    this.secrets.set(name, fresh);
    return fresh;
  }
}

/** `[server id, count]` pairs sent by a worker (malformed pairs left out). */
function entries(v: unknown): [string, number][] {
  if (!Array.isArray(v)) return [];
  return v.filter(
    (e): e is [string, number] => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number' && Number.isSafeInteger(e[1]) && e[1] >= 0,
  );
}
