// Baseline for the WebRTC benchmark: the plainest Node UDP relay. Each client address gets one
// upstream socket connected to a fixed target (found by a Map lookup per datagram, as the proxy does);
// datagrams go both ways unchanged, the origin's back from the listening socket. No STUN, no sessions,
// no timers: what relaying through Node's dgram costs before any WebRTC logic.
// Usage: node webrtc-udp-relay.js <listen port> <target port> [buffer bytes]
import { createSocket, type Socket } from 'node:dgram';

const [listenPort, targetPort, bufferBytes = 8_388_608] = process.argv.slice(2).map(Number);

interface Client {
  address: string;
  port: number;
  upstream: Socket;
  connected: boolean;
  queue: Buffer[];
}

const listener = createSocket('udp4');
const clients = new Map<string, Client>();
const ignore = () => undefined;

listener.on('message', (datagram, rinfo) => {
  const key = `${rinfo.address}|${rinfo.port}`;
  let client = clients.get(key);
  if (!client) {
    const upstream = createSocket('udp4');
    const c: Client = { address: rinfo.address, port: rinfo.port, upstream, connected: false, queue: [] };
    upstream.on('message', (d) => listener.send(d, c.port, c.address, ignore));
    upstream.on('error', ignore);
    upstream.connect(targetPort!, '127.0.0.1', () => {
      upstream.setRecvBufferSize(bufferBytes!);
      upstream.setSendBufferSize(bufferBytes!);
      c.connected = true;
      for (const d of c.queue) upstream.send(d, ignore);
      c.queue = [];
    });
    clients.set(key, c);
    client = c;
  }
  if (client.connected) client.upstream.send(datagram, ignore);
  else client.queue.push(datagram);
});

listener.bind(listenPort!, '127.0.0.1', () => {
  listener.setRecvBufferSize(bufferBytes!);
  listener.setSendBufferSize(bufferBytes!);
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => process.exit(0));
