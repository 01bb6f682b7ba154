import fs from 'node:fs';
import path from 'node:path';
import { isTransient } from '../client/errors';
import { WorkschedApiError } from '../client/http';
import type { OutputData } from '../protocol/outputData';
import type { WorkRequestResult } from '../protocol/workRequest';
import { Backoff } from '../common/backoff';
import type { Logger } from '../common/logger';
import { sleep } from '../common/sleep';
import type { LogSpool } from './logSpool';
import type { WorkerServerApi } from './serverApi';

export type OutboxItem =
  | { kind: 'complete'; id: number; acknowledged_seq: number; body: { result: WorkRequestResult; output_data: OutputData } }
  | { kind: 'release'; id: number; acknowledged_seq: number; body: { reason: string; output_data: OutputData } };

const LOG_BATCH = 500;

/**
 * Finished tasks' reports, written to disk before the first delivery attempt: a server outage or a worker
 * restart loses nothing. Delivery sends the task's unacknowledged log entries first, then the report, and
 * retries with capped exponential back-off and jitter until the server answers.
 */
export class Outbox {
  private wake: (() => void) | null = null;
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly api: WorkerServerApi,
    private readonly spool: LogSpool,
    private readonly logger: Logger,
  ) {
    this.dir = path.join(stateDir, 'outbox');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Stores the report durably and tries to deliver it at once. Resolves when delivered or left queued. */
  async put(item: OutboxItem): Promise<boolean> {
    const file = path.join(this.dir, `${item.id}.json`);
    const temporary = `${file}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(item));
    fs.renameSync(temporary, file);
    const delivered = await this.deliver(file, item);
    if (!delivered) this.wake?.();
    return delivered;
  }

  pendingCount(): number {
    return this.files().length;
  }

  /** Requests whose report waits here: still this worker's as far as the server should know. */
  pendingIds(): number[] {
    return idsOf(this.files());
  }

  /** The same before an Outbox exists (the identity check heartbeats before the agent has a token). */
  static queuedIds(stateDir: string): number[] {
    const dir = path.join(stateDir, 'outbox');
    return fs.existsSync(dir) ? idsOf(fs.readdirSync(dir).filter((name) => name.endsWith('.json'))) : [];
  }

  /** Delivers queued reports until `signal` aborts; sleeps with back-off while the server is unreachable. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff();
    while (!signal.aborted) {
      const files = this.files();
      if (files.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.wake = null;
        continue;
      }
      let failed = false;
      for (const file of files) {
        const item = this.read(file);
        if (item && !(await this.deliver(file, item))) {
          failed = true;
          break;
        }
      }
      if (failed) await sleep(backoff.nextDelayMs(), signal);
      else backoff.reset();
    }
  }

  /** One pass over the queue (at shutdown): true when it is empty afterwards. */
  async drainOnce(): Promise<boolean> {
    for (const file of this.files()) {
      const item = this.read(file);
      if (item && !(await this.deliver(file, item))) return false;
    }
    return true;
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

  /** True when the server has the report (or rejected it for good); false to retry later. */
  private async deliver(file: string, item: OutboxItem): Promise<boolean> {
    try {
      const entries = this.spool.read(item.id, item.acknowledged_seq);
      for (let index = 0; index < entries.length; index += LOG_BATCH) {
        await this.api.postLogs(item.id, entries.slice(index, index + LOG_BATCH)).catch((error: unknown) => {
          if (!isRefusal(error)) throw error;
        });
      }
      if (item.kind === 'complete') await this.api.complete(item.id, item.body);
      else await this.api.release(item.id, item.body);
    } catch (error) {
      if (!isRefusal(error)) {
        this.logger.warn({ workRequest: item.id, err: describe(error) }, 'cannot deliver the result yet; it is kept on disk and retried');
        return false;
      }
      // 4xx: the server will never take it (cancelled and reassigned, deleted, or a bug); keep a trace and drop it.
      this.logger.warn({ workRequest: item.id, status: error.status, code: error.code, message: error.message }, 'server refused the result');
    }
    fs.rmSync(file, { force: true });
    this.spool.remove(item.id);
    return true;
  }
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
