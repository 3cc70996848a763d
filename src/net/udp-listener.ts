// A UDP listener for datagram protocols (WebRTC media, SRT): bind errors naming the variable, large
// socket buffers so bursts are not dropped, and errors after startup logged (they never stop the listener).
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import { formatListenAddress, type ListenAddress } from '../config/listen.js';
import type { Logger } from '../log.js';
import { ListenError } from './service.js';

export interface UdpListenerOptions {
  variable: string;
  listen: ListenAddress;
  /** SO_RCVBUF / SO_SNDBUF request (the kernel may cap it: see net.core.rmem_max). */
  bufferBytes: number;
  log: Logger;
  onFatal: (err: Error) => void;
}

/** Binds a UDP socket (IPv6 when the listen host is an IPv6 literal or unspecified dual-stack). */
export async function bindUdp(opts: UdpListenerOptions): Promise<Socket> {
  const host = opts.listen.host;
  const type = host !== undefined && isIPv6(host) ? 'udp6' : 'udp4';
  const socket = createUdpSocket(type);
  const text = formatListenAddress(opts.listen);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new ListenError(opts.variable, text, err));
    socket.once('error', onError);
    socket.bind({ port: opts.listen.port, address: host ?? (type === 'udp4' ? '0.0.0.0' : undefined) }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  applyUdpBuffers(socket, opts.bufferBytes, opts.log);
  // After the bind, an 'error' is a failed receive or a send without a callback: the socket keeps
  // working, and a peer must not be able to stop the listener by provoking one. Logged, at most once a second.
  let lastLogged = 0;
  socket.on('error', (err) => {
    const now = Date.now();
    if (now - lastLogged < 1000) return;
    lastLogged = now;
    opts.log.warn({ err: err.message }, 'UDP socket error (listener keeps running)');
  });
  return socket;
}

/** Requests large kernel buffers on a bound socket and logs what the kernel granted. */
export function applyUdpBuffers(socket: Socket, bytes: number, log: Logger): void {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
    log.debug({ requested: bytes, recv: socket.getRecvBufferSize(), send: socket.getSendBufferSize() }, 'UDP buffers');
  } catch (err) {
    log.warn({ err: (err as Error).message, requested: bytes }, 'could not set UDP buffer sizes');
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * Resolves IP literals synchronously. dgram resolves the destination of every send(); with the default
 * lookup even a literal costs a dns.lookup round through the next tick, once per relayed datagram.
 */
function literalFirstLookup(host: string, options: LookupOneOptions, callback: LookupCallback): void {
  const family = isIP(host);
  if (family !== 0) callback(null, host, family);
  else dnsLookup(host, options, callback);
}

/** A UDP socket for relaying (listening or upstream): IP-literal destinations skip DNS. */
export function createUdpSocket(type: 'udp4' | 'udp6'): Socket {
  return createSocket({ type, reuseAddr: false, lookup: literalFirstLookup as never });
}
