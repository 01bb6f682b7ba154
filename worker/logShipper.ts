import type { LogEntry } from '../protocol/workRequest';
import { MAX_CARRIED_LOG_ENTRIES } from '../protocol/workerApi';
import { formatBytes } from '../protocol/units';
import type { Logger } from '../common/logger';
import { hasErrorCode, isTransient } from '../client/errors';
import type { LogSpool } from './logSpool';
import type { WorkerServerApi } from './serverApi';

const FLUSH_INTERVAL_MS = 1_000;
const FLUSH_BYTES = 64 * 1024;
/** One entry's text at most; longer chunks are split so a batch never grows past the server's body limit. */
const MAX_ENTRY_CHARS = 32 * 1024;
/** Most unshipped output a report carries when the task ends; more is sent on its own first. */
const MAX_CARRIED_BYTES = FLUSH_BYTES;
/** Past this much unshipped output (server down), keep it only in the spool, not in memory. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Default cap of one task's log (as the server's WORKSCHED_LOG_MAX_BYTES). */
export const DEFAULT_LOG_MAX_BYTES = 16 * 1024 * 1024;
/** Kept below the cap for the truncation line itself, so the server stores it rather than its own. */
const TRUNCATION_RESERVE_BYTES = 4096;

/**
 * Ships one task's output: numbered entries, batched at least once a second or when 64 KiB accumulate, up to
 * `maxBytes` (then one `system` line says the log was truncated; the server enforces its own cap as well).
 * Idempotent by seq on the server, so a batch is simply re-sent after a failure. Tells the agent when the
 * server answers that the request was cancelled.
 */
export class LogShipper {
  private nextSeq: number;
  private pending: LogEntry[] = [];
  private pendingBytes = 0;
  private spoolOnly = false;
  private acknowledgedSeq: number;
  private flushing: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  /** Bytes of text taken so far; past the cap one `system` line says so and nothing more is shipped nor spooled. */
  private takenBytes = 0;
  private truncated = false;
  /** The last batch did not go through (the server is down): the end of the log then takes the spool's way. */
  private lastSendFailed = false;

  constructor(
    private readonly api: WorkerServerApi,
    private readonly spool: LogSpool,
    private readonly workRequestId: number,
    seqStart: number,
    private readonly onCancel: () => void,
    private readonly logger: Logger,
    private readonly maxBytes: number = DEFAULT_LOG_MAX_BYTES,
    /** The server preempted the request (requeued it for a higher-priority one). */
    private readonly onPreempted: () => void = onCancel,
  ) {
    this.nextSeq = seqStart;
    this.acknowledgedSeq = seqStart - 1;
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  push(stream: LogEntry['stream'], text: string): void {
    for (let offset = 0; offset < text.length && !this.truncated; offset += MAX_ENTRY_CHARS) {
      const piece = text.slice(offset, offset + MAX_ENTRY_CHARS);
      const bytes = Buffer.byteLength(piece, 'utf8');
      const room = Math.max(0, this.maxBytes - TRUNCATION_RESERVE_BYTES - this.takenBytes);
      if (bytes > room) {
        // What fits goes out (a character cut in two becomes U+FFFD, within the reserve), then the note.
        if (room > 0) this.take(stream, Buffer.from(piece, 'utf8').subarray(0, room).toString('utf8'));
        this.truncated = true;
        this.take('system', `log truncated: this task's output reached the cap of ${formatBytes(this.maxBytes)}; the worker stops shipping it (the task keeps running)\n`);
        break;
      }
      this.takenBytes += bytes;
      this.take(stream, piece);
    }
    if (this.pendingBytes >= FLUSH_BYTES) void this.flush();
  }

  private take(stream: LogEntry['stream'], text: string): void {
    const entry: LogEntry = { seq: this.nextSeq++, ts: new Date().toISOString(), stream, text };
    if (this.spoolOnly) return this.spool.append(this.workRequestId, [entry]);
    this.pending.push(entry);
    this.pendingBytes += entry.text.length;
    if (this.pendingBytes > MAX_BUFFERED_BYTES) {
      this.spool.append(this.workRequestId, this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      this.spoolOnly = true;
    }
  }

  /** Sends what is buffered (one batch at a time). Failures keep the entries for the next try. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    this.flushing = this.sendPending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /**
   * Stops the timer and tries once more. Returns the last seq the server acknowledged: entries after it go to
   * the spool (before the report is stored) for the outbox to deliver with the result. With `carry`, what is
   * left (up to MAX_CARRIED_BYTES) is not sent but returned as `carried`, for the report to carry: one call per
   * task less. Not while the server is unreachable: then the spool keeps it, and the outbox sends it first.
   */
  async close(options: { carry?: boolean } = {}): Promise<{ acknowledgedSeq: number; lastSeq: number; carried: LogEntry[] }> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.flushing;
    if (options.carry && !this.spoolOnly && !this.lastSendFailed && this.pendingBytes <= MAX_CARRIED_BYTES && this.pending.length <= MAX_CARRIED_LOG_ENTRIES) {
      const carried = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.spool.remove(this.workRequestId);
      return { acknowledgedSeq: this.acknowledgedSeq, lastSeq: this.nextSeq - 1, carried };
    }
    await this.flush();
    if (this.pending.length > 0) await this.flush();
    const lastSeq = this.nextSeq - 1;
    if (!this.spoolOnly) {
      this.spool.append(this.workRequestId, this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      if (this.acknowledgedSeq >= lastSeq) this.spool.remove(this.workRequestId);
    }
    return { acknowledgedSeq: this.acknowledgedSeq, lastSeq, carried: [] };
  }

  private async sendPending(): Promise<void> {
    while (this.pending.length > 0) {
      const batch: LogEntry[] = [];
      let bytes = 0;
      for (const entry of this.pending) {
        if (batch.length > 0 && bytes + entry.text.length > 256 * 1024) break;
        batch.push(entry);
        bytes += entry.text.length;
      }
      try {
        const answer = await this.api.postLogs(this.workRequestId, batch);
        if (this.pending[0] === batch[0]) {
          this.pending.splice(0, batch.length);
          this.pendingBytes -= bytes;
        }
        this.acknowledgedSeq = Math.max(this.acknowledgedSeq, batch[batch.length - 1].seq);
        this.lastSendFailed = false;
        if (answer.cancel) this.onCancel();
      } catch (error) {
        this.lastSendFailed = true;
        if (hasErrorCode(error, 'preempted')) {
          this.pending = [];
          this.pendingBytes = 0;
          this.onPreempted();
          return;
        }
        if (hasErrorCode(error, 'not_assigned') || hasErrorCode(error, 'not_found')) {
          // Not ours any more (reassigned after we were declared lost, or deleted): stop the task.
          this.pending = [];
          this.pendingBytes = 0;
          this.onCancel();
          return;
        }
        if (this.stopped) return;
        if (isTransient(error)) this.logger.debug({ err: error, workRequest: this.workRequestId }, 'log shipping failed; will retry');
        else this.logger.warn({ err: error, workRequest: this.workRequestId }, 'server refused a log batch; will retry');
        return;
      }
    }
  }
}
