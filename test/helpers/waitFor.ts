/**
 * The one "poll until" of the tests and the benchmark: call a probe until its answer says done, or fail with what
 * was awaited and the last answer (or error) seen. No jest here, so the benchmark can use it too.
 */
import { sleep } from '../../common/sleep';

export interface PollOptions<T> {
  /** What is awaited, for the timeout message ("work request 3 to complete"). */
  description: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** When the answer is final; by default any answer but undefined, null or false. */
  until?: (value: T) => boolean;
  /** How the last answer reads in the timeout message; JSON by default. */
  describe?: (value: T) => string;
}

const isAnswer = (value: unknown) => value !== undefined && value !== null && value !== false;

/**
 * Calls `probe` every `intervalMs` (100 ms) until `until(answer)` holds and resolves with that answer; a probe
 * that throws counts as "not yet". After `timeoutMs` (15 s) rejects with the description and the last answer.
 */
export async function pollUntil<T>(probe: () => T | Promise<T>, options: PollOptions<T> & { until: (value: T) => boolean }): Promise<T>;
export async function pollUntil<T>(probe: () => T | Promise<T>, options: PollOptions<T>): Promise<Exclude<T, undefined | null | false>>;
export async function pollUntil<T>(probe: () => T | Promise<T>, options: PollOptions<T>): Promise<T> {
  const { description, timeoutMs = 15_000, intervalMs = 100, until = isAnswer } = options;
  const started = performance.now();
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const elapsed = performance.now() - started;
    if (elapsed > timeoutMs) {
      throw new Error(`timed out after ${Math.round(elapsed)} ms waiting for ${description}; ${lastSeen(last, options.describe)}`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, timeoutMs - elapsed) + 1));
  }
}

function lastSeen<T>(last: { value: T } | { error: unknown } | undefined, describe?: (value: T) => string): string {
  if (!last) return 'no answer';
  if ('error' in last) return `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`;
  const text = describe ? describe(last.value) : JSON.stringify(last.value) ?? String(last.value);
  return `last answer: ${text.length > 500 ? `${text.slice(0, 500)}…` : text}`;
}
