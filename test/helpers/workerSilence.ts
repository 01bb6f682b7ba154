import { Client } from 'pg';
import { pollUntil } from './waitFor';

/**
 * Resolves once worker `workerId` (every worker, without one) was last heard of more than `seconds` ago, by the
 * database's clock: the lost-worker sweep's own measure, so a test waits exactly as long as a timeout needs.
 */
export async function waitUntilWorkersSilent(databaseUrl: string, seconds: number, workerId?: number): Promise<void> {
  const client = new Client({ connectionString: databaseUrl, application_name: 'worksched-test-silence' });
  await client.connect();
  try {
    const sql = `select bool_and(last_seen_at < now() - make_interval(secs => $1)) as silent from worker where $2::bigint is null or id = $2`;
    await pollUntil(async () => (await client.query<{ silent: boolean | null }>(sql, [seconds, workerId ?? null])).rows[0]?.silent, {
      description: `${workerId === undefined ? 'every worker' : `worker ${workerId}`} to be silent for ${seconds} s`,
      intervalMs: 50,
    });
  } finally {
    await client.end();
  }
}
