import { access, constants, opendir } from 'fs/promises';
import { ERROR_CODES } from '../../protocol/outputData';
import type { RequiredFiles } from '../../protocol/taskSpec';
import type { StartError } from './spawnChild';

export interface MissingRequiredFile {
  path: string;
  reason: string;
}

/**
 * Seed 004's required files, checked just before the task starts, with the worker's own identity (the one the
 * task runs under) and plain file system calls: no shell, no glob, nothing interpreted. Each `required_filepath`
 * must exist and be readable; each `required_folder` must hold a regular file whose name matches one of the
 * expressions (any name when there are none). Only the folder's own entries count: symbolic links and
 * subfolders are not followed, so the check never wanders into files that are not the folder's.
 */
export async function findMissingRequiredFiles(required: RequiredFiles): Promise<MissingRequiredFile[]> {
  const missing: MissingRequiredFile[] = [];
  for (const path of required.required_filepath ?? []) {
    const reason = await unreadableReason(path);
    if (reason) missing.push({ path, reason });
  }
  const expressions = (required.required_file_expression ?? []).map((source) => new RegExp(source));
  for (const path of required.required_folder ?? []) {
    const reason = await folderWithoutMatch(path, expressions);
    if (reason) missing.push({ path, reason });
  }
  return missing;
}

/** The output_data error of an attempt that did not start because of `missing`. */
export function requiredFileError(missing: MissingRequiredFile[]): StartError {
  return {
    code: ERROR_CODES.requiredFileMissing,
    message: `required file${missing.length === 1 ? '' : 's'} missing, the task was not run: ${missing.map((item) => `${item.path} (${item.reason})`).join('; ')}`,
    details: { paths: missing.map((item) => item.path) },
  };
}

function describeError(error: unknown, what: 'file' | 'folder'): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'ENOTDIR') return what === 'folder' ? 'not a folder' : 'a parent is not a folder';
  if (code === 'EACCES' || code === 'EPERM') return 'not readable by the worker';
  if (code === 'ELOOP') return 'too many symbolic links';
  return code ?? (error as Error).message;
}

async function unreadableReason(path: string): Promise<string | null> {
  try {
    await access(path, constants.R_OK);
    return null;
  } catch (error) {
    return describeError(error, 'file');
  }
}

async function folderWithoutMatch(path: string, expressions: RegExp[]): Promise<string | null> {
  let dir;
  try {
    dir = await opendir(path);
  } catch (error) {
    return describeError(error, 'folder');
  }
  // Stops at the first match (leaving the loop closes the directory): a large folder is not read to the end.
  try {
    for await (const entry of dir) {
      if (entry.isFile() && (expressions.length === 0 || expressions.some((expression) => expression.test(entry.name)))) return null;
    }
  } catch (error) {
    return describeError(error, 'folder');
  }
  return expressions.length === 0
    ? 'holds no file'
    : `holds no file whose name matches ${expressions.map((expression) => expression.source).join(' or ')}`;
}
