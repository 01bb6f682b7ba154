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

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL cannot store this text, or null: a NUL character, or a lone UTF-16 surrogate (`"\ud800"`, not Unicode). */
function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return null;
}

/** The first string (or object key) PostgreSQL cannot store (see unstorableText): its path and why; null if none. */
export function findUnstorableText(value: unknown, path: PropertyKey[] = []): { path: PropertyKey[]; message: string } | null {
  const found = findUnstorable(value);
  return found ? { path: [...path, ...found.reversedPath.reverse()], message: found.message } : null;
}

/** The walk of findUnstorableText: the path is built only for what is found (a batch of specs has thousands of nodes). */
function findUnstorable(value: unknown): { reversedPath: PropertyKey[]; message: string } | null {
  if (typeof value === 'string') {
    const message = unstorableText(value);
    return message ? { reversedPath: [], message } : null;
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const found = findUnstorable(value[index]);
      if (found) {
        found.reversedPath.push(index);
        return found;
      }
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      const message = unstorableText(key);
      if (message) return { reversedPath: [key], message: `key ${message}` };
      const found = findUnstorable((value as Record<string, unknown>)[key]);
      if (found) {
        found.reversedPath.push(key);
        return found;
      }
    }
  }
  return null;
}
