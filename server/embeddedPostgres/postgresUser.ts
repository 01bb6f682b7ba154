/**
 * Running as root: the server runs as user `postgres`, who must be able to reach the binaries and the data
 * directory (relocated under /var/lib/worksched when it cannot) and own the data.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { SUPERUSER } from './constants';
import { isEmptyOrMissing } from './helpers';

const execFileAsync = promisify(execFile);


export interface PostgresUser {
  uid: number;
  gid: number;
}

export async function postgresUserWhenRoot(progress: (line: string) => void): Promise<PostgresUser | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const existing = await lookUpUser(SUPERUSER);
  if (existing) return existing;
  // The library would create it too (createPostgresUser), but only after we need its uid for the checks below.
  progress(`creating system user "${SUPERUSER}" to run PostgreSQL (it refuses to run as root)`);
  await execFileAsync('groupadd', ['--system', SUPERUSER]).catch(() => undefined);
  await execFileAsync('useradd', ['--system', '--gid', SUPERUSER, '--no-create-home', SUPERUSER]);
  const created = await lookUpUser(SUPERUSER);
  if (!created) throw new Error(`created user "${SUPERUSER}" but cannot look it up`);
  return created;
}

async function lookUpUser(name: string): Promise<PostgresUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
      execFileAsync('id', ['-g', name]).then(({ stdout }) => Number.parseInt(stdout, 10)),
    ]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a tiny shell test as `user`, with the same identity (no supplementary groups) postgres will get. */
function succeedsAs(user: PostgresUser, script: string, args: string[]): boolean {
  const result = spawnSync('/bin/sh', ['-c', script, 'sh', ...args], {
    uid: user.uid,
    gid: user.gid,
    stdio: 'ignore',
    timeout: 10_000,
  });
  return result.status === 0;
}

export function canRunBinaries(user: PostgresUser, nativeDir: string): boolean {
  return succeedsAs(user, '"$1/bin/postgres" --version >/dev/null 2>&1 && test -r "$1/share/postgresql/postgres.bki"', [
    nativeDir,
  ]);
}

/** The first directory on the way to `target` that `user` cannot pass through, if any. */
export function firstBlockingDirectory(user: PostgresUser, target: string): string | undefined {
  const directories: string[] = [];
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    directories.unshift(current);
    if (path.dirname(current) === current) break;
  }
  return directories.find((directory) => !succeedsAs(user, 'test -x "$1"', [directory]));
}

function describeDirectory(directory: string): string {
  try {
    return execFileSync('stat', ['-c', '%A %U:%G', directory], { encoding: 'utf8' }).trim();
  } catch {
    return 'not accessible';
  }
}

/** Creates the parents of the data dir; when running as root, checks user `postgres` can reach them. */
export async function prepareDataDirParents(dataDir: string, user: PostgresUser | undefined): Promise<void> {
  const parent = path.dirname(dataDir);
  const firstCreated = await fs.mkdir(parent, { recursive: true, mode: 0o755 });
  if (!user) return;
  if (firstCreated) {
    // mkdir's mode is reduced by the umask; postgres needs to pass through what we created.
    for (let directory = parent; ; directory = path.dirname(directory)) {
      await fs.chmod(directory, 0o755);
      if (directory === firstCreated || path.dirname(directory) === directory) break;
    }
  }
  const blocker = firstBlockingDirectory(user, parent);
  if (blocker) {
    throw new Error(
      `PostgreSQL runs as user "${SUPERUSER}" (it refuses to run as root), and that user cannot reach the data directory ${dataDir}: ` +
        `it cannot pass through ${blocker} (${describeDirectory(blocker)}). ` +
        `Put the data directory somewhere else (for example WORKSCHED_DATA_DIR=/var/lib/worksched), ` +
        `or let other users pass through that directory (chmod o+x ${blocker}), or set DATABASE_URL to an existing server.`,
    );
  }
}

/** Where clusters live whose requested data dir user `postgres` cannot reach (a clone under /root). */
const RELOCATED_ROOT = '/var/lib/worksched';

/**
 * The data dir to use. When user `postgres` cannot pass through the parents of the requested one (a clone
 * under a mode-700 home directory), the cluster lives under /var/lib/worksched instead and the requested
 * path becomes a symlink to it, so `npm start` works wherever the project was cloned and the data persists.
 */
export async function reachableDataDir(requested: string, user: PostgresUser | undefined, progress: (line: string) => void): Promise<string> {
  if (!user) return requested;
  const linked = await fs.readlink(requested).catch(() => undefined);
  if (linked !== undefined) return path.resolve(path.dirname(requested), linked);
  const parent = path.dirname(requested);
  await fs.mkdir(parent, { recursive: true, mode: 0o755 });
  const blocker = firstBlockingDirectory(user, parent);
  if (!blocker || !(await isEmptyOrMissing(requested))) return requested;
  const relocated = path.join(RELOCATED_ROOT, `pg-${createHash('sha256').update(requested).digest('hex').slice(0, 12)}`);
  await fs.mkdir(RELOCATED_ROOT, { recursive: true, mode: 0o755 });
  await fs.chmod(RELOCATED_ROOT, 0o755);
  await fs.rm(requested, { recursive: true, force: true });
  await fs.symlink(relocated, requested);
  progress(`user "${SUPERUSER}" cannot pass through ${blocker}; keeping the PostgreSQL data in ${relocated} (linked from ${requested})`);
  return relocated;
}

export async function ensureOwnedBy(dataDir: string, user: PostgresUser | undefined): Promise<void> {
  if (!user) return;
  const status = await fs.stat(dataDir).catch(() => undefined);
  if (status && (status.uid !== user.uid || status.gid !== user.gid)) {
    await execFileAsync('chown', ['-R', `${user.uid}:${user.gid}`, dataDir]);
  }
}
