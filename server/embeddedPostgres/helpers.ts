/** Small helpers: files, error codes, waiting. */
import fs from 'node:fs/promises';
import path from 'node:path';

export async function majorVersion(dataDir: string): Promise<string> {
  return (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => '?')).trim();
}

export async function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export async function isEmptyOrMissing(directory: string): Promise<boolean> {
  try {
    return (await fs.readdir(directory)).length === 0;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return true;
    throw error;
  }
}

export function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
