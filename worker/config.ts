import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { logFormatSchema, logLevelSchema } from '../common/logger';
import { sizeSchema } from '../protocol/units';
import { WORKER_SECRET } from './execution/taskEnvironment';

/** A configuration mistake worth one plain sentence (what is wrong, what to do), not a zod dump. */
export class WorkerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerConfigError';
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Worker agent configuration from flags, then environment; compiled once and frozen. */
export const workerConfigSchema = z.object({
  /** The first of `servers`: the one the saved identity is recorded for. */
  server: z.string().url(),
  /** Replicas sharing one database, tried in turn: the agent moves to the next when one cannot be reached. */
  servers: z.array(z.string().url()).min(1),
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
  /** Variables of the worker's environment given to tasks besides the allowlist. */
  passEnv: z.array(z.string()).default([]),
  /**
   * A root worker runs tasks as this user (`root` on purpose keeps them root); unset, as a dedicated user per
   * concurrent task that it creates (see worker/taskUsers.ts).
   */
  runAs: z.string().min(1).max(64).optional(),
  /** One task's log shipped at most (16 MiB, as the server's default cap): past it, one line says it was truncated. */
  logMaxBytes: sizeSchema.pipe(z.number().int().positive()).default(16 * 1024 * 1024),
  logLevel: logLevelSchema.default('info'),
  /** Unset: readable lines on a terminal, else JSON. */
  logFormat: logFormatSchema.optional(),
});
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;
export type WorkerConfig = Readonly<z.output<typeof workerConfigSchema> & { stateDir: string }>;

export interface WorkerFlagsInput extends Partial<Omit<WorkerConfigInput, 'passEnv' | 'server' | 'servers'>> {
  /** One URL, several (repeated --server), or comma-separated ones. */
  server?: string | string[];
  enrollmentTokenFile?: string;
  passEnv?: string[];
}

export function compileWorkerConfig(flags: WorkerFlagsInput, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const { enrollmentTokenFile, passEnv, server, ...rest } = flags;
  const fromEnv: Partial<WorkerConfigInput> = {
    enrollmentToken: env.WORKSCHED_ENROLLMENT_TOKEN || undefined,
    token: env.WORKSCHED_WORKER_TOKEN || undefined,
    name: env.WORKSCHED_WORKER_NAME || undefined,
    concurrency: env.WORKSCHED_CONCURRENCY || undefined,
    workDir: env.WORKSCHED_WORK_DIR || undefined,
    tags: env.WORKSCHED_TAGS || undefined,
    costPerHour: env.WORKSCHED_COST_PER_HOUR || undefined,
    runAs: env.WORKSCHED_RUN_AS || undefined,
    logMaxBytes: env.WORKSCHED_LOG_MAX_BYTES || undefined,
    logLevel: (env.LOG_LEVEL as WorkerConfigInput['logLevel']) || undefined,
    logFormat: (env.LOG_FORMAT as WorkerConfigInput['logFormat']) || undefined,
  };
  const defined = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  const merged = { ...defined(fromEnv), ...defined(rest) } as Partial<WorkerConfigInput>;
  const given = (Array.isArray(server) ? server : server === undefined ? [] : [server]).flatMap((value) => value.split(','));
  const urls = (given.length > 0 ? given : (env.WORKSCHED_URL ?? '').split(',')).map((value) => value.trim()).filter(Boolean);
  merged.servers = urls.length > 0 ? [...new Set(urls.map((url) => checkServerUrl(url)))] : [checkServerUrl(undefined)];
  merged.server = merged.servers[0];
  if (enrollmentTokenFile !== undefined) {
    if (rest.enrollmentToken !== undefined) throw new WorkerConfigError('give the enrollment token once: --enrollment-token or --enrollment-token-file, not both');
    merged.enrollmentToken = readTokenFile(enrollmentTokenFile);
  }
  merged.passEnv = checkPassEnv([...(env.WORKSCHED_PASS_ENV ?? '').split(','), ...(passEnv ?? [])]);
  const parsed = workerConfigSchema.parse(merged);
  const workDir = path.resolve(parsed.workDir);
  return Object.freeze({ ...parsed, workDir, stateDir: path.join(workDir, '.state') });
}

function checkServerUrl(value: string | undefined): string {
  if (value === undefined) {
    throw new WorkerConfigError('no server to connect to: pass --server http://HOST:8080 or set WORKSCHED_URL (`worksched start` prints the URL of a local server)');
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new WorkerConfigError(`--server must be an http:// or https:// URL such as http://${value.replace(/^[a-z]+:\/\//i, '')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readTokenFile(file: string): string {
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new WorkerConfigError(`cannot read the enrollment token file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!token) throw new WorkerConfigError(`the enrollment token file ${file} is empty`);
  return token;
}

function checkPassEnv(names: string[]): string[] {
  const wanted = [...new Set(names.map((name) => name.trim()).filter(Boolean))];
  for (const name of wanted) {
    if (!ENV_NAME.test(name)) throw new WorkerConfigError(`--pass-env takes a variable name such as HTTP_PROXY, got ${JSON.stringify(name)}`);
    if (WORKER_SECRET.test(name)) throw new WorkerConfigError(`--pass-env ${name}: the worker's own credentials are never passed to tasks`);
  }
  return wanted;
}
