// A worker's answers to the primary's queries (gather-protocol.ts), from its own view.
import type { LocalAnswers } from '../api/proxy-view.js';
import type { WorkerStreams } from './aggregate.js';
import type { WorkerStats } from './cluster-view.js';
import type { Query } from './gather-protocol.js';

export function answerer(local: LocalAnswers): (q: Query) => Promise<unknown> {
  return async (q) => {
    switch (q.k) {
      case 'count':
        return (await local.view.clients({ stream: q.stream, offset: 0, limit: 0 })).total;
      case 'clients':
        return (await local.view.clients({ stream: q.stream, offset: q.offset, limit: q.limit })).items;
      case 'client':
        return (await local.view.client(q.id)) ?? null;
      case 'kick':
        return (await local.view.kick(q.id)) ?? null;
      case 'streams': {
        const v = await local.view.streams(q.keys);
        const out: WorkerStreams = { tallies: [...v.tallies], publishers: [...v.publishers] };
        return out;
      }
      case 'stats': {
        const out: WorkerStats = { pid: process.pid, clients: local.clients(), stats: local.stats() };
        return out;
      }
      case 'metrics':
        return local.metrics();
      case 'ping':
        return null;
      case 'sync':
        return local.sync();
      case 'forget':
        return local.forget(q.server);
    }
  };
}
