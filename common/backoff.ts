/**
 * Capped exponential back-off with ±25 % jitter (a "randomization factor" of 0.25, as in gRPC's connection
 * back-off and Google's ExponentialBackOff): retry n (from 0) waits base × 2^n, capped at `max`, times a uniform
 * factor in [0.75, 1.25], and never more than `max` (jitter included). Not "full jitter" (uniform in [0, ceiling]):
 * a wait never drops below three quarters of its step, so a retry is never near-instant. Units are the caller's.
 */
export function backoffDelay(retry: number, base: number, max: number): number {
  const step = Math.min(max, base * 2 ** Math.max(0, retry));
  return Math.min(max, step * (0.75 + Math.random() * 0.5));
}

/** The delays of one retry loop: 0.5 s, 1 s, 2 s … up to `maxMs` (each ±25 %), back to the start on `reset()`. */
export class Backoff {
  private retry = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
  ) {}

  nextDelayMs(): number {
    const delay = backoffDelay(this.retry, this.baseMs, this.maxMs);
    this.retry = Math.min(this.retry + 1, 30);
    return delay;
  }

  reset(): void {
    this.retry = 0;
  }
}
