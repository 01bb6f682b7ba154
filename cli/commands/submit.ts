import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeZodError } from '../../protocol/errors';
import { taskSpecSchema, type TaskSpecInput } from '../../protocol/taskSpec';
import type { WorkRequest } from '../../protocol/workRequest';
import { WaitTimeoutError } from '../../client';
import { parseDurationSeconds } from '../../protocol/units';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { parseJsonLinesSpecs, submitInBatches } from '../submitJsonLines';
import { formatRunTime, formatStatus, parseIntegerOption, printJson, truncate } from '../format';
import { watchWorkRequest } from '../watchWorkRequest';

export interface SubmitFlags extends ConnectionOptions {
  taskName?: string;
  subject?: string;
  context?: string;
  timeLimit?: string;
  memory?: string;
  cpu?: string;
  disk?: string;
  gpu?: string;
  tag?: string[];
  priority?: string;
  maxAttempts?: string;
  interrupt: boolean;
  env?: string[];
  param?: string[];
  metadata?: string;
  wait?: boolean;
  timeout?: string;
  logs?: boolean;
  json?: boolean;
  quiet?: boolean;
  jsonl?: boolean;
}

type SpecObject = Record<string, unknown>;

/** Repeatable options collect into a list (no default given, so help shows none). */
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerSubmitCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('submit')
      .description('submit a work request: a task spec file (JSON; "-" reads stdin), a JSON-lines file of specs (FILE.jsonl or --jsonl), or a command given with --task-name')
      .argument('[spec-or-command...]', 'FILE.json, FILE.jsonl or "-"; with --task-name: -- EXECUTABLE ARGS…')
      .option('--jsonl', 'the file (or "-") holds one task spec per line: all are created (in batches of up to 10,000), or none if a line is bad')
      .option('--task-name <name>', 'task name (history is keyed by it); the command follows "--"')
      .option('--subject <subject>', 'history key: what the task works on')
      .option('--context <context>', 'history key: where it runs (e.g. amd64)')
      .option('--time-limit <duration>', 'time limit: seconds or e.g. 90s, 15m, 2h')
      .option('--memory <size>', 'memory the task needs, e.g. 2GiB')
      .option('--cpu <n>', 'CPUs the task needs')
      .option('--disk <size>', 'disk space the task needs, e.g. 10GiB')
      .option('--gpu <n>', 'GPUs the task needs')
      .option('--tag <tag>', 'worker tag the task needs (repeatable)', collect)
      .option('--priority <n>', 'priority, -1000..1000 (higher runs first)')
      .option('--max-attempts <n>', 'how many attempts at most, 1..100')
      .option('--no-interrupt', 'the task must not be interrupted once started')
      .option('--env <NAME=VALUE>', 'environment variable for the task (repeatable)', collect)
      .option('--param <NAME=VALUE>', 'parameter, passed as --NAME=VALUE (repeatable)', collect)
      .option('--metadata <json>', 'user metadata: a JSON object')
      .option('--wait', 'wait until the request ends, following retries to the last attempt; exit 0 on success, 1 otherwise')
      .option('--timeout <duration>', 'with --wait (implied): give up after this long, e.g. 90s, 15m; exit 124')
      .option('--logs', "with --wait (implied): print the task's output while waiting")
      .option('--json', 'print the work request as JSON')
      .option('-q, --quiet', 'print only the id')
      .addHelpText(
        'after',
        '\nExamples:\n  worksched submit task.json\n  worksched submit --priority 5 many.jsonl\n  worksched submit --task-name hello --memory 512MiB -- /bin/echo hello\n',
      ),
  ).action(async (operands: string[], flags: SubmitFlags) => {
    if (flags.taskName === undefined && (flags.jsonl || (operands.length === 1 && operands[0].endsWith('.jsonl')))) {
      await submitJsonLines(operands, flags);
      return;
    }
    const spec = await buildSpec(operands, flags);
    const parsed = taskSpecSchema.safeParse(spec);
    if (!parsed.success) {
      const where = flags.taskName === undefined && operands[0] !== '-' ? ` (in ${operands[0]})` : '';
      throw new CliUsageError(`task spec: ${describeZodError(parsed.error)}${where}`);
    }
    const timeoutS = flags.timeout === undefined ? undefined : parseTimeout(flags.timeout);
    const wait = flags.wait || timeoutS !== undefined || flags.logs;
    const client = connect(flags);
    if (parsed.data.single_file_task) {
      const expansion = await client.createWorkRequest({ ...(spec as TaskSpecInput), single_file_task: true });
      if (flags.json) printJson(expansion);
      else if (flags.quiet) process.stdout.write(`${expansion.workflow_id}\n`);
      else process.stdout.write(`created workflow ${expansion.workflow_id}: ${expansion.work_requests.length} work requests, one per file\n`);
      return;
    }
    const created = await client.createWorkRequest(spec as TaskSpecInput);
    if (flags.json && !wait) printJson(created);
    else if (flags.quiet) process.stdout.write(`${created.id}\n`);
    else if (!flags.json) process.stdout.write(`created work request ${created.id} (${created.task_name}, ${created.status})\n`);
    if (!wait) return;

    let finished: WorkRequest;
    try {
      finished = await watchWorkRequest(client, created.id, { timeoutMs: timeoutS === undefined ? undefined : timeoutS * 1000, logs: flags.logs ?? false, quiet: flags.quiet ?? false });
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
      process.stderr.write(`worksched: ${describeTimeout(error.request, flags.timeout ?? '')}\n`);
      process.exitCode = TIMEOUT_EXIT_CODE;
      return;
    }
    if (flags.json) printJson(finished);
    else if (!flags.quiet) process.stdout.write(`${describeEnd(finished)}\n`);
    if (finished.result !== 'success') process.exitCode = 1;
  });
}

