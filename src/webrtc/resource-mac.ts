// The key that makes WHIP/WHEP resource URLs unforgeable. PROXY_SESSION_SECRET when set; otherwise a
// random secret, shared by every proxy of the cluster through the balancer when it is shared (Redis:
// created once with SET NX), so a resource URL given out by one proxy is accepted by any other.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Balancer } from '../balancer/balancer.js';

/** Name of the shared secret in the balancer. */
const SECRET_NAME = 'whip-resource';
/** MAC length on the wire (base64url of 24 bytes: 192 bits). */
const MAC_BYTES = 24;

/** MACs with a known key (sync, for the request path). */
export interface ResourceMac {
  mac(input: string): string;
  verify(input: string, mac: string): boolean;
}

/** Gets the key once (a failed fetch is retried on the next request), then MACs synchronously. */
export class ResourceMacKey {
  private ready: Promise<ResourceMac> | undefined;

  constructor(
    private readonly configured: string | undefined,
    private readonly balancer: Pick<Balancer, 'sharedSecret'>,
  ) {}

  /** The MAC functions; rejects (BalancerUnavailableError) when a shared secret cannot be read yet. */
  get(): Promise<ResourceMac> {
    this.ready ??= this.load().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async load(): Promise<ResourceMac> {
    const fresh = randomBytes(32).toString('base64url');
    const secret = this.configured ?? (this.balancer.sharedSecret ? await this.balancer.sharedSecret(SECRET_NAME, fresh) : fresh);
    return macWith(Buffer.from(secret, 'utf8'));
  }
}

/** HMAC-SHA256 truncated to MAC_BYTES, base64url; verification in constant time. */
export function macWith(key: Buffer): ResourceMac {
  const mac = (input: string) => createHmac('sha256', key).update(input, 'utf8').digest().subarray(0, MAC_BYTES).toString('base64url');
  return {
    mac,
    verify(input, given) {
      const expected = Buffer.from(mac(input), 'utf8');
      const got = Buffer.from(given, 'utf8');
      return got.length === expected.length && timingSafeEqual(got, expected);
    },
  };
}
