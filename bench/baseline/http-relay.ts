// Baseline relay for HLS benchmarks: a plain node:http server that forwards each GET to one origin over a
// keep-alive agent and pipes the answer back, with no routing, rewriting or header policy — the practical
// floor for any Node HTTP proxy on this machine. Usage: node http-relay.js <listenPort> <targetHost> <targetPort>
import { Agent, createServer, request } from 'node:http';

const [listenPort, host, port] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
createServer((req, res) => {
  const upstream = request({ host, port: Number(port), path: req.url, method: req.method, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  req.pipe(upstream);
}).listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
