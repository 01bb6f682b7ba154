import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TaskStatisticsQuery, TaskStatisticsSort } from '../../protocol/statistics';
import { InvalidCursorError } from '../errors';

/**
 * The opaque cursor of GET /statistics/tasks: keyset pagination, i.e. the sort values of the last row of the
 * previous page (as PostgreSQL's exact text), the sort they belong to, and a fingerprint of the filters. A key
 * is listed once across the pages however many keys are added meanwhile; only a key whose sort value changes
 * while a client pages (its runs grow under `-runs`) can move across the cursor and be seen twice or not at all.
 */
const cursorSchema = z.object({ s: z.string(), f: z.string(), v: z.array(z.string()).min(1).max(3) }).strict();

type CursorFilters = Pick<TaskStatisticsQuery, 'task_name' | 'task_name_prefix' | 'subject' | 'context' | 'min_runs'>;

export function encodeTaskKeyCursor(sort: TaskStatisticsSort, filters: CursorFilters, values: string[]): string {
  return Buffer.from(JSON.stringify({ s: sort, f: fingerprint(filters), v: values }), 'utf8').toString('base64url');
}

/** What each SQL type of a sort column accepts as cursor text (anything else would fail the cast: a 500, not a 400). */
const VALUE_CHECKS: Record<string, (value: string) => boolean> = {
  text: (value) => !value.includes('\0'),
  int: (value) => /^-?\d{1,10}$/.test(value) && Math.abs(Number(value)) <= 2 ** 31 - 1,
  bigint: (value) => /^-?\d{1,19}$/.test(value) && BigInt(value) <= 2n ** 63n - 1n && BigInt(value) >= -(2n ** 63n),
  float8: (value) => /^(-?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?|-?Infinity|NaN)$/i.test(value),
  timestamptz: (value) => /^(-?infinity|\d{4,}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?([-+]\d\d(:?\d\d){0,2})?( BC)?)$/.test(value),
};

/** The cursor's sort values, or a 400 on `cursor` if it is not one this server gave out for this sort and these filters. */
export function decodeTaskKeyCursor(cursor: string, sort: TaskStatisticsSort, filters: CursorFilters, types: readonly string[]): string[] {
  let parsed: z.infer<typeof cursorSchema>;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new InvalidCursorError('not a cursor this server gave out');
  }
  if (parsed.s !== sort) throw new InvalidCursorError(`the cursor belongs to sort=${parsed.s}, not sort=${sort}`);
  if (parsed.f !== fingerprint(filters)) throw new InvalidCursorError('the cursor belongs to other filters: pass the same filters as for the first page');
  const fits = (value: string, index: number) => VALUE_CHECKS[types[index]]?.(value) ?? false;
  if (parsed.v.length !== types.length || !parsed.v.every(fits)) throw new InvalidCursorError('not a cursor this server gave out');
  return parsed.v;
}

function fingerprint(filters: CursorFilters): string {
  const canonical = JSON.stringify([filters.task_name, filters.task_name_prefix, filters.subject, filters.context, filters.min_runs]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
}

/** PostgreSQL could not take a cursor value (SQLSTATE class 22, data exception: e.g. February 31st): a 400, not a 500. */
export function cursorRejectedByDatabase(error: unknown): InvalidCursorError | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22') ? new InvalidCursorError('not a cursor this server gave out') : null;
}
