import type { WorkRequest, WorkRequestStatus } from '../protocol/workRequest';
import { sleep } from '../common/sleep';
import { WorkschedConnectionError } from './http';

export interface WaitForOptions {
  /** Give up after this long: rejects with a WaitTimeoutError carrying the request as last seen. Default: never. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Follow `superseded_by` to the attempt that retries a failed one and resolve with the last (default true). */
  followRetries?: boolean;
  /** Told what the wait sees: the request at first and at each change of status, each retry, a lost server. */
  onUpdate?: (update: WaitUpdate) => void;
}

export type WaitUpdate =
  | { kind: 'state'; request: WorkRequest }
  | { kind: 'retry'; failed: WorkRequest; next: WorkRequest }
  | { kind: 'unreachable'; request: WorkRequest; error: WorkschedConnectionError };

/** The wait ran out of time; `request` is how it was last seen (its `state_reason` often says why). */
export class WaitTimeoutError extends Error {
  constructor(
    readonly request: WorkRequest,
    readonly timeoutMs: number,
  ) {
    super(`work request ${request.id} is still ${request.status} after ${timeoutMs} ms`);
    this.name = 'WaitTimeoutError';
  }
}

/** What waitForWorkRequest needs from the client: a read that may long-poll for a change of status. */
export interface WorkRequestReader {
  getWorkRequest(id: number, options?: { waitS?: number; whileStatus?: WorkRequestStatus; signal?: AbortSignal }): Promise<WorkRequest>;
}

const ENDED: ReadonlySet<WorkRequestStatus> = new Set(['completed', 'aborted']);
/** Each long-poll asks the server to hold the answer this long at most. */
const LONG_POLL_S = 30;
const RECONNECT_MS = 1_000;

/**
 * Resolves with the request once it has completed or been aborted, by the server's long-poll (answered as soon
 * as the status changes), and by default with the final attempt of a retried one.
 */
export async function waitForWorkRequest(client: WorkRequestReader, id: number, options: WaitForOptions = {}): Promise<WorkRequest> {
  const { signal, onUpdate } = options;
  const followRetries = options.followRetries ?? true;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let current = await client.getWorkRequest(id, { signal });
  onUpdate?.({ kind: 'state', request: current });
  let unreachable = false;
  for (;;) {
    if (ENDED.has(current.status)) {
      if (!followRetries || current.superseded_by === null) return current;
      const next = await client.getWorkRequest(current.superseded_by, { signal });
      onUpdate?.({ kind: 'retry', failed: current, next });
      current = next;
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(current, options.timeoutMs ?? 0);
    let seen: WorkRequest;
    try {
      seen = await client.getWorkRequest(current.id, { waitS: Math.min(LONG_POLL_S, left / 1000), whileStatus: current.status, signal });
    } catch (error) {
      // A server restart must not end a long wait: keep trying until the deadline.
      if (!(error instanceof WorkschedConnectionError)) throw error;
      if (!unreachable) onUpdate?.({ kind: 'unreachable', request: current, error });
      unreachable = true;
      await sleep(Math.min(RECONNECT_MS, Math.max(0, deadline - Date.now())), signal);
      signal?.throwIfAborted();
      continue;
    }
    const changed = seen.status !== current.status || seen.state_reason !== current.state_reason || unreachable;
    unreachable = false;
    current = seen;
    if (changed) onUpdate?.({ kind: 'state', request: current });
  }
}
