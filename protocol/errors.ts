import { z } from 'zod';

/** The one error envelope of every non-2xx answer. */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

/** `["resources", "memory"]` → "resources.memory"; `["args", 2]` → "args[2]"; the root → "(body)". */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text ? `.${String(part)}` : String(part);
  }
  return text || '(body)';
}

/** One readable line for a zod error: "resources.memory: not a size ...; priority: too big". */
export function describeZodError(error: z.ZodError): string {
  return error.issues.map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`).join('; ');
}
