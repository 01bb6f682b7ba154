import type { ClientConfig, QueryConfig } from 'pg';

/**
 * How long the server waits on PostgreSQL before giving up (and answering 503 database_unavailable). A frozen or
 * unreachable server must not hold requests, /healthz or housekeeping for ever: a stopped postmaster still
 * accepts TCP connections (the kernel does) but never answers them, and a stopped backend enforces no
 * statement_timeout of its own, hence the client-side limits.
 */
export interface DatabaseTimeouts {
  /** TCP connect plus the startup handshake of a new connection. */
  connectMs: number;
  /** Waiting for a free connection of a pool. */
  acquireMs: number;
  /** statement_timeout, enforced by PostgreSQL. */
  statementMs: number;
  /** query_timeout, enforced here: a little longer than statementMs, so a live server's own timeout comes first. */
  queryMs: number;
}

export function databaseTimeouts(statementTimeoutS: number): DatabaseTimeouts {
  const statementMs = Math.round(statementTimeoutS * 1000);
  return { connectMs: 5_000, acquireMs: 10_000, statementMs, queryMs: statementMs + Math.min(5_000, statementMs / 2) };
}

/** The settings of one pg connection (pg.Client, pg.Pool, and knex under MikroORM). */
export function pgTimeoutSettings(timeouts: DatabaseTimeouts): Pick<ClientConfig, 'connectionTimeoutMillis' | 'statement_timeout' | 'query_timeout'> {
  return { connectionTimeoutMillis: timeouts.connectMs, statement_timeout: timeouts.statementMs, query_timeout: timeouts.queryMs };
}

/** A query with a client-side timeout of its own (pg reads `query_timeout` from the query config; its types omit it). */
export function timedQuery(text: string, timeoutMs: number | undefined): QueryConfig {
  const config: QueryConfig & { query_timeout?: number } = { text, query_timeout: timeoutMs };
  return config;
}
