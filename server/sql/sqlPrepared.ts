import type { PoolClient } from 'pg';

/**
 * A statement SQL-prepared on a connection (`PREPARE name AS …`), so that it can go with others in one
 * simple-protocol string as `EXECUTE name(…)`: one round trip for several statements, each planned once per
 * connection. Its text must not depend on its values (one name, one text).
 */
export interface SqlPrepared {
  name: string;
  /** The whole `prepare name(types) as …` statement. */
  prepare: string;
}

/** What each pooled connection has prepared (a prepared statement lives as long as its session). */
const preparedOn = new WeakMap<PoolClient, Set<string>>();

/** Prepares on `client`, in one round trip, those of `statements` it has not prepared yet. */
export async function prepareOnConnection(client: PoolClient, statements: SqlPrepared[]): Promise<void> {
  const done = preparedOn.get(client) ?? new Set<string>();
  const missing = statements.filter((statement) => !done.has(statement.name));
  if (missing.length === 0) return;
  await client.query(missing.map((statement) => statement.prepare).join(';\n'));
  for (const statement of missing) done.add(statement.name);
  preparedOn.set(client, done);
}

/** `execute name(…)` with `values` inlined as literals (sqlLiteral). */
export function executePrepared(statement: { name: string }, values: unknown[], escapeLiteral: (text: string) => string): string {
  return `execute ${statement.name}(${values.map((value) => sqlLiteral(value, escapeLiteral)).join(', ')})`;
}

/**
 * A value as a literal of an EXECUTE's argument (the parameter's type coerces it): numbers as they are, strings
 * (JSON included) and arrays of numbers or strings quoted by `escapeLiteral` (pg's: it quotes every character).
 */
export function sqlLiteral(value: unknown, escapeLiteral: (text: string) => string): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return escapeLiteral(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => {
      if (typeof item === 'number' && Number.isFinite(item)) return String(item);
      if (typeof item === 'string') return `"${item.replace(/[\\"]/g, '\\$&')}"`;
      throw new Error(`not a number or string in an array literal: ${String(item)}`);
    });
    return escapeLiteral(`{${items.join(',')}}`);
  }
  throw new Error(`no literal for a ${typeof value}`);
}
