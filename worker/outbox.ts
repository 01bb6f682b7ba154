import fs from 'node:fs';
import path from 'node:path';
import { hasErrorCode, isTransient } from '../client/errors';
import { WorkschedApiError } from '../client/http';
import { ERROR_CODES, type OutputData } from '../protocol/outputData';
import { MAX_RESULTS_PER_CALL, type CompletionAnswer, type CompletionItem } from '../protocol/workerApi';
import type { LogEntry, WorkRequestResult } from '../protocol/workRequest';
import { Backoff } from '../common/backoff';
import type { Logger } from '../common/logger';
import { sleep } from '../common/sleep';
import type { LogSpool } from './logSpool';
import type { WorkerServerApi } from './serverApi';

/** `logs`: the task's last log entries, carried with the report (sent before it on the per-request route). */
export type CompletionOutboxItem = {
  kind: 'complete';
  id: number;
  acknowledged_seq: number;
  body: { result: WorkRequestResult; output_data: OutputData };
  logs?: LogEntry[];
};
export type OutboxItem =
  | CompletionOutboxItem
  | { kind: 'release'; id: number; acknowledged_seq: number; body: { reason: string; output_data: OutputData } };

const LOG_BATCH = 500;

/**
 * Most bytes of reports one call carries (a result may hold up to 1 MiB): well under the server's body limit of
 * those routes (WORKSCHED_MAX_BATCH_BODY, 16 MiB by default). One report larger than this still goes alone.
 */
export const MAX_REPORT_BYTES_PER_CALL = 4 * 1024 * 1024;

/**
 * Finished tasks' reports, written to disk before the first delivery attempt: a server outage or a worker
 * restart loses nothing, and a report leaves the disk only once the server answered it (200, or a 4xx that
 * will not change). Delivery sends a task's unacknowledged log entries first, then the report. Every report
 * that is ready goes in one call: `send()` sends at once, and what becomes ready while a call is in flight
 * goes in the next one (POST /workers/complete; releases one by one). A claim about to be sent can carry
 * them instead (`takeForClaim`). Failed deliveries are retried with capped exponential back-off and jitter.
 */
export class Outbox {
  private wake: (() => void) | null = null;
  private readonly dir: string;
  /** Every report on disk, by request id. */
  private readonly queued = new Map<number, { file: string; item: OutboxItem; bytes: number }>();
  /** Ids in a call that has not answered yet (a batch, a release or a claim carrying them). */
  private readonly inFlight = new Set<number>();
  private sending: Promise<boolean> | null = null;
  private sendAgain = false;

