import fs from 'node:fs/promises';

/**
 * A folder's directory entry stamp: device, inode and mtime. Adding, removing or renaming a file in the folder
 * changes its mtime (replacing the folder changes its inode); a file rewritten in place does not, which is why
 * a files trigger also looks at its folder every WORKSCHED_SCHEDULE_FILES_RESCAN_S whatever the stamp says.
 * Null when the folder cannot be stat'ed (the look that follows says why).
 */
export interface FolderStamp {
  key: string;
  mtimeMs: number;
}

export async function folderStamp(folder: string): Promise<FolderStamp | null> {
  try {
    const stat = await fs.stat(folder, { bigint: true });
    return { key: `${stat.dev}:${stat.ino}:${stat.mtimeNs}`, mtimeMs: Number(stat.mtimeNs / 1_000_000n) };
  } catch {
    return null;
  }
}

/**
 * A stamp this close to the look that read it (or later: another clock) is not trusted: a file added within the
 * file system's timestamp granularity after the look would leave the mtime unchanged (git's "racily clean").
 */
export const RACY_STAMP_MS = 2_000;
