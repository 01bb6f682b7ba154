import { z } from 'zod';
import { readSmallRegularFile } from './taskFiles';

/** What python/runner.py writes to its status file when the call did not end with a value. */
const pythonStatusSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('exception'), type: z.string().min(1).max(100), qualified_type: z.string().max(1000), message: z.string() }),
  z.object({ kind: z.literal('error'), code: z.string().min(1).max(100), message: z.string() }),
  z.object({ kind: z.literal('invalid_result'), message: z.string() }),
]);
export type PythonStatus = z.infer<typeof pythonStatusSchema>;

/** The runner's status, or null when it wrote none (the call returned, or the process died before it could say). */
export function readPythonStatus(path: string): PythonStatus | null {
  const file = readSmallRegularFile(path, 64 * 1024);
  if (file.kind !== 'text') return null;
  try {
    const parsed = pythonStatusSchema.safeParse(JSON.parse(file.text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
