import type { WorkflowTaskInput } from '../protocol/workflow';
import type { WorkRequest } from '../protocol/workRequest';
import type { WorkschedClient } from './WorkschedClient';

/** One item of a run: a workflow task; without `task_id` it gets `item-<position>` (stable if the iterable is). */
export type FeedItem = WorkflowTaskInput;

export interface FeedOptions {
  /** Tasks submitted but not yet finished, kept at this many (default 10). */
  inFlight?: number;
  /** Run settings, used when `feed` creates the run: `"10/h"` or `"0.5/min"`, what to do over it, max cost per result. */
  budget?: string;
  onBudget?: 'pause' | 'stop';
  maxCostPerResult?: number;
  maxPriceWarmup?: number | string;
  /** Told each task's final attempt (retries followed), in the order they finish. */
  onResult?: (result: FeedResult) => void | Promise<void>;
  /** Close the run when the iterable ends and its tasks are done (default true). */
  close?: boolean;
}

export interface FeedResult {
  taskId: string;
  workRequest: WorkRequest;
  /** It ended without success (failure, error, or aborted), after its retries. */
  failed: boolean;
}

export interface FeedProgress {
  /** Items taken from the iterable that the server already had (a rerun after a kill), and those submitted now. */
  skipped: number;
  submitted: number;
  /** Tasks of this feed that ended, and how many of them failed for good. */
  done: number;
  failed: number;
  /** Submitted and unfinished: pending (queued) or running. */
  inFlight: number;
  running: number;
  queued: number;
  /** The iterable has ended (or stop() was called) and nothing more will be submitted. */
  ended: boolean;
}

export interface FeedHandle {
  progress(): FeedProgress;
  /** Stops taking items; tasks in flight keep running and `done` resolves when they have finished. */
  stop(): void;
  /** Cancels the run's tasks that are in flight (and stops feeding). */
  cancelInFlight(): Promise<void>;
  /** Resolves with the final progress once feeding stopped and the tasks in flight finished. */
  done: Promise<FeedProgress>;
}

const ENDED = new Set(['completed', 'aborted']);

/** A task of the feed as last seen: its current attempt and that attempt's status. */
interface Tracked {
  id: number;
  status: WorkRequest['status'];
}

/**
 * Feeds a run (an open workflow whose id is `runId`) from an iterable that may never end, keeping
 * `inFlight` tasks submitted-but-unfinished and pulling the next item only when one finishes. Restartable:
 * the server's `(workflow, task_id)` uniqueness is what prevents a double submission, so after a kill the
 * same call first asks the server which task ids it has, skips those items (tracking the unfinished ones)
 * and goes on.
 */
export function feed(client: WorkschedClient, runId: string, items: AsyncIterable<FeedItem> | Iterable<FeedItem>, options: FeedOptions = {}): FeedHandle {
  const limit = Math.max(1, Math.trunc(options.inFlight ?? 10));
  const progress: FeedProgress = { skipped: 0, submitted: 0, done: 0, failed: 0, inFlight: 0, running: 0, queued: 0, ended: false };
  const tracked = new Map<string, Tracked>();
  let stopping = false;
  let wake: (() => void) | null = null;
  const signalChange = () => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  const changed = () => new Promise<void>((resolve) => (wake = resolve));
  const recount = () => {
    progress.inFlight = tracked.size;
    progress.running = [...tracked.values()].filter((row) => row.status === 'running').length;
    progress.queued = progress.inFlight - progress.running;
  };
  const errors: unknown[] = [];

  const follow = (taskId: string, row: Tracked) => {
    tracked.set(taskId, row);
    recount();
    client
      .waitFor(row.id, { onUpdate: (update) => {
        if (update.kind === 'state' && tracked.has(taskId)) tracked.set(taskId, update.request);
        if (update.kind === 'retry' && tracked.has(taskId)) tracked.set(taskId, update.next);
        recount();
      } })
      .then(async (final) => {
        tracked.delete(taskId);
        const failed = !(final.status === 'completed' && (final.result === 'success' || final.result === 'skipped'));
        progress.done += 1;
        if (failed) progress.failed += 1;
        recount();
        await options.onResult?.({ taskId, workRequest: final, failed });
      })
      .catch((error: unknown) => {
        tracked.delete(taskId);
        errors.push(error);
        stopping = true;
      })
      .finally(signalChange);
  };

  const run = async (): Promise<FeedProgress> => {
    await ensureRun(client, runId, options);
    // What the server has: every attempt of the run's tasks, the current one last seen per task_id.
    const known = new Map<string, Tracked>();
    for await (const row of client.iterateWorkRequests({ workflow: runId, limit: 500 })) {
      if (row.task_id !== null && row.superseded_by === null) known.set(row.task_id, row);
    }
    for (const [taskId, row] of known) if (!ENDED.has(row.status)) follow(taskId, row);
    const iterator = Symbol.asyncIterator in items ? (items)[Symbol.asyncIterator]() : (items)[Symbol.iterator]();
    let position = 0;
    let exhausted = false;
    while (!exhausted) {
      while (!stopping && tracked.size >= limit) await changed();
      if (stopping) break;
      // Every free slot filled in one request: the items pulled now, minus those the server already has.
      const batch: FeedItem[] = [];
      for (let free = limit - tracked.size; batch.length < free; ) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const taskId = next.value.task_id ?? `item-${position}`;
        position += 1;
        if (known.has(taskId)) progress.skipped += 1;
        else batch.push({ ...next.value, task_id: taskId });
      }
      if (batch.length === 0) continue;
      const answer = await client.addWorkflowTasks(runId, batch);
      const byTaskId = new Map(answer.tasks.map((task) => [task.task_id, task]));
      for (const item of batch) {
        const taskId = item.task_id as string;
        const added = byTaskId.get(taskId);
        if (!added) throw new Error(`the server did not answer task ${taskId} of run ${runId}`);
        known.set(taskId, { id: added.work_request_id, status: added.status });
        progress.submitted += 1;
        follow(taskId, { id: added.work_request_id, status: added.status });
      }
    }
    stopping = true;
    progress.ended = true;
    if (typeof iterator.return === 'function' && errors.length === 0) await Promise.resolve(iterator.return());
    while (tracked.size > 0) await changed();
    if (errors.length > 0) throw errors[0];
    if (options.close !== false && !stoppedByUser) await client.closeWorkflow(runId);
    return { ...progress };
  };

  let stoppedByUser = false;
  const done = run();
  done.catch(() => undefined);
  return {
    progress: () => ({ ...progress }),
    stop: () => {
      stoppedByUser = true;
      stopping = true;
      signalChange();
    },
    cancelInFlight: async () => {
      stoppedByUser = true;
      stopping = true;
      signalChange();
      await Promise.all([...tracked.values()].map((row) => client.cancel(row.id).catch(() => undefined)));
    },
    done,
  };
}

/** Creates the run as an open workflow, or finds it (the same settings again are the same definition: 200). */
async function ensureRun(client: WorkschedClient, runId: string, options: FeedOptions): Promise<void> {
  await client.createWorkflow({
    workflow_id: runId,
    open: true,
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
    ...(options.onBudget !== undefined ? { on_budget: options.onBudget } : {}),
    ...(options.maxCostPerResult !== undefined ? { max_cost_per_result: options.maxCostPerResult } : {}),
    ...(options.maxPriceWarmup !== undefined ? { max_price_warmup: options.maxPriceWarmup } : {}),
  });
}
