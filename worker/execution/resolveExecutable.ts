import { accessSync, constants, statSync } from 'fs';
import { delimiter, isAbsolute, resolve } from 'path';
import { ERROR_CODES } from '../../protocol/outputData';

export type ResolvedExecutable =
  | { ok: true; path: string }
  | { ok: false; code: typeof ERROR_CODES.executableNotFound | typeof ERROR_CODES.permissionDenied; message: string };

/** 'ok', 'missing' or 'denied' (exists but is not an executable regular file for us). */
function check(path: string): 'ok' | 'missing' | 'denied' {
  try {
    if (!statSync(path).isFile()) return 'denied';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM' ? 'denied' : 'missing';
  }
  try {
    accessSync(path, constants.X_OK);
    return 'ok';
  } catch {
    return 'denied';
  }
}

/**
 * Find what execvp would run, before spawning, so a missing or non-executable program is reported as an
 * error rather than as the wrapper shell's exit 127/126. A name with a slash is taken relative to the task's
 * working directory; a bare name is searched in the task's PATH (like execvp: a denied match is remembered
 * and reported only when no later entry is executable).
 */
export function resolveExecutable(file: string, cwd: string, envPath: string | undefined): ResolvedExecutable {
  if (file.includes('/')) {
    const path = isAbsolute(file) ? file : resolve(cwd, file);
    const state = check(path);
    if (state === 'ok') return { ok: true, path };
    return state === 'missing'
      ? { ok: false, code: ERROR_CODES.executableNotFound, message: `executable not found: ${path}` }
      : { ok: false, code: ERROR_CODES.permissionDenied, message: `permission denied: ${path} is not an executable file` };
  }
  const dirs = (envPath ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter);
  let denied: string | undefined;
  for (const dir of dirs) {
    const path = resolve(cwd, dir === '' ? '.' : dir, file);
    const state = check(path);
    if (state === 'ok') return { ok: true, path };
    if (state === 'denied') denied ??= path;
  }
  if (denied !== undefined) {
    return { ok: false, code: ERROR_CODES.permissionDenied, message: `permission denied: ${denied} (found for "${file}" in PATH) is not an executable file` };
  }
  return { ok: false, code: ERROR_CODES.executableNotFound, message: `executable not found: "${file}" is not in PATH (${envPath ?? ''})` };
}
