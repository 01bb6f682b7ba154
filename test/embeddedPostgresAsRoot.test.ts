// The paths of the embedded PostgreSQL that exist only when we are root (as in CI): PostgreSQL refuses to run as
// root, so it runs as a system user, who may first have to be created and may not reach the data or the binaries.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres, stopOrphanedPostgres } from '../server/embeddedPostgres';
import { packagedInstallationDir } from '../server/embeddedPostgres/binaries';
import { RELOCATED_ROOT } from '../server/embeddedPostgres/systemUser';
import { itAsRoot, makeRunDir, processesServing, systemUserIds, uidOf } from './helpers/embeddedPostgres';

/** Undone in reverse order after all tests, also when one fails half-way. */
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function newDataDir(mode?: number): Promise<string> {
  const runDir = await makeRunDir(mode);
  const dataDir = path.join(runDir, 'data');
  cleanups.push(() => fs.rm(runDir, { recursive: true, force: true }));
  cleanups.push(() => stopOrphanedPostgres(dataDir));
  return dataDir;
}

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(sql)).rows;
  } finally {
    await client.end();
  }
}

itAsRoot('creates its system user when missing and runs the server as that user', async () => {
  const name = `wstest${randomBytes(3).toString('hex')}`;
  cleanups.push(async () => {
    execFileSync('userdel', [name]);
    await Promise.resolve().then(() => execFileSync('groupdel', [name], { stdio: 'ignore' })).catch(() => undefined);
  });
  const dataDir = await newDataDir();
  const progress: string[] = [];
  const server = await startEmbeddedPostgres({ dataDir, systemUser: name, onProgress: (line) => progress.push(line) });
  expect(progress).toContain(`creating system user "${name}" to run PostgreSQL (it refuses to run as root)`);
  const created = systemUserIds(name);
  expect(await uidOf(server.pid)).toBe(created.uid);
  expect((await fs.stat(dataDir)).uid).toBe(created.uid);
  // stopOrphanedPostgres knows no user: it runs pg_ctl as the owner of the data dir.
  expect(await stopOrphanedPostgres(dataDir)).toBe(server.pid);
  expect(await processesServing(dataDir)).toEqual([]);
  await server.stop(); // already stopped: nothing to do
});

itAsRoot("keeps the data under /var/lib/worksched when the data dir's parent is mode 700, linked from the path asked for", async () => {
  const dataDir = await newDataDir(0o700);
  const progress: string[] = [];
  const server = await startEmbeddedPostgres({ dataDir, onProgress: (line) => progress.push(line) });
  const relocated = await fs.readlink(dataDir);
  cleanups.push(() => fs.rm(relocated, { recursive: true, force: true }));
  cleanups.push(() => fs.rm(`${relocated}.embedded-postgres.json`, { force: true }));
  expect(path.dirname(relocated)).toBe(RELOCATED_ROOT);
  expect(progress).toContain(
    `user "postgres" cannot pass through ${path.dirname(dataDir)}; keeping the PostgreSQL data in ${relocated} (linked from ${dataDir})`,
  );
  expect(server.dataDir).toBe(relocated);
  expect(await query(server.url, `SELECT current_setting('data_directory') AS served`)).toEqual([{ served: relocated }]);
  await query(server.url, `CREATE TABLE kept (note text); INSERT INTO kept VALUES ('across restarts')`);
  await server.stop();

  const restartProgress: string[] = [];
  const restarted = await startEmbeddedPostgres({ dataDir, onProgress: (line) => restartProgress.push(line) });
  try {
    expect(restarted.url).toBe(server.url);
    expect(restartProgress.filter((line) => line.includes('keeping the PostgreSQL data'))).toEqual([]);
    expect(await query(restarted.url, 'SELECT note FROM kept')).toEqual([{ note: 'across restarts' }]);
  } finally {
    await restarted.stop();
  }
});

itAsRoot('runs a world-readable copy of the binaries when the system user cannot reach them (a clone under a mode-700 directory)', async () => {
  const clone = await fs.mkdtemp(path.join(os.tmpdir(), 'worksched-test-clone-')); // mode 700, like /root
  cleanups.push(() => fs.rm(clone, { recursive: true, force: true }));
  const installationDir = path.join(clone, 'native');
  await fs.cp(packagedInstallationDir(), installationDir, { recursive: true, verbatimSymlinks: true });
  const dataDir = await newDataDir();
  const progress: string[] = [];
  const server = await startEmbeddedPostgres({ dataDir, installationDir, onProgress: (line) => progress.push(line) });
  const copyLine = progress.find((line) => line.startsWith('copying the PostgreSQL binaries to ')) ?? '';
  const copyRoot = /^copying the PostgreSQL binaries to (\S+):/.exec(copyLine)?.[1] ?? '';
  cleanups.push(() => fs.rm(copyRoot, { recursive: true, force: true }));
  expect(copyLine).toBe(
    `copying the PostgreSQL binaries to ${copyRoot}: user "postgres" cannot reach ${installationDir} (blocked at ${clone})`,
  );
  const copyStatus = await fs.stat(copyRoot);
  expect([copyStatus.uid, copyStatus.mode & 0o777]).toEqual([0, 0o755]);
  const copiedPostgres = path.join(copyRoot, 'native', 'bin', 'postgres');
  expect(await fs.readlink(`/proc/${server.pid}/exe`)).toBe(copiedPostgres);
  await server.stop();

  const restartProgress: string[] = [];
  const restarted = await startEmbeddedPostgres({ dataDir, installationDir, onProgress: (line) => restartProgress.push(line) });
  try {
    expect(restartProgress.filter((line) => line.startsWith('copying'))).toEqual([]); // the copy is reused
    expect(await fs.readlink(`/proc/${restarted.pid}/exe`)).toBe(copiedPostgres);
  } finally {
    await restarted.stop();
  }
});
