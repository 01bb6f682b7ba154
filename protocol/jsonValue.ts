import { z } from 'zod';

/** Free JSON (user_metadata, output_data.result, error details) may nest this deep; deeper is a 400. */
export const MAX_JSON_DEPTH = 64;

/**
 * What makes `value` unfit for a free JSON field, or null: nesting deeper than `limit` (a scalar is 0 levels,
 * `{}` 1, `{"a": []}` 2) or a `__proto__` key (JSON.parse keeps it as a key; copying it into an object would set
 * the prototype instead, losing it silently). Walks without recursion and stops at the first problem: a body
 * nested 100,000 levels must not overflow the stack here.
 */
export function findJsonProblem(value: unknown, limit: number): string | null {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item.value === null || typeof item.value !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > limit) return `nested deeper than ${limit} levels`;
    if (!Array.isArray(item.value) && Object.prototype.hasOwnProperty.call(item.value, '__proto__')) return 'the key "__proto__" is not allowed';
    const children: unknown[] = Array.isArray(item.value) ? item.value : Object.values(item.value);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push({ value: child, depth });
  }
  return null;
}

/**
 * `schema` (anything recursive, z.json() above all: its parser recurses once per level) behind a depth check
 * that runs first: too deep is one issue at the field itself, never a stack overflow.
 */
export function withBoundedDepth<S extends z.ZodType>(schema: S, maxDepth = MAX_JSON_DEPTH) {
  return z.preprocess((value, ctx) => {
    const problem = findJsonProblem(value, maxDepth);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: value });
    return value;
  }, schema);
}

/** Any JSON value, at most MAX_JSON_DEPTH levels deep: the one schema for free JSON fields. */
export const jsonValueSchema = withBoundedDepth(z.json());
export type JsonValue = z.infer<typeof jsonValueSchema>;

/** A JSON object of free values (user_metadata, workflow inputs), at most MAX_JSON_DEPTH levels deep as a whole. */
export const jsonObjectSchema = withBoundedDepth(z.record(z.string(), z.json()));
