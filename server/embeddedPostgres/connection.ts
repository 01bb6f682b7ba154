/** Ports on the loopback address, connection URLs, and whether a server there is ours. */
import fs from 'node:fs/promises';
import net from 'node:net';
import { Client } from 'pg';
import { DATABASE_SUPERUSER, LISTEN_HOST } from './constants';

export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LISTEN_HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, LISTEN_HOST, () => server.close(() => resolve(true)));
  });
}

export function connectionUrl(port: number, password: string, database: string): string {
  return `postgres://${DATABASE_SUPERUSER}:${encodeURIComponent(password)}@${LISTEN_HOST}:${port}/${encodeURIComponent(database)}`;
}

/** Whether the server on `port` accepts our password and serves `dataDir`. */
export async function answersFor(port: number, password: string, dataDir: string): Promise<boolean> {
  const client = new Client({ connectionString: connectionUrl(port, password, 'postgres'), connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ data_directory: string }>(`SELECT current_setting('data_directory') AS data_directory`);
    const served = result.rows[0]?.data_directory;
    const realDataDir = await fs.realpath(dataDir).catch(() => dataDir);
    return served === dataDir || served === realDataDir;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
