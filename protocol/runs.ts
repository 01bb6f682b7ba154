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

/** The spans GET /workflows/:id/spend shows, and the step of each (at least the ledger's bucket: 1 s for "X/min", 60 s for "X/h"). */
export const RUN_SPEND_WINDOWS = { '10m': { spanS: 600, stepS: 10 }, '1h': { spanS: 3600, stepS: 60 }, '6h': { spanS: 21_600, stepS: 300 }, '24h': { spanS: 86_400, stepS: 900 }, '7d': { spanS: 604_800, stepS: 7200 } } as const;
export type RunSpendWindow = keyof typeof RUN_SPEND_WINDOWS;

export const runSpendQuerySchema = z.object({
  window: z.enum(Object.keys(RUN_SPEND_WINDOWS) as [RunSpendWindow, ...RunSpendWindow[]]).default('1h'),
});
export type RunSpendQuery = z.infer<typeof runSpendQuerySchema>;

/** One step of GET /workflows/:id/spend, oldest first; the last one holds now. */
export const runSpendStepSchema = z.object({
  start: z.string(),
  /** What the run's attempts that completed in this step cost (its ledger). */
  cost: z.number(),
  /** With a budget: its spend over the budget's trailing window at the step's end (now, for the last step), as the budget counts it; null without one. */
  window_spend: z.number().nullable(),
});

export const runSpendSchema = z.object({
  workflow_id: z.string(),
  budget: z.string().nullable(),
  /** X of "X/h" or "X/min", and that window in seconds; null without a budget. */
  budget_limit: z.number().nullable(),
  budget_window_s: z.number().int().nullable(),
  window: z.enum(Object.keys(RUN_SPEND_WINDOWS) as [RunSpendWindow, ...RunSpendWindow[]]),
  step_s: z.number().int(),
  steps: z.array(runSpendStepSchema),
});
export type RunSpend = z.infer<typeof runSpendSchema>;
