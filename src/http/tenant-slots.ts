/**
 * Per-tenant bounds on what a request holds open in this process (event streams, `Prefer: wait`
 * requests): one tenant cannot take every socket and listener of an API process.
 */
import { AppError } from '../errors/app-error.js';

/**
 * @example
 * const release = streams.take(req.tenant); // throws 429 past the limit
 * res.on('close', release);
 */
export class TenantSlots {
  private readonly held = new Map<string, number>();

  constructor(private readonly limit: number, private readonly what: string) {}

  /** Takes a slot, or throws rate_limited (429, Retry-After) when the tenant holds them all. */
  take(tenant: string): () => void {
    const n = this.held.get(tenant) ?? 0;
    if (n >= this.limit) {
      throw new AppError('rate_limited', `This tenant already holds ${this.limit} ${this.what} on this server (the limit); retry when some have ended.`, { retryAfter: 1 });
    }
    this.held.set(tenant, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(tenant) ?? 1) - 1;
      if (left <= 0) this.held.delete(tenant);
      else this.held.set(tenant, left);
    };
  }

  /** Slots the tenant holds now. */
  inUse(tenant: string): number {
    return this.held.get(tenant) ?? 0;
  }
}
