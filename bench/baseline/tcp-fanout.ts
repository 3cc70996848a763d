// Baseline fan-out: a plain Node TCP server that writes every chunk read from one source connection to
// every client connection (no parsing, no per-client queue): what the same bytes cost a Node process at
// the least. Usage: node tcp-fanout.js <sourcePort> <clientPort>; prints "ready", and on SIGUSR2 the
// bytes read from the source so far.
import { createServer, type Socket } from 'node:net';

const [sourcePort, clientPort] = process.argv.slice(2).map(Number);
const clients = new Set<Socket>();
let sourceBytes = 0;
createServer({ noDelay: true }, (source) => {
  source.on('data', (d: Buffer) => {
    sourceBytes += d.length;
    for (const c of clients) c.write(d);
  });
  source.on('error', () => source.destroy());
}).listen(sourcePort, '127.0.0.1');
createServer({ noDelay: true }, (c) => {
  clients.add(c);
  const gone = () => {
    clients.delete(c);
    c.destroy();
  };
  c.on('error', gone).on('close', gone);
  c.on('data', () => undefined);
}).listen(clientPort, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGUSR2', () => process.stdout.write(`${JSON.stringify({ sourceBytes })}\n`));
process.on('SIGTERM', () => process.exit(0));
