import { z } from 'zod';

/** A worker's status in a run: `busy` running one of its tasks, `ready` to take more, `stopped` by max cost per result, `offline`. */
export const RUN_WORKER_STATUSES = ['ready', 'busy', 'stopped', 'offline'] as const;

/** One row of GET /api/v1/workflows/:id/workers: a worker's share of a run (running attempts accrue in `cost`). */
export const runWorkerSchema = z.object({
  worker: z.string(),
  worker_id: z.number().int(),
  status: z.enum(RUN_WORKER_STATUSES),
  /** Attempts of the run's tasks it finished. */
  tasks: z.number().int(),
  running: z.number().int(),
  cost: z.number(),
  /** cost / results; null without results. */
  cost_per_result: z.number().nullable(),
  results: z.number().int(),
  stop_reason: z.string().nullable(),
});
export type RunWorker = z.infer<typeof runWorkerSchema>;

export const runWorkersSchema = z.object({ workflow_id: z.string(), workers: z.array(runWorkerSchema) });
export type RunWorkers = z.infer<typeof runWorkersSchema>;
