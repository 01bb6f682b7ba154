import { z } from 'zod';
import { jsonObjectSchema } from './jsonValue';
import { outputDataSchema } from './outputData';
import { executionSchema, requiredFilesShape, resourceRequirementsSchema } from './taskSpec';
import { logEntrySchema, workRequestResultSchema } from './workRequest';

const bytes = z.number().int().nonnegative();

/** What a worker reports about its machine (seed 000 naming; bytes). */
export const workerResourcesSchema = z
  .object({
    cpu_count: z.number().int().positive().max(65_536),
    total_memory: bytes,
    available_memory: bytes,
    available_disk_space: bytes,
    architecture: z.string().max(100).optional(),
    os: z.string().max(200).optional(),
    gpus: z
      .array(z.object({ model: z.string().max(200), memory: bytes.nullable().optional() }).strict())
      .max(64)
      .default([]),
  })
  .strict();
export type WorkerResources = z.infer<typeof workerResourcesSchema>;

const workerNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'use letters, digits and . _ @ - (starting with a letter or digit)');

export const registerWorkerRequestSchema = z
  .object({
    name: workerNameSchema,
    resources: workerResourcesSchema,
    tags: z.array(z.string().min(1).max(100)).max(50).default([]),
    concurrency: z.number().int().min(1).max(1024).default(1),
    cost_per_hour: z.number().nonnegative().nullable().optional(),
  })
  .strict();
export type RegisterWorkerRequest = z.input<typeof registerWorkerRequestSchema>;

export const WORKER_STATES = ['idle', 'busy', 'offline', 'disabled'] as const;

export const workerSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  state: z.enum(WORKER_STATES),
  resources: workerResourcesSchema,
  tags: z.array(z.string()),
  concurrency: z.number().int(),
  running: z.number().int(),
  cost_per_hour: z.number().nullable(),
  registered_at: z.string(),
  last_seen_at: z.string().nullable(),
});
export type Worker = z.infer<typeof workerSchema>;

export const registerWorkerResponseSchema = z.object({
  worker: workerSchema,
  /** Shown once: the server keeps only its hash. */
  token: z.string(),
});
export type RegisterWorkerResponse = z.infer<typeof registerWorkerResponseSchema>;

export const heartbeatRequestSchema = z
  .object({
    resources: workerResourcesSchema.optional(),
    running: z.array(z.number().int().positive()).max(10_000).default([]),
    /** A restarted worker keeps its identity; these let it change its settings too. */
    concurrency: z.number().int().min(1).max(1024).optional(),
    tags: z.array(z.string().min(1).max(100)).max(50).optional(),
    cost_per_hour: z.number().nonnegative().nullable().optional(),
  })
  .strict();
export type HeartbeatRequest = z.input<typeof heartbeatRequestSchema>;

export const heartbeatResponseSchema = z.object({
  /** Requests the worker runs that it must stop: cancelled, or given to another worker. */
  cancel: z.array(z.number().int()),
  /**
   * Those of `cancel` that were preempted: requeued as pending (same attempt) for a higher-priority request. The
   * worker stops them (SIGTERM, then its kill grace) and reports nothing: it is neither a failure nor a cancel.
   */
  preempted: z.array(z.number().int()).default([]),
  heartbeat_interval_s: z.number(),
});
export type HeartbeatResponse = z.infer<typeof heartbeatResponseSchema>;

/** Everything a worker needs to run one claimed request. */
export const claimedWorkRequestSchema = z.object({
  id: z.number().int(),
  task_name: z.string(),
  subject: z.string().nullable(),
  context: z.string().nullable(),
  attempt: z.number().int(),
  execution: executionSchema,
  /** Checked by the worker just before it starts the task (absent when the spec names none). */
  ...requiredFilesShape,
  time_limit_s: z.number().int().nullable(),
  interrupt_allowed: z.boolean(),
  requirements: resourceRequirementsSchema,
  /** Number this attempt's log entries from here: earlier attempts' entries keep theirs. */
  log_seq_start: z.number().int().nonnegative(),
  /**
   * A workflow task's direct dependencies' results by task_id (null for one that failed with allow_failure);
   * the worker writes them to $WORKSCHED_INPUTS_FILE. Absent outside workflows.
   */
  inputs: jsonObjectSchema.optional(),
});
export type ClaimedWorkRequest = z.infer<typeof claimedWorkRequestSchema>;

export const postLogsRequestSchema = z.object({ entries: z.array(logEntrySchema).max(10_000) }).strict();
export type PostLogsRequest = z.infer<typeof postLogsRequestSchema>;
export const postLogsResponseSchema = z.object({ cancel: z.boolean() });

export const completeWorkRequestSchema = z
  .object({ result: workRequestResultSchema, output_data: outputDataSchema.default({}) })
  .strict();
export type CompleteWorkRequest = z.input<typeof completeWorkRequestSchema>;

/** Most results one call may carry (batch completion or a claim): a 400 above it. */
export const MAX_RESULTS_PER_CALL = 1_000;

/** Most log entries one report may carry. */
export const MAX_CARRIED_LOG_ENTRIES = 1_000;

/**
 * One finished request's report inside a batch: the per-request complete body with its id, and optionally the
 * task's last log entries (stored first, as POST .../logs stores them), which saves a call per task.
 */
export const completionItemSchema = z
  .object({
    id: z.number().int().positive(),
    result: workRequestResultSchema,
    output_data: outputDataSchema.default({}),
    logs: z.array(logEntrySchema).max(MAX_CARRIED_LOG_ENTRIES).optional(),
  })
  .strict();
export type CompletionItem = z.input<typeof completionItemSchema>;

const completionItemsSchema = z.array(completionItemSchema).max(MAX_RESULTS_PER_CALL);

export const completeBatchRequestSchema = z.object({ results: completionItemsSchema.min(1) }).strict();
export type CompleteBatchRequest = z.input<typeof completeBatchRequestSchema>;

/**
 * The answer for one item, as the per-request route would have answered it: 200 (applied, or a repeat that
 * changed nothing), 404 (no such request), 409 (not this worker's, or not running), 413 (output_data over the
 * server's cap, nothing written).
 */
export const completionAnswerSchema = z.object({
  id: z.number().int(),
  status: z.union([z.literal(200), z.literal(404), z.literal(409), z.literal(413)]),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type CompletionAnswer = z.infer<typeof completionAnswerSchema>;

/** Answers in the order of the items (a duplicate id gets an answer of its own). */
export const completeBatchResponseSchema = z.object({ results: z.array(completionAnswerSchema) });
export type CompleteBatchResponse = z.infer<typeof completeBatchResponseSchema>;

export const claimRequestSchema = z
  .object({
    max: z.number().int().min(1).max(100).default(1),
    wait_s: z.number().min(0).max(60).default(0),
    /** Results of earlier requests, applied before claiming (their slots count as free). */
    results: completionItemsSchema.default([]),
  })
  .strict();
export type ClaimRequest = z.input<typeof claimRequestSchema>;

/** `results` answers the claim's carried results (empty when it carried none). */
export const claimResponseSchema = z.object({ work_requests: z.array(claimedWorkRequestSchema), results: z.array(completionAnswerSchema) });
export type ClaimResponse = z.infer<typeof claimResponseSchema>;

/** The worker gives a running request back (it is shutting down): requeued if it may be interrupted, else aborted. */
export const releaseWorkRequestSchema = z
  .object({ reason: z.string().min(1).max(1000), output_data: outputDataSchema.default({}) })
  .strict();
export type ReleaseWorkRequest = z.input<typeof releaseWorkRequestSchema>;
