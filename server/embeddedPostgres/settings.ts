/** Remembered settings: port and password, next to the data directory (initdb wants an empty directory). */
import fs from 'node:fs/promises';
import path from 'node:path';
import { isErrorCode } from './helpers';
import type { ProcessIdentity } from './processes';

export interface ServerSettings {
  port: number;
  password: string;
  /** Set once initdb has finished: a data dir without it is an interrupted initdb. */
  initialised: boolean;
  /** The process that started (or adopted) the running server and will stop it. */
  owner?: ProcessIdentity;
}

export function settingsFileFor(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}.embedded-postgres.json`);
}

export async function readSettings(file: string): Promise<ServerSettings | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<ServerSettings>;
  if (typeof parsed.port !== 'number' || typeof parsed.password !== 'string') {
    throw new Error(`${file} is not a valid settings file (expected port and password)`);
  }
  const owner = parsed.owner && typeof parsed.owner.pid === 'number' ? parsed.owner : undefined;
  return { port: parsed.port, password: parsed.password, initialised: parsed.initialised === true, owner };
}

export async function writeSettings(file: string, settings: ServerSettings): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  await fs.chmod(temporary, 0o600);
  await fs.rename(temporary, file);
}
