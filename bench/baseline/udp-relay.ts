// Baseline for the SRT benchmark: a plain Node UDP relay with no SRT knowledge. Each client address gets
// one upstream socket connected to a fixed target; datagrams are forwarded both ways unchanged. This is
// the floor of what relaying through Node's dgram costs on this machine.
// Usage: node udp-relay.js <listen port> <target port> [buffer bytes]
import { createSocket, type Socket } from 'node:dgram';

const [listenPort, targetPort, bufferBytes = 8_388_608] = process.argv.slice(2).map(Number);

interface Client {
  address: string;
  port: number;
  upstream: Socket;
  /** Datagrams that arrived while the upstream socket was connecting. */
  pending: Buffer[] | undefined;
}

const listener = createSocket('udp4');
const clients = new Map<string, Client>();
let last: Client | undefined;

function open(address: string, port: number): Client {
  const upstream = createSocket('udp4');
  const client: Client = { address, port, upstream, pending: [] };
  upstream.on('message', (datagram) => listener.send(datagram, client.port, client.address));
  upstream.on('error', () => undefined);
  upstream.connect(targetPort!, '127.0.0.1', () => {
    upstream.setRecvBufferSize(bufferBytes!);
    upstream.setSendBufferSize(bufferBytes!);
    for (const d of client.pending ?? []) upstream.send(d);
    client.pending = undefined;
  });
  return client;
}

listener.on('message', (datagram, rinfo) => {
  let client = last !== undefined && last.port === rinfo.port && last.address === rinfo.address ? last : undefined;
  if (client === undefined) {
    const key = `${rinfo.address}|${rinfo.port}`;
    client = clients.get(key);
    if (client === undefined) {
      client = open(rinfo.address, rinfo.port);
      clients.set(key, client);
    }
    last = client;
  }
  if (client.pending !== undefined) client.pending.push(datagram);
  else client.upstream.send(datagram);
});

listener.bind(listenPort!, '127.0.0.1', () => {
  listener.setRecvBufferSize(bufferBytes!);
  listener.setSendBufferSize(bufferBytes!);
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => process.exit(0));
