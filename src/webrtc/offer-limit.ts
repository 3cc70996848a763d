// A per-client-address rate limit on WebRTC offers (WHIP/WHEP and the JSON API): each offer makes the
// proxy open an origin request and the origin build a session, so one address sending offers in a loop
// must not take the origins' capacity from everyone else. A token bucket per address: a burst of the
// full per-minute allowance, refilled evenly over the minute.

export interface OfferLimitOptions {
  /** Offers one address may send per minute (PROXY_MAX_OFFERS_PER_IP). */
  perMinute: number;
  now: () => number;
  /** Addresses tracked at once; past it the least recently seen is forgotten (its allowance restarts). */
  maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const MINUTE_MS = 60_000;

export class OfferRateLimit {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxAddresses: number;

  constructor(private readonly opts: OfferLimitOptions) {
    this.maxAddresses = opts.maxAddresses ?? 100_000;
  }

  /** Addresses tracked now (bounded by maxAddresses). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one offer from `address`'s allowance; false when it has none left. */
  take(address: string): boolean {
    const now = this.opts.now();
    const cap = this.opts.perMinute;
    const b = this.buckets.get(address);
    let tokens = cap;
    if (b) {
      tokens = Math.min(cap, b.tokens + ((now - b.at) * cap) / MINUTE_MS);
      // Re-inserted below so the Map stays ordered by last use.
      this.buckets.delete(address);
    }
    const allowed = tokens >= 1;
    if (allowed) tokens -= 1;
    this.buckets.set(address, { tokens, at: now });
    if (this.buckets.size > this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
    return allowed;
  }
}

/** The client's address as one key: an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function clientAddressKey(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
