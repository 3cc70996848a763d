// Baseline for stream-relay benchmarks: a plain Node TCP byte relay (`net` sockets joined with pipe()),
// no parsing at all — the practical limit for any Node proxy on this machine.
// Usage: node tcp-pipe.js <listen port> <target port> [target host]
import { connect, createServer } from 'node:net';

const [listenPort, targetPort, targetHost = '127.0.0.1'] = process.argv.slice(2);
createServer({ noDelay: true }, (client) => {
  const origin = connect({ port: Number(targetPort), host: targetHost, noDelay: true });
  const close = () => {
    client.destroy();
    origin.destroy();
  };
  client.on('error', close).on('close', close);
  origin.on('error', close).on('close', close);
  client.pipe(origin);
  origin.pipe(client);
}).listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