  constructor(
    stateDir: string,
    private readonly api: WorkerServerApi,
    private readonly spool: LogSpool,
    private readonly logger: Logger,
    /** Called when reports left the queue (their slots are free on the server too). */
    private readonly onDelivered: () => void = () => undefined,
  ) {
    this.dir = path.join(stateDir, 'outbox');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const file of this.files()) {
      const item = this.read(file);
      if (item) this.queued.set(item.id, { file, item, bytes: fs.statSync(file).size });
    }
  }

  /**
   * Writes the report to disk (off the event loop: with many tasks at once, synchronous writes held up every
   * other task); then it is sent by the next `send()` or carried by the next claim.
   */
  async store(item: OutboxItem): Promise<void> {
    const file = path.join(this.dir, `${item.id}.json`);
    const temporary = `${file}.tmp`;
    const text = JSON.stringify(item);
    await fs.promises.writeFile(temporary, text);
    await fs.promises.rename(temporary, file);
    this.queued.set(item.id, { file, item, bytes: Buffer.byteLength(text) });
  }

  /** Stores the report and sends it. Resolves true when everything ready was delivered (else it stays queued). */
  async put(item: OutboxItem): Promise<boolean> {
    await this.store(item);
    return this.send();
  }

  pendingCount(): number {
    return this.queued.size;
  }

  /** Requests whose report waits here: still this worker's as far as the server should know. */
  pendingIds(): number[] {
    return [...this.queued.keys()];
  }

  /** The same before an Outbox exists (the identity check heartbeats before the agent has a token). */
  static queuedIds(stateDir: string): number[] {
    const dir = path.join(stateDir, 'outbox');
    return fs.existsSync(dir) ? idsOf(fs.readdirSync(dir).filter((name) => name.endsWith('.json'))) : [];
  }

  /**
   * Sends every report not already in flight, in one call; if a call is in flight, what is ready now goes in
   * the next one, and this resolves after it. True when nothing was left undelivered.
   */
  send(): Promise<boolean> {
    if (this.sending) {
      this.sendAgain = true;
      return this.sending;
    }
    const rounds = async (): Promise<boolean> => {
      try {
        let delivered: boolean;
        do {
          this.sendAgain = false;
          delivered = await this.sendReady();
        } while (this.sendAgain && delivered);
        return delivered;
      } finally {
        this.sending = null;
      }
    };
    this.sending = rounds();
    return this.sending;
  }

  /** `send()` after the current turn (a claim woken by the same event may carry the reports first). */
  sendSoon(): void {
    setImmediate(() => {
      void this.send().then((delivered) => {
        if (!delivered) this.wake?.();
      });
    });
  }

  /**
   * Reports a claim about to be sent can carry (completions not in flight whose logs are all delivered), now
   * in flight: give them back with `settleCarried` or `returnCarried`.
   */
  takeForClaim(limit = MAX_RESULTS_PER_CALL): CompletionOutboxItem[] {
    const carried: CompletionOutboxItem[] = [];
    let bytes = 0;
    for (const { item, bytes: size } of this.queued.values()) {
      if (carried.length >= limit) break;
      if (item.kind !== 'complete' || this.inFlight.has(item.id)) continue;
      if (carried.length > 0 && bytes + size > MAX_REPORT_BYTES_PER_CALL) break;
      if (this.spool.read(item.id, item.acknowledged_seq).length > 0) continue;
      this.inFlight.add(item.id);
      carried.push(item);
      bytes += size;
    }
    return carried;
  }

  /** The claim's answers for what it carried; anything it did not answer goes back to the queue. */
  settleCarried(carried: CompletionOutboxItem[], answers: CompletionAnswer[]): void {
    for (const item of carried) this.inFlight.delete(item.id);
    const settled = this.settle(carried, answers);
    if (settled > 0) this.onDelivered();
    if (settled < carried.length) this.wake?.();
  }

  /** The claim failed: its reports go back to the queue, to be retried. */
  returnCarried(carried: CompletionOutboxItem[]): void {
    if (carried.length === 0) return;
    for (const item of carried) this.inFlight.delete(item.id);
    this.wake?.();
  }

  /** Delivers queued reports until `signal` aborts; sleeps with back-off while the server is unreachable. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    while (!signal.aborted) {
      if (this.ready().length === 0) {
        await new Promise<void>((resolve) => {
          const onAbort = () => resolve();
          this.wake = () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
          signal.addEventListener('abort', onAbort, { once: true });
        });
        this.wake = null;
        continue;
      }
      if (await this.send()) backoff.reset();
      else await sleep(backoff.nextDelayMs(), signal);
    }
  }

  /** At shutdown: waits for calls in flight, sends what is left once; true when the queue is empty afterwards. */
  async drainOnce(): Promise<boolean> {
    await this.sending;
    await this.send();
    return this.queued.size === 0;
  }

  private ready(): OutboxItem[] {
    return [...this.queued.values()].map(({ item }) => item).filter((item) => !this.inFlight.has(item.id));
  }

  /** One call's worth: releases one by one, completions (after their logs) in batches. */
  private async sendReady(): Promise<boolean> {
    const ready = this.ready();
    if (ready.length === 0) return true;
    for (const item of ready) this.inFlight.add(item.id);
    let delivered = true;
    let settled = 0;
    try {
      const completions: CompletionOutboxItem[] = [];
      for (const item of ready) {
        if (!(await this.deliverLogs(item))) delivered = false;
        else if (item.kind === 'release') {
          if (await this.deliverOne(item)) settled += 1;
          else delivered = false;
        } else completions.push(item);
      }
      for (const chunk of this.chunksForCalls(completions)) {
        const answered = await this.deliverBatch(chunk);
        settled += answered;
        if (answered < chunk.length) delivered = false;
      }
    } finally {
      for (const item of ready) this.inFlight.delete(item.id);
    }
    if (settled > 0) this.onDelivered();
    return delivered;
  }

  /** Completions in calls of at most MAX_RESULTS_PER_CALL reports and MAX_REPORT_BYTES_PER_CALL bytes (at least one each). */
  private chunksForCalls(completions: CompletionOutboxItem[]): CompletionOutboxItem[][] {
    const chunks: CompletionOutboxItem[][] = [];
    let chunk: CompletionOutboxItem[] = [];
    let bytes = 0;
    for (const item of completions) {
      const size = this.queued.get(item.id)?.bytes ?? 0;
      if (chunk.length > 0 && (chunk.length >= MAX_RESULTS_PER_CALL || bytes + size > MAX_REPORT_BYTES_PER_CALL)) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(item);
      bytes += size;
    }
    if (chunk.length > 0) chunks.push(chunk);
    return chunks;
  }

  /** The task's log entries the server has not acknowledged (those spooled, or given); false to retry later. */
  private async deliverLogs(item: OutboxItem, entries = this.spool.read(item.id, item.acknowledged_seq)): Promise<boolean> {
    try {
      for (let index = 0; index < entries.length; index += LOG_BATCH) {
        await this.api.postLogs(item.id, entries.slice(index, index + LOG_BATCH)).catch((error: unknown) => {
          if (!isRefusal(error)) throw error;
        });
      }
      return true;
    } catch (error) {
      this.logger.warn({ workRequest: item.id, err: describe(error) }, 'cannot deliver the result yet (its logs go first); it is kept on disk and retried');
      return false;
    }
  }

  /** POST /workers/complete; returns how many were answered (and removed). */
  private async deliverBatch(items: CompletionOutboxItem[]): Promise<number> {
    let answers: CompletionAnswer[];
    try {
      answers = (await this.api.completeBatch(items.map(toCompletionItem))).results;
    } catch (error) {
      if (!isRefusal(error)) {
        const which = items.length === 1 ? { workRequest: items[0].id } : { workRequests: items.map((item) => item.id) };
        this.logger.warn({ ...which, err: describe(error) }, 'cannot deliver the result yet; it is kept on disk and retried');
        return 0;
      }
      // The whole call refused (a report the server will not parse, or a server without the batch route): one by one, so only that one is dropped.
      let answered = 0;
      for (const item of items) if (await this.deliverOne(item)) answered += 1;
      return answered;
    }
    return this.settle(items, answers);
  }

  /** Removes the reports the server answered; returns how many. */
  private settle(items: CompletionOutboxItem[], answers: CompletionAnswer[]): number {
    const byId = new Map(answers.map((answer) => [answer.id, answer]));
    let settled = 0;
    for (const item of items) {
      const answer = byId.get(item.id);
      if (!answer) continue;
      if (answer.status === 413 && !isTrimmed(item)) {
        // Its output_data is over the server's cap: sent again with the statistics only (see deliverOne).
        this.logger.warn({ workRequest: item.id, message: answer.error?.message }, 'the server refused the report as too large; sending it without the result and errors');
        trim(item, answer.error?.message ?? 'too large');
        continue;
      }
      if (answer.status !== 200) {
        this.logger.warn({ workRequest: item.id, status: answer.status, code: answer.error?.code, message: answer.error?.message }, 'server refused the result');
      }
      this.remove(item);
      settled += 1;
    }
    return settled;
  }

  /** The per-request route: true when the server has the report (or rejected it for good); false to retry later. */
  private async deliverOne(item: OutboxItem): Promise<boolean> {
    // This route takes no log entries: the ones the report carries go first, on their own.
    if (item.kind === 'complete' && item.logs && !(await this.deliverLogs(item, item.logs))) return false;
    try {
      if (item.kind === 'complete') await this.api.complete(item.id, item.body);
      else await this.api.release(item.id, item.body);
    } catch (error) {
      if (!isRefusal(error)) {
        this.logger.warn({ workRequest: item.id, err: describe(error) }, 'cannot deliver the result yet; it is kept on disk and retried');
        return false;
      }
      // An output_data over the server's cap: the statistics and why the rest is gone, rather than nothing.
      if (hasErrorCode(error, 'payload_too_large') && !isTrimmed(item)) {
        this.logger.warn({ workRequest: item.id, message: error.message }, 'the server refused the report as too large; sending it without the result and errors');
        trim(item, error.message);
        return this.deliverOne(item);
      }
      // 4xx: the server will never take it (cancelled and reassigned, deleted, or a bug); keep a trace and drop it.
      this.logger.warn({ workRequest: item.id, status: error.status, code: error.code, message: error.message }, 'server refused the result');
    }
    this.remove(item);
    return true;
  }

  private remove(item: OutboxItem): void {
    const entry = this.queued.get(item.id);
    if (entry?.item !== item) return; // replaced by a newer report meanwhile
    fs.rmSync(entry.file, { force: true });
    this.spool.remove(item.id);
    this.queued.delete(item.id);
  }

  private files(): string[] {
    return fs
      .readdirSync(this.dir)
      .filter((name) => name.endsWith('.json'))
      .map((name) => path.join(this.dir, name));
  }

  private read(file: string): OutboxItem | null {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as OutboxItem;
    } catch {
      fs.rmSync(file, { force: true }); // torn write from a crash before the rename: nothing to deliver
      return null;
    }
  }
}

