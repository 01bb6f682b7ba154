import type { WaitUpdate, WorkschedClient } from '../client';
import type { WorkRequest } from '../protocol/workRequest';
import { formatDuration, formatSize, formatStatus } from './format';
import { printLogEntry } from './printLogEntry';
import { StatusLine } from './statusLine';

export interface WatchOptions {
  timeoutMs?: number;
  /** Stream each attempt's log while waiting. */
  logs: boolean;
  /** No notes, no status line: only what the caller prints. */
  quiet: boolean;
}

/**
 * `submit --wait`: waits for the request (and its retries) through the SDK's waitFor, telling the person
 * what happens: a note per retry ("attempt 1 failed (exit 3); retrying as #25 in 5 s"), why a request waits
 * (its state_reason), the logs with `--logs`, and on a terminal a status line with the elapsed time.
 * Resolves with the final attempt; rejects with the SDK's WaitTimeoutError when the timeout runs out.
 */
export async function watchWorkRequest(client: WorkschedClient, id: number, options: WatchOptions): Promise<WorkRequest> {
  const started = Date.now();
  let current: WorkRequest | null = null;
  const status = new StatusLine(() => (current ? describeProgress(current, Date.now() - started) : `work request ${id}`));
  const abort = new AbortController();
  // Notes and logs print in the order things happened: a retry note after the failed attempt's last line.
  let printed: Promise<void> = Promise.resolve();
  let followedId = 0;
  let lastReason: string | null = null;

  const note = (text: string) => {
    if (options.quiet) return;
    printed = printed.then(() => status.printAbove(() => void process.stderr.write(`${text}\n`), '\n'));
  };
  const follow = (requestId: number) => {
    if (!options.logs || followedId === requestId) return;
    followedId = requestId;
    const previous = printed;
    const streamed = (async () => {
      try {
        for await (const entry of client.followLogs(requestId, { signal: abort.signal })) {
          await previous;
          await status.printAbove(() => printLogEntry(entry), entry.text);
        }
      } catch (error) {
        if (!abort.signal.aborted) note(`(the log of work request ${requestId} stopped: ${(error as Error).message})`);
      }
    })();
    printed = Promise.all([previous, streamed]).then(() => undefined);
  };
  const onUpdate = (update: WaitUpdate) => {
    if (update.kind === 'retry') {
      note(describeRetry(update.failed, update.next));
      current = update.next;
      lastReason = update.next.state_reason;
      // A retry's own reason repeats the note; an unschedulable one says something new.
      if (lastReason && !lastReason.startsWith('retry of #')) note(`work request ${current.id} is ${current.status}: ${lastReason}`);
      follow(current.id);
      return;
    }
    current = update.request;
    if (update.kind === 'unreachable') {
      note(`${update.error.message}; still waiting for work request ${current.id}`);
      return;
    }
    const reason = current.state_reason;
    if (current.status === 'pending' && reason && reason !== lastReason) note(`work request ${current.id} is pending: ${reason}`);
    lastReason = reason;
    follow(current.id);
  };

  const onInterrupt = () => {
    status.stop();
    const waited = current ?? { id };
    process.stderr.write(`\nstopped waiting; work request ${waited.id} goes on (stop it with \`worksched cancel ${waited.id}\`)\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  if (!options.quiet) status.start();
  try {
    const finished = await client.waitFor(id, { timeoutMs: options.timeoutMs, onUpdate, signal: abort.signal });
    await printed;
    return finished;
  } finally {
    abort.abort();
    await printed.catch(() => undefined);
    status.stop();
    process.off('SIGINT', onInterrupt);
  }
}

/** "work request 25 · running on build-01 · attempt 2 of 3 · 12s". */
function describeProgress(request: WorkRequest, elapsedMs: number): string {
  const parts = [`work request ${request.id}`, request.worker && request.status === 'running' ? `running on ${request.worker.name}` : formatStatus(request)];
  if (request.attempt > 1) parts.push(`attempt ${request.attempt} of ${request.max_attempts}`);
  parts.push(formatDuration(elapsedMs / 1000));
  if (request.status === 'pending' && request.state_reason) parts.push(request.state_reason);
  return parts.join(' · ');
}

/** "attempt 1 failed (exit 3); retrying as #25 in 5 s", plus what the retry raised (time limit, memory). */
export function describeRetry(failed: WorkRequest, next: WorkRequest, now: number = Date.now()): string {
  const raised: string[] = [];
  if (next.time_limit_s !== null && failed.time_limit_s !== null && next.time_limit_s > failed.time_limit_s) {
    raised.push(`a time limit of ${formatDuration(next.time_limit_s)}`);
  }
  const memory = (request: WorkRequest) => request.learned_requirements.find((item) => item.resource === 'memory')?.value ?? 0;
  if (memory(next) > memory(failed)) raised.push(`memory ≥ ${formatSize(memory(next))}`);
  const delayS = next.not_before ? (Date.parse(next.not_before) - now) / 1000 : 0;
  const when = delayS < 0.05 ? 'now' : `in ${delayS < 1 ? delayS.toFixed(1) : Math.round(delayS)} s`;
  const verb = failed.result === 'error' ? 'could not run' : failed.status === 'aborted' ? 'was aborted' : 'failed';
  return `attempt ${failed.attempt} ${verb} (${describeCause(failed)}); retrying as #${next.id} ${when}${raised.length > 0 ? ` with ${raised.join(' and ')}` : ''}`;
}

/** "exit 3", "time limit exceeded", "out of memory", "killed by signal SIGKILL", else the error code or result. */
function describeCause(request: WorkRequest): string {
  const error = request.output_data?.errors?.[0];
  if (!error) return request.result ?? request.status;
  if (error.code === 'exit_code' && typeof error.exit_code === 'number') return `exit ${error.exit_code}`;
  if (error.code === 'signal' && typeof error.signal === 'string') return `killed by signal ${error.signal}`;
  if (error.code === 'time_limit_exceeded') return 'time limit exceeded';
  if (error.code === 'out_of_memory') return 'out of memory';
  return error.code;
}
