import { z } from 'zod';
import { jsonObjectSchema, withBoundedDepth } from './jsonValue';
import { durationSchema, sizeSchema } from './units';

/** Task names key the history: keep them printable and short. */
export const taskNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'use letters, digits and . _ : / - (starting with a letter or digit)');

const historyKeySchema = z.string().min(1).max(500);
const tagSchema = z.string().min(1).max(100).regex(/^[A-Za-z0-9._:=-]+$/, 'use letters, digits and . _ : = -');

/** A workflow task's parameter taken from a direct dependency's result (`path`: dot-separated keys / indexes; absent = all of it). */
export const parameterFromSchema = z
  .object({
    from: z.string().min(1).max(200),
    path: z.string().max(1000).optional(),
  })
  .strict();
export type ParameterFrom = z.infer<typeof parameterFromSchema>;

/**
 * The `{from, path}` a parameter value is, or null: scalars and arrays are answered without zod (a failed
 * safeParse builds its issues; 10,000 tasks with a path parameter each spent half a second on that).
 */
export function parameterFromOf(value: unknown): ParameterFrom | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const parsed = parameterFromSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

const parameterNameSchema = z.string().min(1).max(200);
const parameterScalarSchema = z.union([z.string(), z.number(), z.boolean()]);

/** `python`: import `file`, call `function(**kwargs)`; its JSON return value is the task's result. */
export const pythonCallSchema = z
  .object({
    /** The module to import: absolute, or relative to the task's working directory. */
    file: z.string().min(1).max(4096),
    /** A name in the module, dotted for an attribute of one (`Tasks.run`). */
    function: z
      .string()
      .max(200)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a Python name such as main or Tasks.run'),
    kwargs: withBoundedDepth(z.record(parameterNameSchema, z.json())).default({}),
  })
  .strict();
export type PythonCall = z.infer<typeof pythonCallSchema>;

/** The ways a task can be run: exactly one per spec. */
export const EXECUTION_KINDS = ['executable', 'script', 'python'] as const;
export type ExecutionKind = (typeof EXECUTION_KINDS)[number];

export const executionSchema = z
  .object({
    executable: z.string().min(1).max(4096).optional(),
    /** An inline script, written into the working directory (mode 700) and run by its #! line, else /bin/sh. */
    script: z.string().min(1).max(1_000_000).optional(),
    python: pythonCallSchema.optional(),
    /** An executable's or a script's arguments; a python task's sys.argv[1:]. */
    args: z.array(z.string().max(100_000)).max(10_000).default([]),
    /**
     * Passed as `--name=value` unless `parameter_mapping` names another flag ("" = positional); to a python
     * function as keyword arguments besides `kwargs`. A list repeats the parameter once per value (several file
     * paths in one `filepath_parameter`). In a workflow a value may be `{"from": "<task_id>", "path": "a.b"}`:
     * filled in from that dependency's result when the request becomes pending.
     */
    parameters: z
      .record(parameterNameSchema, z.union([parameterScalarSchema, z.array(parameterScalarSchema).max(100_000), parameterFromSchema]))
      .default({}),
    parameter_mapping: z.record(parameterNameSchema, z.string().max(200)).default({}),
    env: z.record(z.string().min(1).max(1000).regex(/^[^=\0]+$/, 'no "=" in names'), z.string().max(100_000)).default({}),
  })
  .strict()
  .superRefine((execution, ctx) => {
    const given = EXECUTION_KINDS.filter((kind) => execution[kind] !== undefined);
    if (given.length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give one of executable, script or python' });
    } else if (given.length > 1) {
      ctx.addIssue({ code: 'custom', path: [given[1]], message: `give only one of executable, script or python, not ${given.join(' and ')}` });
    }
    if (execution.python !== undefined) {
      for (const name of Object.keys(execution.parameter_mapping)) {
        ctx.addIssue({ code: 'custom', path: ['parameter_mapping', name], message: 'a python function takes parameters as keyword arguments: parameter_mapping is for command lines' });
      }
      for (const name of Object.keys(execution.parameters)) {
        if (Object.hasOwn(execution.python.kwargs ?? {}, name)) {
          ctx.addIssue({ code: 'custom', path: ['parameters', name], message: `"${name}" is also in python.kwargs: give it once` });
        }
      }
    }
  });
export type Execution = z.infer<typeof executionSchema>;
export type ExecutionInput = z.input<typeof executionSchema>;

/** Which kind of execution this is (the schema lets exactly one through). */
export function executionKind(execution: Execution): ExecutionKind {
  if (execution.script !== undefined) return 'script';
  if (execution.python !== undefined) return 'python';
  return 'executable';
}

/** An absolute path, as the worker sees it (the worker resolves nothing against its own directory). */
const absolutePathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((value) => value.startsWith('/'), 'must be an absolute path (starting with "/")');

