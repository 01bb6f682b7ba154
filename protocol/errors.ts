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

/** The issues of a zod error, each at the path of the field it is about (an unknown key at its own path). */
export function listZodIssues(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: formatIssuePath([...issue.path, key]), message: `unknown field "${key}"` }))
      : [{ path: formatIssuePath(issue.path), message: issue.message }],
  );
}

/** One readable line for a zod error: "resources.memory: not a size ...; priority: too big". */
export function describeZodError(error: z.ZodError): string {
  return listZodIssues(error).map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}

/** The path of the first string (or object key) holding a NUL character, which PostgreSQL cannot store. */
export function findNulCharacter(value: unknown, path: PropertyKey[] = []): PropertyKey[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const found = findNulCharacter(value[index], [...path, index]);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) return [...path, key];
      const found = findNulCharacter(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}
