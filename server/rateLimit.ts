/**
 * Token buckets, one per API token, in this process: a token may make `burst` calls at once and `ratePerS` a
 * second on average. With several server processes each keeps its own buckets, so the limit a token sees is
 * per replica (N replicas let N× through): the cap is on runaway clients, not an exact quota, and needs no
 * database round trip or shared store (rate-limiter-flexible would bring Redis/PostgreSQL stores we do not need).
 */
export class TokenBuckets {
  private readonly buckets = new Map<number, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    /** Buckets kept at most; full ones are dropped first (they mean nothing). */
    private readonly maxKeys = 100_000,
  ) {}

  /** Off when the rate is 0. */
  get enabled(): boolean {
    return this.ratePerS > 0;
  }

  /** Takes one call for `key`: 0 when allowed, else the seconds (> 0) until one is. `now` in ms. */
  take(key: number, now: number = performance.now()): number {
    if (!this.enabled) return 0;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.dropFull(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerS);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.ratePerS;
  }

  private dropFull(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerS >= this.burst) this.buckets.delete(key);
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}
