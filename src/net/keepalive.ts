// TCP keepalive for relayed connections that may rightly stay silent for a long time (a player waiting
// for its publisher, or through an encoder's reconnect). With keepalive on, the kernel probes a silent
// peer, so one that vanished without a FIN or RST (host down, cable cut, NAT state lost) is noticed even
// though no byte is due. Node (libuv ≥ 1.45) sends the first probe after the delay, then one every
// second, and gives up after 10 unanswered probes: a vanished peer is dropped about 25 s after its last
// sign of life. Probes are not sent while written data is unacknowledged; TCP's retransmission timeout
// covers that case, and the relays' own timeouts (idle, RTMP pings) bound it sooner.
import type { Socket } from 'node:net';

/** Silence after which the kernel starts probing the peer. */
export const TCP_KEEPALIVE_DELAY_MS = 15_000;

/** Turns TCP keepalive on for a relayed socket. */
export function keepAlive(socket: Socket): void {
  socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
}
