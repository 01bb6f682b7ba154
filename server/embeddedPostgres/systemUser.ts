/**
 * Running as root: the server runs as a system user (created if missing), who must be able to reach the binaries
 * and the data directory (relocated under /var/lib/worksched when it cannot) and own the data.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isEmptyOrMissing } from './helpers';

const execFileAsync = promisify(execFile);

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The user to run PostgreSQL as: none unless we are root; then `name`, created as a system user if missing. */
export async function systemUserWhenRoot(name: string, progress: (line: string) => void): Promise<SystemUser | undefined> {
  if (!isRoot()) return undefined;
  const existing = await lookUpUser(name);
  if (existing) return existing;
  progress(`creating system user "${name}" to run PostgreSQL (it refuses to run as root)`);
  await execFileAsync('groupadd', ['--system', name]).catch(() => undefined); // may exist without the user
  await execFileAsync('useradd', ['--system', '--gid', name, '--no-create-home', name]);
  const created = await lookUpUser(name);
  if (!created) throw new Error(`created user "${name}" but cannot look it up`);
  return created;
}

async function lookUpUser(name: string): Promise<SystemUser | undefined> {
  const entry = await execFileAsync('getent', ['passwd', name]).then(({ stdout }) => stdout.split(':'), () => undefined);
  const [uid, gid] = [Number.parseInt(entry?.[2] ?? '', 10), Number.parseInt(entry?.[3] ?? '', 10)];
  return Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : undefined;
}

/** As root, the owner of an existing data dir: whom pg_ctl must run as to stop its server. */
export async function ownerOfDataDir(dataDir: string): Promise<SystemUser | undefined> {
  if (!isRoot()) return undefined;
  const status = await fs.stat(dataDir);
  return { name: String(status.uid), uid: status.uid, gid: status.gid };
}

/** Runs a tiny shell script as `user`, with the same identity (no supplementary groups) postgres will get. */
function runAs(user: SystemUser, script: string, args: string[]): { status: number | null; stdout: string } {
  return spawnSync('/bin/sh', ['-c', script, 'sh', ...args], { uid: user.uid, gid: user.gid, cwd: '/', encoding: 'utf8', timeout: 10_000 });
}

export function canRunBinaries(user: SystemUser, installationDir: string): boolean {
  const script = '"$1/bin/postgres" --version >/dev/null 2>&1 && test -r "$1/share/postgresql/postgres.bki"';
  return runAs(user, script, [installationDir]).status === 0;
}

/** The first directory on the way to `target` that `user` cannot pass through, if any (one shell for all). */
export function firstBlockingDirectory(user: SystemUser, target: string): string | undefined {
  const directories: string[] = [];
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    directories.unshift(current);
    if (path.dirname(current) === current) break;
  }
  const result = runAs(user, 'for d do test -x "$d" || { printf %s "$d"; exit 0; }; done', directories);
  return result.stdout === '' ? undefined : result.stdout;
}

function describeDirectory(directory: string): string {
  try {
    return execFileSync('stat', ['-c', '%A %U:%G', directory], { encoding: 'utf8' }).trim();
  } catch {
    return 'not accessible';
  }
}

/** Creates the parents of the data dir; when running as root, checks `user` can reach them. */
export async function prepareDataDirParents(dataDir: string, user: SystemUser | undefined): Promise<void> {
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
      `PostgreSQL runs as user "${user.name}" (it refuses to run as root), and that user cannot reach the data directory ${dataDir}: ` +
        `it cannot pass through ${blocker} (${describeDirectory(blocker)}). ` +
        `Put the data directory somewhere else (for example WORKSCHED_DATA_DIR=/var/lib/worksched), ` +
        `or let other users pass through that directory (chmod o+x ${blocker}), or set DATABASE_URL to an existing server.`,
    );
  }
}

/** Where clusters live whose requested data dir the system user cannot reach (a clone under /root). */
export const RELOCATED_ROOT = '/var/lib/worksched';

/**
 * The data dir to use. When `user` cannot pass through the parents of the requested one (a clone under a
 * mode-700 home directory), the cluster lives under /var/lib/worksched instead and the requested path becomes a
 * symlink to it, so `npm start` works wherever the project was cloned and the data persists.
 */
export async function reachableDataDir(requested: string, user: SystemUser | undefined, progress: (line: string) => void): Promise<string> {
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
  progress(`user "${user.name}" cannot pass through ${blocker}; keeping the PostgreSQL data in ${relocated} (linked from ${requested})`);
  return relocated;
}

/** The data dir exists, mode 700, owned by `user` (initdb as that user cannot create it in a root-owned parent). */
export async function ensureDataDirOwnedBy(dataDir: string, user: SystemUser | undefined): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (!user) return;
  const status = await fs.stat(dataDir);
  if (status.uid !== user.uid || status.gid !== user.gid) {
    await execFileAsync('chown', ['-R', `${user.uid}:${user.gid}`, dataDir]);
  }
}
