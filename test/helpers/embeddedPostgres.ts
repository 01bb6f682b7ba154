/** For tests of the embedded PostgreSQL: run dirs that a later run cleans up if this one is killed, and processes. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { identify } from '../../server/embeddedPostgres/processes';
import { RUN_DIR_PREFIX } from '../globalSetup';
import { isRoot, testIf } from './capabilities';

/** `<tmpdir>/worksched-test-pg-XXXXXX` with owner.json, as globalSetup's: removed by a later run if this one dies. */
export async function makeRunDir(mode = 0o755): Promise<string> {
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), RUN_DIR_PREFIX));
  await fs.chmod(runDir, mode); // 755: the postgres user (when we are root) must pass through
  await fs.writeFile(path.join(runDir, 'owner.json'), JSON.stringify(identify(process.pid)));
  return runDir;
}

/** Live (non-zombie) processes whose working directory is `dataDir`: the postmaster and its children. */
export async function processesServing(dataDir: string): Promise<number[]> {
  const realDataDir = await fs.realpath(dataDir);
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if ((await fs.readlink(`/proc/${entry}/cwd`)) === realDataDir) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** The real uid a process runs as. */
export async function uidOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

export { isRoot };

/** A test of a path that exists only when we are root (CI runs as root); reported as skipped, with why, otherwise. */
export const itAsRoot = testIf(isRoot, 'runs only as root');

/** uid and gid of a system user, from the user database. */
export function systemUserIds(name: string): { uid: number; gid: number } {
  const fields = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}
