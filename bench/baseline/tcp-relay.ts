// Baseline relay: a plain Node TCP byte pipe to one target (`net` + pipe), the practical limit for any
// Node proxy. Usage: node tcp-relay.js <listenPort> <targetHost> <targetPort>
import { connect, createServer } from 'node:net';

const [listenPort, host, port] = process.argv.slice(2);
createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: host!, port: Number(port), noDelay: true });
  client.pipe(upstream).pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.once('error', end).once('close', end);
  upstream.once('error', end).once('close', end);
}).listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
