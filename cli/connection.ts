import type { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { WorkschedClient } from '../client';
import { credentialsPath, readCredentialsFile } from '../common/credentialsFile';
import { CliUsageError } from './errors';

export interface ConnectionOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Adds --server and --token (also WORKSCHED_URL / WORKSCHED_TOKEN) to a client command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--server <url>', `server URL (default: $WORKSCHED_URL, else the local credentials file, else ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (default: $WORKSCHED_TOKEN, else the admin token of the local credentials file)')
    .option('--data-dir <dir>', 'where a local server keeps credentials.json (default: $WORKSCHED_DATA_DIR or ./.worksched)');
}

/** A client from flags, then environment, then the local server's credentials file. */
export function connect(options: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): WorkschedClient {
  const dataDir = path.resolve(options.dataDir ?? env.WORKSCHED_DATA_DIR ?? './.worksched');
  const file = credentialsPath(dataDir);
  const saved = readCredentialsFile(dataDir);
  const fallbackUrl = saved?.server_url ? `the URL in ${file} (${saved.server_url})` : DEFAULT_URL;
  const given = chosen(options.server, '--server', env.WORKSCHED_URL, 'WORKSCHED_URL', `the server's URL, e.g. ${DEFAULT_URL}`, fallbackUrl);
  const baseUrl = given ? checkServerUrl(given.value, given.source) : (saved?.server_url ?? DEFAULT_URL);
  const fallbackToken = saved?.admin_token ? `the admin token in ${file}` : 'no token';
  const token =
    chosen(options.token, '--token', env.WORKSCHED_TOKEN, 'WORKSCHED_TOKEN', 'an API token (`worksched token create`)', fallbackToken)?.value ??
    saved?.admin_token;
  if (!token) throw new CliUsageError(`no API token: pass --token or set WORKSCHED_TOKEN (${whyNoSavedToken(file, saved !== null)})`);
  return new WorkschedClient({ baseUrl, token });
}

/**
 * The flag, else the environment variable; an empty one is a mistake (often `VAR=$UNSET`), said as such
 * rather than silently replaced by the fallback.
 */
function chosen(
  flag: string | undefined,
  flagName: string,
  fromEnv: string | undefined,
  envName: string,
  what: string,
  fallback: string,
): { value: string; source: string } | undefined {
  if (flag !== undefined) {
    if (flag.trim() === '') throw new CliUsageError(`${flagName} is empty: give ${what}`);
    return { value: flag.trim(), source: flagName };
  }
  if (fromEnv === undefined) return undefined;
  if (fromEnv.trim() === '') {
    throw new CliUsageError(`${envName} is set but empty: set it to ${what}, or unset it to use ${fallback}`);
  }
  return { value: fromEnv.trim(), source: envName };
}

/** Only http(s) URLs; "localhost:8080" is a missing scheme, and says so. */
function checkServerUrl(text: string, source: string): string {
  let url: URL | null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:')) return text;
  const guess = /^[\w.-]+(:\d+)?(\/\S*)?$/.test(text) ? `; did you mean http://${text}?` : `, e.g. ${DEFAULT_URL}`;
  throw new CliUsageError(`${source} ${JSON.stringify(text)} is not an http:// or https:// URL${guess}`);
}

function whyNoSavedToken(file: string, readable: boolean): string {
  if (readable) return `${file} holds no admin token`;
  if (fs.existsSync(file)) return `${file} exists but cannot be read or is not valid JSON`;
  return `no local server's credentials at ${file}; run the CLI where \`npm start\` runs, or give --data-dir`;
}
