import path from 'node:path';
import { z } from 'zod';
import { logFormatSchema, logLevelSchema } from '../common/logger';
import { sizeSchema } from '../protocol/units';

const MiB = 1024 * 1024;
/** A positive size in bytes: a number or "16MiB". */
const positiveSize = sizeSchema.pipe(z.number().int().positive());

/** Server configuration, compiled once from the environment and flags (flags win) and frozen. */
export const serverConfigSchema = z.object({
  databaseUrl: z.string().url().optional(),
  dataDir: z.string().min(1).default('./.worksched'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  adminToken: z.string().min(16).optional(),
  enrollmentToken: z.string().min(16).optional(),
  heartbeatTimeoutS: z.coerce.number().positive().default(30),
  heartbeatIntervalS: z.coerce.number().positive().optional(),
  /** A running request its worker's heartbeat no longer lists is given back after this long (claim answers in flight). */
  claimGraceS: z.coerce.number().min(0).default(15),
  housekeepingIntervalS: z.coerce.number().int().min(1).max(59).default(5),
  /** The stored log of one work request; past it a single `system` entry says it was truncated. */
  logMaxBytes: positiveSize.default(16 * MiB),
  /** Largest `output_data` a worker may report (its JSON), in bytes: a 413 above it. The 1 MiB result, with room for errors and statistics. */
  maxOutputData: positiveSize.default(2 * MiB),
  /**
   * Per token, per server process: create calls (a batch is one call) allowed per second on average, and in a
   * burst. 0 turns the limit off. The defaults leave room for the benchmarks' thousands of creates a second.
   */
  createRatePerS: z.coerce.number().min(0).default(1000),
  createBurst: z.coerce.number().int().min(1).default(10_000),
  /** Largest body of the routes marked `largeBody` (batch create, claim, completions), in bytes; every other route takes up to 1 MiB. */
  maxBatchBody: z.coerce.number().int().positive().default(16 * 1024 * 1024),
  /** Most files a `single_file_task` (or a required_folder passed in `filepath_parameter`) may expand to: a 400 above it. */
  maxExpansion: z.coerce.number().int().min(1).default(10_000),
  /** Most workflows RUNNING at once; later ones wait as PENDING (their tasks are not claimed). Unset: no limit. */
  maxRunningWorkflows: z.coerce.number().int().min(1).optional(),
  /** Most PENDING workflows: a create (or resume) over it answers 429 queue_full. Unset: no limit. */
  maxPendingWorkflows: z.coerce.number().int().min(0).optional(),
  /** Firings kept per schedule (newest first; a firing whose work has not ended is kept too). */
  scheduleFiringRetention: z.coerce.number().int().min(1).default(1000),
  /** Firings older than this many days are deleted too, the newest of each schedule excepted. Unset: no age limit. */
  scheduleFiringRetentionDays: z.coerce.number().positive().optional(),
  /** A files trigger lists its folder when the folder's mtime changed, and at least this often whatever it says. */
  scheduleFilesRescanS: z.coerce.number().positive().default(30),
  /** Task history kept per key besides the last success and last failure. */
  historyRetentionRuns: z.coerce.number().int().min(1).default(50),
  /** Learned memory/disk requirement = p95 of successful runs × this. */
  learnedHeadroom: z.coerce.number().min(1).default(1.2),
  /** Retry back-off: base × 2^(attempt-1), with jitter, at most max. */
  retryBaseDelayS: z.coerce.number().min(0).default(5),
  retryMaxDelayS: z.coerce.number().min(0).default(600),
  /** statement_timeout of every query of the server; past it (or a little later, if PostgreSQL does not answer at all) a request gets 503. */
  databaseStatementTimeoutS: z.coerce.number().positive().default(30),
  /**
   * A pending request that waited this long while every worker that fits it is busy with lower-priority
   * interruptible requests preempts one of them; 0 disables preemption.
   */
  preemptAfterS: z.coerce.number().min(0).default(60),
  /** Check every JSON answer against its route's response schema and answer 500 on a mismatch (tests turn it on). */
  validateResponses: z.boolean().default(false),
  /** Distinct task names the metrics label by; later names are counted as `other` (bounded cardinality). */
  metricsTaskNames: z.coerce.number().int().min(1).max(10_000).default(50),
  /** The dashboard's read routes (listings, statistics) run at most this many at a time; the rest queue. */
  operatorReadConcurrency: z.coerce.number().int().min(1).default(2),
  logLevel: logLevelSchema.default('info'),
  /** Unset: readable lines on a terminal, else JSON. */
  logFormat: logFormatSchema.optional(),
});
export type ServerConfig = Readonly<z.output<typeof serverConfigSchema> & { heartbeatIntervalS: number }>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** Reads WORKSCHED_* / DATABASE_URL / LOG_LEVEL / LOG_FORMAT; `overrides` (from flags) take precedence over the environment. */
export function compileServerConfig(
  overrides: Partial<ServerConfigInput> = {},
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const fromEnv: Partial<Record<keyof ServerConfigInput, string | undefined>> = {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.WORKSCHED_DATA_DIR || undefined,
    host: env.WORKSCHED_HOST || undefined,
    port: env.WORKSCHED_PORT || undefined,
    adminToken: env.WORKSCHED_ADMIN_TOKEN || undefined,
    enrollmentToken: env.WORKSCHED_ENROLLMENT_TOKEN || undefined,
    heartbeatTimeoutS: env.WORKSCHED_HEARTBEAT_TIMEOUT_S || undefined,
    heartbeatIntervalS: env.WORKSCHED_HEARTBEAT_INTERVAL_S || undefined,
    housekeepingIntervalS: env.WORKSCHED_HOUSEKEEPING_INTERVAL_S || undefined,
    claimGraceS: env.WORKSCHED_CLAIM_GRACE_S || undefined,
    logMaxBytes: env.WORKSCHED_LOG_MAX_BYTES || undefined,
    maxBatchBody: env.WORKSCHED_MAX_BATCH_BODY || undefined,
    maxExpansion: env.WORKSCHED_MAX_EXPANSION || undefined,
    maxRunningWorkflows: env.WORKSCHED_MAX_RUNNING_WORKFLOWS || undefined,
    maxPendingWorkflows: env.WORKSCHED_MAX_PENDING_WORKFLOWS || undefined,
    maxOutputData: env.WORKSCHED_MAX_OUTPUT_DATA || undefined,
    createRatePerS: env.WORKSCHED_CREATE_RATE || undefined,
    createBurst: env.WORKSCHED_CREATE_BURST || undefined,
    historyRetentionRuns: env.WORKSCHED_HISTORY_RETENTION_RUNS || undefined,
    scheduleFiringRetention: env.WORKSCHED_SCHEDULE_FIRING_RETENTION || undefined,
    scheduleFiringRetentionDays: env.WORKSCHED_SCHEDULE_FIRING_RETENTION_DAYS || undefined,
    scheduleFilesRescanS: env.WORKSCHED_SCHEDULE_FILES_RESCAN_S || undefined,
    learnedHeadroom: env.WORKSCHED_LEARNED_HEADROOM || undefined,
    retryBaseDelayS: env.WORKSCHED_RETRY_BASE_DELAY_S || undefined,
    retryMaxDelayS: env.WORKSCHED_RETRY_MAX_DELAY_S || undefined,
    metricsTaskNames: env.WORKSCHED_METRICS_TASK_NAMES || undefined,
    operatorReadConcurrency: env.WORKSCHED_OPERATOR_READ_CONCURRENCY || undefined,
    databaseStatementTimeoutS: env.WORKSCHED_DATABASE_STATEMENT_TIMEOUT_S || undefined,
    preemptAfterS: env.WORKSCHED_PREEMPT_AFTER_S || undefined,
    logLevel: env.LOG_LEVEL || undefined,
    logFormat: env.LOG_FORMAT || undefined,
  };
  const merged = { ...stripUndefined(fromEnv), ...stripUndefined(overrides) };
  const parsed = serverConfigSchema.parse(merged);
  // Workers heartbeat often enough that a cancel reaches them within ~1 s and a lost one is noticed in time.
  const heartbeatIntervalS = parsed.heartbeatIntervalS ?? Math.min(1, parsed.heartbeatTimeoutS / 4);
  return Object.freeze({ ...parsed, dataDir: path.resolve(parsed.dataDir), heartbeatIntervalS });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
