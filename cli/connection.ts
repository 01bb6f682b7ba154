import type { Command } from 'commander';
import path from 'node:path';
import { WorkschedClient } from '../client';
import { readCredentialsFile } from '../common/credentialsFile';
import { CliUsageError } from './errors';

export interface ConnectionOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

/** Adds --server and --token (also WORKSCHED_URL / WORKSCHED_TOKEN) to a client command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--server <url>', 'server URL (default: $WORKSCHED_URL, else the local credentials file, else http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (default: $WORKSCHED_TOKEN, else the admin token of the local credentials file)')
    .option('--data-dir <dir>', 'where a local server keeps credentials.json (default: $WORKSCHED_DATA_DIR or ./.worksched)');
}

/** A client from flags, then environment, then the local server's credentials file. */
export function connect(options: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): WorkschedClient {
  const dataDir = path.resolve(options.dataDir ?? env.WORKSCHED_DATA_DIR ?? './.worksched');
  const saved = readCredentialsFile(dataDir);
  const baseUrl = options.server ?? env.WORKSCHED_URL ?? saved?.server_url ?? 'http://127.0.0.1:8080';
  const token = options.token ?? env.WORKSCHED_TOKEN ?? saved?.admin_token;
  if (!token) {
    throw new CliUsageError(
      `no API token: pass --token or set WORKSCHED_TOKEN (no credentials file at ${path.join(dataDir, 'credentials.json')})`,
    );
  }
  return new WorkschedClient({ baseUrl, token });
}