/** `submit FILE.jsonl` / `submit --jsonl FILE`: every line a spec, the flags applied to each. */
async function submitJsonLines(operands: string[], flags: SubmitFlags): Promise<void> {
  if (operands.length !== 1) throw new CliUsageError('give one JSON-lines file of task specs (or "-" for stdin)');
  if (flags.wait || flags.timeout !== undefined || flags.logs) throw new CliUsageError('--wait, --timeout and --logs take a single task spec, not a JSON-lines file');
  const file = operands[0];
  const text = await readSpecText(file);
  const specs = parseJsonLinesSpecs(text, file === '-' ? 'stdin' : file, (spec) => applyFlags(spec, flags));
  const created = await submitInBatches(connect(flags), specs);
  if (flags.json) printJson(created);
  else if (flags.quiet) process.stdout.write(created.map((request) => `${request.id}\n`).join(''));
  else {
    const ids = created.length === 1 ? `#${created[0].id}` : `#${created[0].id}…#${created[created.length - 1].id}`;
    process.stdout.write(`created ${created.length.toLocaleString('en-US')} work request${created.length === 1 ? '' : 's'} (${ids})\n`);
  }
}

/** As GNU timeout(1): the wait ran out. */
const TIMEOUT_EXIT_CODE = 124;

function parseTimeout(text: string): number {
  const seconds = parseDurationSeconds(/^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text);
  if (seconds === null || seconds <= 0) throw new CliUsageError(`--timeout must be a positive duration such as 30, 90s, 15m or 2h, got ${JSON.stringify(text)}`);
  return seconds;
}

/** "gave up after 2s: work request 7 is still pending: cannot run on any …; it stays queued (…)". */
function describeTimeout(request: WorkRequest, timeout: string): string {
  const reason = request.state_reason ? `: ${request.state_reason}` : '';
  const next = request.status === 'running' ? 'it goes on running' : 'it stays queued';
  return `gave up waiting after ${timeout}: work request ${request.id} is still ${request.status}${reason}; ${next} (stop it with \`worksched cancel ${request.id}\`)`;
}

/** The spec as the user wrote it (file or flags), flags applied on top; validated by the caller. */
export async function buildSpec(operands: string[], flags: SubmitFlags): Promise<SpecObject> {
  let spec: SpecObject;
  if (flags.taskName !== undefined) {
    const [executable, ...args] = operands;
    if (!executable) {
      throw new CliUsageError('give the command to run after "--", e.g. worksched submit --task-name hello -- /bin/echo hello');
    }
    spec = { task_name: flags.taskName, execution: { executable, args } };
  } else {
    if (operands.length !== 1) {
      throw new CliUsageError(
        operands.length === 0
          ? 'give a task spec file (or "-" for stdin), or --task-name NAME -- EXECUTABLE ARGS…'
          : 'give one task spec file; to submit a command, name the task with --task-name NAME before "--"',
      );
    }
    spec = await readSpecFile(operands[0]);
  }
  applyFlags(spec, flags);
  return spec;
}

