import { z } from 'zod';
import { durationSchema, sizeSchema } from './units';

/** Task names key the history: keep them printable and short. */
export const taskNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'use letters, digits and . _ : / - (starting with a letter or digit)');

const historyKeySchema = z.string().min(1).max(500);
const tagSchema = z.string().min(1).max(100).regex(/^[A-Za-z0-9._:=-]+$/, 'use letters, digits and . _ : = -');

export const executionSchema = z
  .object({
    executable: z.string().min(1).max(4096),
    args: z.array(z.string().max(100_000)).max(10_000).default([]),
    /** Passed as `--name=value` unless `parameter_mapping` names another flag ("" = positional). */
    parameters: z.record(z.string().min(1).max(200), z.union([z.string(), z.number(), z.boolean()])).default({}),
    parameter_mapping: z.record(z.string().min(1).max(200), z.string().max(200)).default({}),
    env: z.record(z.string().min(1).max(1000).regex(/^[^=\0]+$/, 'no "=" in names'), z.string().max(100_000)).default({}),
  })
  .strict();
export type Execution = z.infer<typeof executionSchema>;

/** Resources the task needs from a worker; sizes are normalised to bytes. */
export const resourceRequirementsSchema = z
  .object({
    memory: sizeSchema.optional(),
    disk: sizeSchema.optional(),
    cpu: z.number().int().positive().max(4096).optional(),
    gpu: z.number().int().nonnegative().max(64).optional(),
    tags: z.array(tagSchema).max(50).optional(),
  })
  .strict();
export type ResourceRequirements = z.infer<typeof resourceRequirementsSchema>;

export const userMetadataSchema = z.record(z.string(), z.json());
export type UserMetadata = z.infer<typeof userMetadataSchema>;

/** The task spec (seed 004) accepted by POST /api/v1/work-requests and `worksched submit FILE`. */
export const taskSpecSchema = z
  .object({
    task_name: taskNameSchema,
    subject: historyKeySchema.nullable().optional(),
    context: historyKeySchema.nullable().optional(),
    execution: executionSchema,
    time_limit: durationSchema.nullable().optional(),
    resources: resourceRequirementsSchema.default({}),
    interrupt_allowed: z.boolean().default(true),
    priority: z.number().int().min(-1000).max(1000).default(0),
    max_attempts: z.number().int().min(1).max(100).default(3),
    use_history: z.boolean().default(true),
    user_metadata: userMetadataSchema.default({}),
  })
  .strict();
/** What a client sends (sizes as strings allowed). */
export type TaskSpecInput = z.input<typeof taskSpecSchema>;
/** The normalised spec (sizes in bytes, time limit in seconds, defaults filled in). */
export type TaskSpec = z.output<typeof taskSpecSchema>;

/** Command line of a task: executable, then args, then parameters as flags. */
export function buildCommandLine(execution: Execution): { file: string; args: string[] } {
  const args = [...execution.args];
  for (const [name, value] of Object.entries(execution.parameters)) {
    const mapped = execution.parameter_mapping[name];
    const text = String(value);
    if (mapped === undefined) args.push(`--${name}=${text}`);
    else if (mapped === '') args.push(text);
    else if (mapped.endsWith('=')) args.push(`${mapped}${text}`);
    else args.push(mapped, text);
  }
  return { file: execution.executable, args };
}
