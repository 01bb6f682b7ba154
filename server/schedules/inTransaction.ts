import type { Knex } from '@mikro-orm/knex';
import type { EntityManager } from '@mikro-orm/postgresql';
import { types as pgTypes, type Pool, type PoolClient, type QueryConfig } from 'pg';

/** Runs `fn` in a transaction on a pooled connection: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (error) {
    // A connection that cannot even roll back is not given back to the pool.
    await client.query('rollback').catch(() => (broken = true));
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Runs `fn` in one MikroORM transaction and hands it both that transaction's entity manager (for the workflow
 * code) and its pg connection (for the firing statements), so a firing and the workflow it creates commit
 * together. The connection is knex's for this transaction: `fn` must not release it. MikroORM has it read
 * dates as strings; the firing statements get pg's own parsers back (Dates), as on a pool connection.
 */
export function inOrmTransaction<T>(em: EntityManager, fn: (client: PoolClient, tem: EntityManager) => Promise<T>): Promise<T> {
  return em.fork().transactional(async (tem) => {
    const trx = tem.getTransactionContext<Knex.Transaction>()!;
    // knex's transaction client hands out the transaction's own connection.
    const knexClient = trx.client as { acquireConnection(): Promise<unknown> };
    const raw = (await knexClient.acquireConnection()) as PoolClient;
    const client = Object.create(raw) as PoolClient;
    client.query = ((config: string | QueryConfig, values?: unknown[]) =>
      raw.query({ ...(typeof config === 'string' ? { text: config, values } : config), types: pgTypes })) as PoolClient['query'];
    return fn(client, tem);
  });
}
