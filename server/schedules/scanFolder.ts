import fs from 'node:fs/promises';
import path from 'node:path';
import type { SeenFile } from '../sql/schedules';

/**
 * The regular files directly in `folder` whose name matches `expression` (every name when null), with the size
 * and mtime that identify them. Dot files are left out: rsync and editors write their partial files so. A file
 * that vanishes between the listing and its stat is simply not there yet. Throws when the folder cannot be read.
 */
export async function scanFolder(folder: string, expression: string | null): Promise<SeenFile[]> {
  const pattern = expression === null ? null : new RegExp(expression);
  const entries = await fs.readdir(folder, { withFileTypes: true });
  const names = entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && !entry.name.startsWith('.') && (pattern === null || pattern.test(entry.name)))
    .map((entry) => entry.name)
    .sort();
  const found = await Promise.all(
    names.map(async (name) => {
      const file = path.join(folder, name);
      try {
        const stat = await fs.stat(file, { bigint: true });
        return stat.isFile() ? { path: file, size: stat.size, mtimeNs: stat.mtimeNs } : null;
      } catch {
        return null;
      }
    }),
  );
  return found.filter((file): file is SeenFile => file !== null);
}

/**
 * The paths of the regular files directly in `folder` (dot files left out, as scanFolder), sorted by name,
 * without their size and mtime: only a symbolic link is stat'ed (is it a file?), so a folder of 10,000 files
 * costs one listing, not 10,000 stats. Throws when the folder cannot be read.
 */
export async function regularFilesIn(folder: string): Promise<string[]> {
  const entries = await fs.readdir(folder, { withFileTypes: true });
  const found = await Promise.all(
    entries
      .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && !entry.name.startsWith('.'))
      .map(async (entry) => {
        const file = path.join(folder, entry.name);
        if (entry.isFile()) return file;
        return fs.stat(file).then((stat) => (stat.isFile() ? file : null), () => null);
      }),
  );
  return found.filter((file): file is string => file !== null).sort();
}

export const fileKey = (file: SeenFile) => `${file.path}\u0000${file.size}\u0000${file.mtimeNs}`;

/** "cannot read folder /data/in: no such file or directory (ENOENT)". */
export function describeFolderError(folder: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const why: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOTDIR: 'not a directory' };
  return `the server cannot read folder ${folder}: ${code && why[code] ? `${why[code]} (${code})` : (error as Error).message}`;
}
