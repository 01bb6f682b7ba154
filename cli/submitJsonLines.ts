import type { WorkschedClient } from '../client';
import { describeZodError } from '../protocol/errors';
import { taskSpecSchema, type TaskSpecInput } from '../protocol/taskSpec';
import { MAX_BATCH_CREATE, type WorkRequest } from '../protocol/workRequest';
import { CliUsageError } from './errors';
import { StatusLine } from './statusLine';

/** Under the server's default batch body limit (16 MiB), with room for the envelope. */
const MAX_BATCH_BYTES = 15 * 1024 * 1024;

/**
 * The task specs of a JSON-lines text, one per non-blank line, each checked as the server would (`adjust` first
 * applies the command line's flags): the first bad line is a usage error naming its number and field, so
 * nothing is sent unless every line is good.
 */
export function parseJsonLinesSpecs(text: string, source: string, adjust: (spec: Record<string, unknown>) => void): TaskSpecInput[] {
  const specs: TaskSpecInput[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index].trim();
    if (line === '') continue;
    const where = `${source} line ${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CliUsageError(`${where} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CliUsageError(`${where} must be a JSON object like {"task_name": …, "execution": {"executable": …}}`);
    }
    const spec = value as Record<string, unknown>;
    adjust(spec);
    const parsed = taskSpecSchema.safeParse(spec);
    if (!parsed.success) throw new CliUsageError(`${where}: task spec: ${describeZodError(parsed.error)}`);
    specs.push(spec as TaskSpecInput);
  }
  if (specs.length === 0) throw new CliUsageError(`${source} has no task specs (one JSON object per line)`);
  return specs;
}

/** Batches of at most MAX_BATCH_CREATE specs and MAX_BATCH_BYTES of JSON, in order. */
export function splitIntoBatches(specs: TaskSpecInput[]): TaskSpecInput[][] {
  const batches: TaskSpecInput[][] = [];
  let current: TaskSpecInput[] = [];
  let bytes = 0;
  for (const spec of specs) {
    const size = Buffer.byteLength(JSON.stringify(spec)) + 1;
    if (current.length > 0 && (current.length >= MAX_BATCH_CREATE || bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(spec);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Creates the specs through the batch route, batch after batch, with a progress line on a terminal. A batch is
 * all or nothing; if one fails, the error says how many were created by the batches before it.
 */
export async function submitInBatches(client: WorkschedClient, specs: TaskSpecInput[]): Promise<WorkRequest[]> {
  const created: WorkRequest[] = [];
  const total = specs.length.toLocaleString('en-US');
  const status = new StatusLine(() => `submitting: ${created.length.toLocaleString('en-US')} of ${total} created`);
  status.start();
  try {
    for (const batch of splitIntoBatches(specs)) {
      try {
        created.push(...(await client.createWorkRequests(batch)));
      } catch (error) {
        if (created.length > 0 && error instanceof Error) {
          error.message = `${error.message} (the ${created.length.toLocaleString('en-US')} work requests of the lines before it were created, up to #${created[created.length - 1].id})`;
        }
        throw error;
      }
      status.redraw();
    }
  } finally {
    status.stop();
  }
  return created;
}