/** A JavaScript regular expression, searched in file names (anchor it with ^…$ to match whole names). */
const fileExpressionSchema = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((value, ctx) => {
    try {
      new RegExp(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(error as Error).message}` });
    }
  });

/**
 * Seed 004's required files, checked by the worker just before it starts the task: every `required_filepath`
 * exists, every `required_folder` holds a regular file (whose name matches one of `required_file_expression`
 * when given). Otherwise the attempt ends `error` / `required_file_missing` and nothing runs.
 */
export const requiredFilesShape = {
  required_filepath: z.array(absolutePathSchema).max(1000).optional(),
  required_folder: z.array(absolutePathSchema).max(1000).optional(),
  required_file_expression: z.array(fileExpressionSchema).max(100).optional(),
};
export const requiredFilesSchema = z.object(requiredFilesShape).strict();
export type RequiredFiles = z.infer<typeof requiredFilesSchema>;

/** The required files a spec names, without empty lists (what the work request stores and the worker gets). */
export function requiredFilesOf(spec: RequiredFiles): RequiredFiles {
  const required: RequiredFiles = {};
  if (spec.required_filepath?.length) required.required_filepath = spec.required_filepath;
  if (spec.required_folder?.length) required.required_folder = spec.required_folder;
  if (spec.required_file_expression?.length) required.required_file_expression = spec.required_file_expression;
  return required;
}

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

/** Ray's user metadata: JSON only, free in shape, bounded in depth. */
export const userMetadataSchema = jsonObjectSchema;
export type UserMetadata = z.infer<typeof userMetadataSchema>;

/** The task spec (seed 004) accepted by POST /api/v1/work-requests and `worksched submit FILE`. */
export const taskSpecSchema = z
  .object({
    task_name: taskNameSchema,
    subject: historyKeySchema.nullable().optional(),
    context: historyKeySchema.nullable().optional(),
    execution: executionSchema,
    ...requiredFilesShape,
    time_limit: durationSchema.nullable().optional(),
    resources: resourceRequirementsSchema.default({}),
    interrupt_allowed: z.boolean().default(true),
    priority: z.number().int().min(-1000).max(1000).default(0),
    max_attempts: z.number().int().min(1).max(100).default(3),
    use_history: z.boolean().default(true),
    user_metadata: userMetadataSchema.default({}),
    /** Seed 004: the parameter(s) that receive a dynamically found file's path (a files schedule sets them). */
    filepath_parameter: z.array(parameterNameSchema).min(1).max(20).optional(),
    /**
     * Seed 004: one work request per file of `required_folder` (matching `required_file_expression`), grouped in
     * a workflow; the server reads the folder when the spec is created (POST /api/v1/work-requests).
     */
    single_file_task: z.boolean().optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.required_file_expression?.length && !spec.required_folder?.length) {
      ctx.addIssue({ code: 'custom', path: ['required_file_expression'], message: 'matches files of required_folder: give required_folder too' });
    }
    if (spec.single_file_task && !spec.required_folder?.length) {
      ctx.addIssue({ code: 'custom', path: ['single_file_task'], message: 'makes one task per file of required_folder: give required_folder too' });
    }
    if (spec.single_file_task && !spec.filepath_parameter?.length) {
      ctx.addIssue({ code: 'custom', path: ['filepath_parameter'], message: 'single_file_task needs the parameter(s) that receive each file\'s path' });
    }
  });
/** What a client sends (sizes as strings allowed). */
export type TaskSpecInput = z.input<typeof taskSpecSchema>;
/** The normalised spec (sizes in bytes, time limit in seconds, defaults filled in). */
export type TaskSpec = z.output<typeof taskSpecSchema>;

/** An executable's or a script's arguments: args, then parameters as flags (see parameter_mapping). */
export function commandArguments(execution: Execution): string[] {
  const args = [...execution.args];
  for (const [name, value] of Object.entries(execution.parameters)) {
    const mapped = execution.parameter_mapping[name];
    for (const item of Array.isArray(value) ? value : [value]) {
      const text = typeof item === 'object' ? JSON.stringify(item) : String(item);
      if (mapped === undefined) args.push(`--${name}=${text}`);
      else if (mapped === '') args.push(text);
      else if (mapped.endsWith('=')) args.push(`${mapped}${text}`);
      else args.push(mapped, text);
    }
  }
  return args;
}

/** Command line of an `executable` task: the executable, then commandArguments. */
export function buildCommandLine(execution: Execution): { file: string; args: string[] } {
  if (execution.executable === undefined) throw new Error(`a ${executionKind(execution)} task has no executable`);
  return { file: execution.executable, args: commandArguments(execution) };
}

/** A python function's keyword arguments: `kwargs` and `parameters` (the schema keeps their names apart). */
export function pythonKeywordArguments(execution: Execution): PythonCall['kwargs'] {
  return { ...(execution.python?.kwargs ?? {}), ...execution.parameters };
}
