import type { OutputData } from '../../protocol/outputData';
import { OutputDataTooLargeError } from '../errors';

/**
 * Refuses (413, naming the field) any reported output_data whose JSON is larger than `limit` bytes, before
 * anything is written: one task must not fill the database through its result or errors.
 */
export function checkOutputDataSize(reports: Array<{ path: string; outputData: OutputData | undefined }>, limit: number): void {
  for (const { path, outputData } of reports) {
    if (outputData === undefined) continue;
    const bytes = Buffer.byteLength(JSON.stringify(outputData), 'utf8');
    if (bytes > limit) throw new OutputDataTooLargeError(path, bytes, limit);
  }
}
