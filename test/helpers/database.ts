import { Client } from 'pg';
import { sleep } from '../../common/sleep';
import { withClient } from '../../common/withClient';

export interface TestDatabase {
  /** postgres:// URL of a fresh, migrated database that only this test file uses. */
  url: string;
  name: string;
  /** Drops the database, disconnecting anyone still connected. Safe to call twice. */
  drop(): Promise<void>;
}

let databasesCreated = 0;

/**
 * Clones the migrated template database made by test/globalSetup.ts (a file copy: much faster than running
 * migrations), so test files can run in parallel without seeing each other's rows.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = requiredEnv('WORKSCHED_TEST_ADMIN_URL');
  const template = requiredEnv('WORKSCHED_TEST_TEMPLATE_DB');
  const runId = process.env.WORKSCHED_TEST_RUN_ID ?? 'local';
  databasesCreated += 1;
  // Unique across the workers of this run (pid) and recognisable as this run's (teardown drops leftovers).
  const name = `worksched_test_${runId}_${process.pid}_${databasesCreated}`;
  await withClient(adminUrl, (client) =>
    client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE ${client.escapeIdentifier(template)}`),
  );
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop() {
      dropping ??= withClient(adminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      });
      return dropping;
    },
  };
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with jest (test/globalSetup.ts sets it)`);
  return value;
}

/**
 * Runs `work` while another connection holds row locks (`lockQuery`, a `select … for update`), as a housekeeping
 * transaction of another replica would, and answers what `work` resolved to, or 'waited for the lock' when it had
 * not within `limitMs`. The locks are released (rolled back) before this returns, whatever happened.
 */
export async function whileRowsLocked<T>(
  url: string,
  lockQuery: { text: string; values: unknown[] },
  work: () => Promise<T>,
  limitMs = 5_000,
): Promise<T | 'waited for the lock'> {
  const holder = new Client({ connectionString: url });
  await holder.connect();
  const timer = new AbortController();
  try {
    await holder.query('begin');
    await holder.query(lockQuery.text, lockQuery.values);
    return await Promise.race([work(), sleep(limitMs, timer.signal).then(() => 'waited for the lock' as const)]);
  } finally {
    timer.abort();
    await holder.query('rollback').catch(() => undefined);
    await holder.end();
  }
}
