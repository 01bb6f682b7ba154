import { Client, type ClientConfig } from 'pg';

/** A server that takes longer than this to accept a connection is treated as unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Runs `fn` on a fresh connection to `url` and closes it afterwards, whatever `fn` does. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>, config: Omit<ClientConfig, 'connectionString'> = {}): Promise<T> {
  const client = new Client({ connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...config, connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
