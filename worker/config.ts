import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { logFormatSchema, logLevelSchema } from '../common/logger';

/** Worker agent configuration from flags, then environment; compiled once and frozen. */
export const workerConfigSchema = z.object({
  server: z.string().url(),
  enrollmentToken: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  name: z.string().min(1).max(200).default(os.hostname()),
  concurrency: z.coerce.number().int().min(1).max(1024).default(1),
  workDir: z.string().min(1).default('./.worksched/worker'),
  tags: z
    .string()
    .transform((value) => value.split(',').map((tag) => tag.trim()).filter(Boolean))
    .or(z.array(z.string()))
    .default([]),
  costPerHour: z.coerce.number().nonnegative().optional(),
  keepWorkdirs: z.boolean().default(false),
  drainTimeoutS: z.coerce.number().nonnegative().default(60),
  killGraceS: z.coerce.number().nonnegative().default(10),
  claimWaitS: z.coerce.number().min(0).max(60).default(20),
  logLevel: logLevelSchema.default('info'),
  /** Unset: readable lines on a terminal, else JSON. */
  logFormat: logFormatSchema.optional(),
});
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;
export type WorkerConfig = Readonly<z.output<typeof workerConfigSchema> & { stateDir: string }>;

export function compileWorkerConfig(flags: Partial<WorkerConfigInput>, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const fromEnv: Partial<WorkerConfigInput> = {
    server: env.WORKSCHED_URL || undefined,
    enrollmentToken: env.WORKSCHED_ENROLLMENT_TOKEN || undefined,
    token: env.WORKSCHED_WORKER_TOKEN || undefined,
    name: env.WORKSCHED_WORKER_NAME || undefined,
    concurrency: env.WORKSCHED_CONCURRENCY || undefined,
    workDir: env.WORKSCHED_WORK_DIR || undefined,
    tags: env.WORKSCHED_TAGS || undefined,
    costPerHour: env.WORKSCHED_COST_PER_HOUR || undefined,
    logLevel: (env.LOG_LEVEL as WorkerConfigInput['logLevel']) || undefined,
    logFormat: (env.LOG_FORMAT as WorkerConfigInput['logFormat']) || undefined,
  };
  const defined = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  const parsed = workerConfigSchema.parse({ ...defined(fromEnv), ...defined(flags) });
  const workDir = path.resolve(parsed.workDir);
  return Object.freeze({ ...parsed, workDir, stateDir: path.join(workDir, '.state') });
}
