import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres, stopOrphanedPostgres } from '../server/embeddedPostgres';
import { withPasswordFile } from '../server/embeddedPostgres/passwordFile';
import { createTestDatabase } from './helpers/database';
import { isRoot, itAsRoot, makeRunDir, processesServing, systemUserIds, uidOf } from './helpers/embeddedPostgres';

const repoRoot = path.resolve(__dirname, '..');

/** Run in a child Node process: starts the server, writes a row, reports, then idles until killed. */
const STARTER_SCRIPT = `
require('@swc-node/register');
const { startEmbeddedPostgres } = require(${JSON.stringify(path.join(repoRoot, 'server', 'embeddedPostgres', 'index.ts'))});
const { Client } = require('pg');
(async () => {
  const server = await startEmbeddedPostgres({ dataDir: process.argv[1] });
  const client = new Client({ connectionString: server.url });
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS survivor (note text)');
  await client.query("INSERT INTO survivor VALUES ('written before kill -9')");
  await client.end();
  process.stdout.write(JSON.stringify({ pid: server.pid, port: server.port }) + '\\n');
  setInterval(() => undefined, 60000);
})().catch((error) => { console.error(error); process.exit(1); });
`;

interface StarterReport {
  pid: number;
  port: number;
}

/** Starts the server from a child process; `kill9` then leaves that postgres orphaned. */
async function startInChild(dataDir: string): Promise<StarterReport & { kill9(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', STARTER_SCRIPT, dataDir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const report = await new Promise<StarterReport>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(JSON.parse(stdout.split('\n')[0] ?? '') as StarterReport);
    });
    child.once('exit', (code) => reject(new Error(`starter exited with code ${code}: ${stderr}`)));
  });
  return {
    ...report,
    async kill9() {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function startInChildThenKill9(dataDir: string): Promise<StarterReport> {
  const started = await startInChild(dataDir);
  await started.kill9();
  return { pid: started.pid, port: started.port };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function queryNotes(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ note: string }>('SELECT note FROM survivor');
    return result.rows.map((row) => row.note);
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL across restarts', () => {
  let runDir: string;
  let dataDir: string;

  beforeAll(async () => {
    // Same layout as globalSetup's run dirs, so that a later run cleans up after this one if it gets killed.
    runDir = await makeRunDir();
    dataDir = path.join(runDir, 'data');
  });

  afterAll(async () => {
    if (dataDir) await stopOrphanedPostgres(dataDir); // only if an assertion failed half-way
    if (runDir) await fs.rm(runDir, { recursive: true, force: true });
  });

  it('adopts the server a kill -9ed process left running, keeps its data, and stops it without orphans', async () => {
    const firstRun = await startInChild(dataDir);
    // While the process that started it lives, the server is shared, and stopping our handle leaves it running.
    const shared = await startEmbeddedPostgres({ dataDir });
    expect(shared.reusedExistingServer).toBe(true);
    expect(shared.pid).toBe(firstRun.pid);
    await shared.stop();
    expect(await processesServing(dataDir)).toContain(firstRun.pid);

    await firstRun.kill9();
    expect(await processesServing(dataDir)).toContain(firstRun.pid); // postgres outlived its parent

    const startedAt = Date.now();
    const server = await startEmbeddedPostgres({ dataDir });
    const startMs = Date.now() - startedAt;
    expect(server.reusedExistingServer).toBe(true);
    expect(server.pid).toBe(firstRun.pid);
    expect(server.port).toBe(firstRun.port);
    expect(await queryNotes(server.url)).toEqual(['written before kill -9']);
    expect(startMs).toBeLessThan(5000);

    await server.stop();
    expect(await processesServing(dataDir)).toEqual([]);
    await expect(fs.access(path.join(dataDir, 'postmaster.pid'))).rejects.toThrow();
  });

  it('stops the orphaned server and starts its own when a different port is asked for', async () => {
    const earlierRun = await startInChildThenKill9(dataDir);
    const otherPort = await freePort();

    const server = await startEmbeddedPostgres({ dataDir, port: otherPort });
    expect(server.reusedExistingServer).toBe(false);
    expect(server.port).toBe(otherPort);
    expect(server.pid).not.toBe(earlierRun.pid);
    expect(await queryNotes(server.url)).toEqual(['written before kill -9', 'written before kill -9']);
    await server.stop();
    expect(await processesServing(dataDir)).toEqual([]);
  });

  it('starts over a stale postmaster.pid, even one whose pid now belongs to another process', async () => {
    // Postgres itself refuses to start when the recorded pid is alive (a recycled pid): here it is this jest worker.
    const staleLockFile = [process.pid, dataDir, '0', '5432', '', '127.0.0.1', '0 0', 'ready', ''].join('\n');
    await fs.writeFile(path.join(dataDir, 'postmaster.pid'), staleLockFile);
    const progress: string[] = [];
    const server = await startEmbeddedPostgres({ dataDir, onProgress: (line) => progress.push(line) });
    expect(server.reusedExistingServer).toBe(false);
    expect(progress.some((line) => line.startsWith('removing stale'))).toBe(true);
    expect(progress.at(-1)).toMatch(/^PostgreSQL 18 listening on 127\.0\.0\.1:\d+$/);
    expect(new URL(server.url).hostname).toBe('127.0.0.1');
    expect(await queryNotes(server.url)).toHaveLength(2);
    await server.stop();
    await server.stop(); // idempotent
    expect(await processesServing(dataDir)).toEqual([]);
  });

  it('keeps the password out of progress lines and the settings file private', async () => {
    const progress: string[] = [];
    const server = await startEmbeddedPostgres({ dataDir, onProgress: (line) => progress.push(line) });
    const password = decodeURIComponent(new URL(server.url).password);
    await server.stop();
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(progress.join('\n')).not.toContain(password);
    const settings = await fs.stat(path.join(runDir, 'data.embedded-postgres.json'));
    expect(settings.mode & 0o077).toBe(0);
  });
});

describe('a fresh data directory', () => {
  let runDir: string | undefined;

  afterAll(async () => {
    if (!runDir) return;
    await stopOrphanedPostgres(path.join(runDir, 'data')); // only if an assertion failed half-way
    await fs.rm(runDir, { recursive: true, force: true });
  });

  it('is initialised once, served on loopback TCP only, and restarted on its saved port and password', async () => {
    runDir = await makeRunDir();
    const dataDir = path.join(runDir, 'data');
    const progress: string[] = [];
    const first = await startEmbeddedPostgres({ dataDir, onProgress: (line) => progress.push(line) });
    expect(first.reusedExistingServer).toBe(false);
    expect(progress).toContain(`initialising PostgreSQL data directory in ${dataDir}`);
    const settings = JSON.parse(await fs.readFile(path.join(runDir, 'data.embedded-postgres.json'), 'utf8')) as unknown;
    expect(settings).toMatchObject({ port: first.port, password: decodeURIComponent(new URL(first.url).password), initialised: true });
    expect((await fs.stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await fs.readdir(runDir)).filter((name) => name.startsWith('.initdb-password-'))).toEqual([]);
    // postmaster.pid line 5: Unix socket directory (none); line 6: listen address.
    const lockFileLines = (await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
    expect(lockFileLines.slice(4, 6)).toEqual(['', '127.0.0.1']);
    await first.stop();
    expect(await processesServing(dataDir)).toEqual([]);

    const restartProgress: string[] = [];
    const second = await startEmbeddedPostgres({ dataDir, onProgress: (line) => restartProgress.push(line) });
    try {
      expect(second.reusedExistingServer).toBe(false);
      expect(second.pid).not.toBe(first.pid);
      expect(second.url).toBe(first.url); // same port and password
      expect(restartProgress.filter((line) => line.startsWith('initialising'))).toEqual([]);
      const client = new Client({ connectionString: second.url });
      await client.connect();
      await client.end();
      // The server's log of this run, and of the one before.
      expect(await fs.readFile(path.join(dataDir, 'postgres.log'), 'utf8')).toContain('database system is ready to accept connections');
      expect(await fs.readFile(path.join(dataDir, 'postgres.log.1'), 'utf8')).toContain('database system is shut down');
    } finally {
      await second.stop();
    }
  });

  it('says why it did not start, from the server log, and leaves nothing running', async () => {
    const dataDir = path.join(runDir ?? (runDir = await makeRunDir()), 'data');
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    try {
      await expect(startEmbeddedPostgres({ dataDir, port: takenPort })).rejects.toThrow(
        new RegExp(`PostgreSQL failed to start on 127\\.0\\.0\\.1:${takenPort} for .*could not bind IPv4 address "127\\.0\\.0\\.1"`, 's'),
      );
    } finally {
      taken.close();
    }
    expect(await processesServing(dataDir)).toEqual([]);
  });

  itAsRoot('runs the server as user postgres and gives it the data directory', async () => {
    const dataDir = path.join(runDir ?? (runDir = await makeRunDir()), 'data');
    const server = await startEmbeddedPostgres({ dataDir });
    try {
      const postgresUser = systemUserIds('postgres');
      expect(await uidOf(server.pid)).toBe(postgresUser.uid);
      expect((await fs.stat(dataDir)).uid).toBe(postgresUser.uid);
    } finally {
      await server.stop();
    }
  });
});

describe('the initdb password file', () => {
  let parentDir: string | undefined;
  const owner = isRoot ? { name: 'postgres', ...systemUserIds('postgres') } : undefined;

  afterAll(async () => {
    if (parentDir) await fs.rm(parentDir, { recursive: true, force: true });
  });

  it('is created 0600 in a 0700 directory of the server user, whatever the umask, and removed after', async () => {
    parentDir = await makeRunDir();
    const previousUmask = process.umask(0);
    let passwordFile = '';
    try {
      await withPasswordFile(parentDir, 'secret password', owner, async (file) => {
        passwordFile = file;
        const [fileStatus, directoryStatus] = await Promise.all([fs.stat(file), fs.stat(path.dirname(file))]);
        expect(fileStatus.mode & 0o777).toBe(0o600);
        expect(directoryStatus.mode & 0o777).toBe(0o700);
        expect([fileStatus.uid, directoryStatus.uid]).toEqual(Array(2).fill(owner?.uid ?? process.getuid?.()));
        expect(await fs.readFile(file, 'utf8')).toBe('secret password\n');
      });
    } finally {
      process.umask(previousUmask);
    }
    await expect(fs.access(path.dirname(passwordFile))).rejects.toThrow();
    await expect(withPasswordFile(parentDir, 'x', owner, () => Promise.reject(new Error('initdb failed')))).rejects.toThrow('initdb failed');
    expect((await fs.readdir(parentDir)).filter((name) => name.startsWith('.initdb-password-'))).toEqual([]);
  });

  itAsRoot('cannot be read by another user', async () => {
    parentDir ??= await makeRunDir();
    await withPasswordFile(parentDir, 'secret password', owner, (file) => {
      const asNobody = spawnSync('cat', [file], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(asNobody.status).not.toBe(0);
      expect(asNobody.stdout).toBe('');
      const asOwner = spawnSync('cat', [file], { uid: owner?.uid, gid: owner?.gid, encoding: 'utf8' });
      expect(asOwner.stdout).toBe('secret password\n');
      return Promise.resolve();
    });
  });
});

describe('test databases', () => {
  it('clones the migrated template into a database of its own', async () => {
    const database = await createTestDatabase();
    try {
      const client = new Client({ connectionString: database.url });
      await client.connect();
      try {
        const migrations = await client.query<{ applied: number }>('SELECT count(*)::int AS applied FROM worksched_migrations');
        expect(migrations.rows[0].applied).toBeGreaterThan(0);
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });
});