export function toCompletionItem(item: CompletionOutboxItem): CompletionItem {
  return { id: item.id, result: item.body.result, output_data: item.body.output_data, ...(item.logs ? { logs: item.logs } : {}) };
}

/** The server answered and will not take this as it is (a 4xx); anything else may go through later. */
function isRefusal(error: unknown): error is WorkschedApiError {
  return error instanceof WorkschedApiError && !isTransient(error);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function idsOf(files: string[]): number[] {
  return files.map((file) => Number(path.basename(file, '.json'))).filter((id) => Number.isSafeInteger(id));
}

const isTrimmed = (item: OutboxItem) => item.body.output_data?.errors?.[0]?.code === ERROR_CODES.outputDataTooLarge;

/** Keeps only the runtime statistics of the report's output_data, with an error that says why; a completion becomes `error`. */
function trim(item: OutboxItem, why: string): void {
  const outputData: OutputData = {
    ...(item.body.output_data?.runtime_statistics ? { runtime_statistics: item.body.output_data.runtime_statistics } : {}),
    errors: [{ code: ERROR_CODES.outputDataTooLarge, message: `the server refused the task's output_data: ${why}` }],
  };
  // In place: the queue knows the report by identity.
  if (item.kind === 'complete') item.body = { result: 'error', output_data: outputData };
  else item.body = { ...item.body, output_data: outputData };
}
