import { z } from 'zod';
import { jsonValueSchema } from './jsonValue';

const byteCount = z.number().int().nonnegative();
const seconds = z.number().int().nonnegative();

/**
 * Seed 000's RuntimeStatistics, exact names, integer seconds and bytes. The first four describe the task's own
 * process tree; the last three the worker when the task started. `measurement` says how cpu_time and memory
 * were obtained, so an operator knows how far to trust them.
 */
export const runtimeStatisticsSchema = z
  .object({
    duration: seconds.optional(),
    cpu_time: seconds.optional(),
    disk_space: byteCount.optional(),
    memory: byteCount.optional(),
    available_disk_space: byteCount.optional(),
    available_memory: byteCount.optional(),
    cpu_count: z.number().int().positive().optional(),
    measurement: z.string().max(64).optional(),
    /** Full-precision figures kept for history (milliseconds); the seed fields above stay integers. */
    duration_ms: z.number().int().nonnegative().optional(),
    cpu_time_ms: z.number().int().nonnegative().optional(),
  })
  .strict();
export type RuntimeStatistics = z.infer<typeof runtimeStatisticsSchema>;

/** An error in output_data: `message` for humans, `code` for programs; codes may add keys (e.g. exit_code). */
export const outputErrorSchema = z
  .object({ message: z.string().max(10_000), code: z.string().min(1).max(100) })
  .catchall(jsonValueSchema);
export type OutputError = z.infer<typeof outputErrorSchema>;

export const outputDataSchema = z
  .object({
    runtime_statistics: runtimeStatisticsSchema.optional(),
    errors: z.array(outputErrorSchema).max(100).optional(),
    skip_reason: z.string().max(10_000).optional(),
    /** The JSON value the task wrote to $WORKSCHED_RESULT_FILE (at most 1 MiB). */
    result: jsonValueSchema.optional(),
    /** How many results the attempt produced (a run's cost per result); else a success counts one. */
    result_count: z.number().int().nonnegative().optional(),
  })
  .strict();
export type OutputData = z.infer<typeof outputDataSchema>;

/** Error codes the worker and the server put in output_data.errors. */
export const ERROR_CODES = {
  exitCode: 'exit_code',
  signal: 'signal',
  timeLimitExceeded: 'time_limit_exceeded',
  outOfMemory: 'out_of_memory',
  executableNotFound: 'executable_not_found',
  permissionDenied: 'permission_denied',
  spawnFailed: 'spawn_failed',
  cancelled: 'cancelled',
  workerLost: 'worker_lost',
  workerShutdown: 'worker_shutdown',
  preempted: 'preempted',
  invalidResult: 'invalid_result',
  requiredFileMissing: 'required_file_missing',
  /** The server refused the report's output_data as larger than its cap; only the statistics were kept. */
  outputDataTooLarge: 'output_data_too_large',
} as const;