async function readSpecText(file: string): Promise<string> {
  try {
    return file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new CliUsageError(`cannot read task spec ${file}: ${why}`);
  }
}

async function readSpecFile(file: string): Promise<SpecObject> {
  const text = await readSpecText(file);
  const source = file === '-' ? 'stdin' : file;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(`task spec ${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) {
    throw new CliUsageError(`task spec ${source} must be a JSON object like {"task_name": …, "execution": {"executable": …}}`);
  }
  return value;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Flags override (or add to) what the spec file says. */
function applyFlags(spec: SpecObject, flags: SubmitFlags): void {
  const tags = flags.tag ?? [];
  const env = flags.env ?? [];
  const params = flags.param ?? [];
  if (flags.subject !== undefined) spec.subject = flags.subject;
  if (flags.context !== undefined) spec.context = flags.context;
  if (flags.timeLimit !== undefined) spec.time_limit = /^\d+$/.test(flags.timeLimit) ? Number(flags.timeLimit) : flags.timeLimit;
  if (flags.priority !== undefined) spec.priority = parseIntegerOption(flags.priority, '--priority');
  if (flags.maxAttempts !== undefined) spec.max_attempts = parseIntegerOption(flags.maxAttempts, '--max-attempts');
  if (!flags.interrupt) spec.interrupt_allowed = false;

  const resources: SpecObject = {};
  if (flags.memory !== undefined) resources.memory = flags.memory;
  if (flags.disk !== undefined) resources.disk = flags.disk;
  if (flags.cpu !== undefined) resources.cpu = parseIntegerOption(flags.cpu, '--cpu');
  if (flags.gpu !== undefined) resources.gpu = parseIntegerOption(flags.gpu, '--gpu');
  if (tags.length > 0) resources.tags = tags;
  if (Object.keys(resources).length > 0) spec.resources = { ...objectOrEmpty(spec.resources), ...resources };

  if (env.length > 0 || params.length > 0) {
    const execution = objectOrEmpty(spec.execution);
    if (env.length > 0) execution.env = { ...objectOrEmpty(execution.env), ...parsePairs(env, '--env') };
    if (params.length > 0) execution.parameters = { ...objectOrEmpty(execution.parameters), ...parsePairs(params, '--param') };
    spec.execution = execution;
  }

  if (flags.metadata !== undefined) {
    let metadata: unknown;
    try {
      metadata = JSON.parse(flags.metadata);
    } catch (error) {
      throw new CliUsageError(`--metadata is not valid JSON: ${(error as Error).message}`);
    }
    if (!isObject(metadata)) throw new CliUsageError(`--metadata must be a JSON object, e.g. '{"ticket": "OPS-12"}'`);
    spec.user_metadata = { ...objectOrEmpty(spec.user_metadata), ...metadata };
  }
}

function parsePairs(pairs: string[], option: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new CliUsageError(`${option} ${JSON.stringify(pair)}: use NAME=VALUE`);
    result[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return result;
}

/** "work request 42 completed/success after 1.2s" plus the first error or the reason, if any. */
function describeEnd(request: WorkRequest): string {
  const firstError = request.output_data?.errors?.[0];
  const detail = firstError
    ? `: ${firstError.code}: ${truncate(firstError.message, 200)}`
    : request.output_data?.skip_reason
      ? `: ${truncate(request.output_data.skip_reason, 200)}`
      : request.result !== 'success' && request.state_reason
        ? `: ${truncate(request.state_reason, 200)}`
        : '';
  const ran = request.started_at ? ` after ${formatRunTime(request)}` : '';
  const attempt = request.supersedes !== null ? ` (attempt ${request.attempt} of ${request.max_attempts}, retry of #${request.supersedes})` : '';
  return `work request ${request.id} ${formatStatus(request)}${ran}${attempt}${detail}`;
}

function isObject(value: unknown): value is SpecObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectOrEmpty(value: unknown): SpecObject {
  return isObject(value) ? { ...value } : {};
}
