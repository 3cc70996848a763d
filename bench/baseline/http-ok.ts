// Baseline for HTTP API benchmarks: a bare Node HTTP server that reads the body and answers a fixed
// JSON, with no routing or validation — the practical ceiling for any Node HTTP service on this machine.
// Usage: node http-ok.js <port>
import { createServer } from 'node:http';

const body = JSON.stringify({ code: 0, pid: String(process.pid) });
createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
