import path from 'node:path';
import type { ServerConfig } from './config';
import { startEmbeddedPostgres, type RunningPostgres, type SupervisorLog } from './embeddedPostgres';

/**
 * DATABASE_URL when set; otherwise the embedded PostgreSQL in `<dataDir>/pg` (started here) and its
 * `worksched` database, created on first start. `stop` stops what was started (nothing for DATABASE_URL).
 */
export async function resolveDatabase(
  config: Pick<ServerConfig, 'databaseUrl' | 'dataDir'>,
  onProgress: (line: string) => void,
  /** Where the embedded server's supervisor says that it restarted PostgreSQL. */
  supervisorLog?: SupervisorLog,
): Promise<{ databaseUrl: string; stop(): Promise<void> }> {
  if (config.databaseUrl) return { databaseUrl: config.databaseUrl, stop: () => Promise.resolve() };
  const postgres = await startEmbeddedPostgres({ dataDir: path.join(config.dataDir, 'pg'), onProgress, supervise: supervisorLog });
  try {
    return { databaseUrl: await ensureDatabase(postgres, 'worksched'), stop: () => postgres.stop() };
  } catch (error) {
    await postgres.stop();
    throw error;
  }
}

async function ensureDatabase(postgres: RunningPostgres, name: string): Promise<string> {
  try {
    return await postgres.createDatabase(name);
  } catch (error) {
    if ((error as { code?: string }).code !== '42P04') throw error; // 42P04: duplicate_database
    const url = new URL(postgres.url);
    url.pathname = `/${name}`;
    return url.toString();
  }
}
