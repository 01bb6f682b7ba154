import type { OutputData } from '../../protocol/outputData';
import type { CompletionAnswer } from '../../protocol/workerApi';
import { OutputDataTooLargeError } from '../errors';

/**
 * Refuses (413, naming the field) any reported output_data whose JSON is larger than `limit` bytes, before
 * anything is written: one task must not fill the database through its result or errors.
 */
export function checkOutputDataSize(reports: Array<{ path: string; outputData: OutputData | undefined }>, limit: number): void {
  for (const { path, outputData } of reports) {
    const bytes = outputDataBytes(outputData);
    if (bytes > limit) throw new OutputDataTooLargeError(path, bytes, limit);
  }
}

/** Whether every item's output_data is within `limit` bytes (completeWithinCap would refuse none). */
export function allWithinOutputDataCap(items: Array<{ output_data: OutputData }>, limit: number): boolean {
  return items.every((item) => outputDataBytes(item.output_data) <= limit);
}

function outputDataBytes(outputData: OutputData | undefined): number {
  return outputData === undefined ? 0 : Buffer.byteLength(JSON.stringify(outputData), 'utf8');
}

/**
 * For the calls that carry many results (batch completion, claim): an item whose output_data is over the cap is
 * answered 413 on its own, nothing written for it; the others are applied by `complete`. Refusing the whole call
 * would leave a worker re-sending it for ever.
 */
export async function completeWithinCap<T extends { id: number; output_data: OutputData }>(
  items: T[],
  limit: number,
  complete: (accepted: T[]) => Promise<CompletionAnswer[]>,
): Promise<CompletionAnswer[]> {
  const refused = new Map<number, CompletionAnswer>();
  items.forEach((item, index) => {
    const bytes = outputDataBytes(item.output_data);
    if (bytes <= limit) return;
    const { message } = new OutputDataTooLargeError(`results.${index}.output_data`, bytes, limit);
    refused.set(index, { id: item.id, status: 413, error: { code: 'payload_too_large', message } });
  });
  if (refused.size === 0) return items.length > 0 ? complete(items) : [];
  const accepted = items.filter((_, index) => !refused.has(index));
  const answers = accepted.length > 0 ? await complete(accepted) : [];
  let next = 0;
  return items.map((_, index) => refused.get(index) ?? answers[next++]);
}
