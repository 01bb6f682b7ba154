import type { PoolClient } from 'pg';

/**
 * Errors that say the database is away (down, restarting, frozen, out of connections) rather than that the
 * request is wrong: answered 503 database_unavailable, which clients and workers retry.
 */

/** SQLSTATEs of an unavailable server: class 08 (connection exception) and these. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57014', // query_canceled: statement_timeout
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery)
  '53300', // too_many_connections
  '58000', // system_error
  '58030', // io_error
]);

/** Node socket errors of a connection that could not be made or was cut. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Messages of pg, pg-pool and knex without a code of their own (MikroORM puts the query before them: " - "). */
const UNAVAILABLE_MESSAGES = [
  /(^| - )Connection terminated/, // pg: the server went away (or our connect timeout cut it)
  /(^| - )Query read timeout$/, // pg: query_timeout
  /(^| - )timeout expired$/, // pg: connectionTimeoutMillis
  /(^| - )timeout exceeded when trying to connect$/, // pg-pool: no connection in time
  /(^| - )Knex: Timeout acquiring a connection/, // knex: pool acquisition
  /(^| - )Client has encountered a connection error and is not queryable$/, // pg: a client broken earlier
  /Connection ended unexpectedly/, // knex: a disposed connection
];

export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === 'object' && !seen.has(current); current = (current as { cause?: unknown }).cause) {
    seen.add(current);
    const { code, name, message, errors } = current as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown };
    if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
    if (name === 'KnexTimeoutError') return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
    // Node's AggregateError (one ECONNREFUSED per address of "localhost").
    if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}

/** SQLSTATEs of a transaction PostgreSQL rolled back to break a conflict: deadlock_detected, serialization_failure. */
const CONFLICT_SQLSTATES = new Set(['40P01', '40001']);

/**
 * PostgreSQL rolled the transaction back to break a deadlock or a serialization conflict: nothing of it was
 * applied, so running it again is safe (server/transactional.ts does; what is left is answered 503).
 */
export function isTransactionConflict(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === 'object' && !seen.has(current); current = (current as { cause?: unknown }).cause) {
    seen.add(current);
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && CONFLICT_SQLSTATES.has(code)) return true;
  }
  return false;
}

/**
 * Returns a pooled client whose raw transaction failed: a connection that timed out or broke may never answer
 * again, so it leaves the pool; any other is rolled back (the rest of a multi-statement string was skipped) first.
 */
export async function releaseAfterFailedTransaction(client: PoolClient, error: unknown): Promise<void> {
  if (isDatabaseUnavailable(error)) {
    client.release(error as Error);
    return;
  }
  await client.query('rollback').catch(() => undefined);
  client.release();
}
