// Jest global setup: one PostgreSQL server per test run and a migrated template database that every test file
// clones (test/helpers/database.ts). Plain ESM so jest loads it without a transform.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const TEMPLATE_DATABASE = 'worksched_template';
/** Each run's embedded server lives in `<tmpdir>/worksched-test-pg-XXXXXX/{data, owner.json}`. */
export const RUN_DIR_PREFIX = 'worksched-test-pg-';
/** Handed from setup to teardown (both run in jest's main process). */
export const RUN_STATE_KEY = '__worksched_test_postgres__';
/** A run dir without owner.json younger than this may be a run that is just starting: leave it alone. */
const UNOWNED_GRACE_MS = 5 * 60 * 1000;

export default async function globalSetup() {
  const startedAt = Date.now();
  const runId = randomBytes(4).toString('hex');
  /** @type {{ server?: import('../server/embeddedPostgres').RunningPostgres, runDir?: string, adminUrl: string, runId: string }} */
  const state = { adminUrl: '', runId };
  try {
    if (process.env.DATABASE_URL) {
      // An existing server (CI service container, a developer's own): only databases are created on it.
      state.adminUrl = process.env.DATABASE_URL;
    } else {
      const { startEmbeddedPostgres, stopOrphanedPostgres } = loadEmbeddedPostgresModule();
      await removeStaleRunDirs(stopOrphanedPostgres);
      state.runDir = await fs.mkdtemp(path.join(os.tmpdir(), RUN_DIR_PREFIX));
      await fs.chmod(state.runDir, 0o755); // mkdtemp makes it 700; the postgres user must pass through
      await fs.writeFile(path.join(state.runDir, 'owner.json'), JSON.stringify(await describeProcess(process.pid)));
      state.server = await startEmbeddedPostgres({ dataDir: path.join(state.runDir, 'data') });
      state.adminUrl = state.server.url;
    }
    globalThis[RUN_STATE_KEY] = state;

    const templateUrl = await recreateTemplateDatabase(state.adminUrl);
    await migrate(templateUrl);
    await withClient(state.adminUrl, (client) =>
      // No connections: CREATE DATABASE … TEMPLATE fails while anyone is connected to the template.
      client.query(`ALTER DATABASE ${client.escapeIdentifier(TEMPLATE_DATABASE)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`),
    );
  } catch (error) {
    await releaseServer(state);
    throw error;
  }

  process.env.WORKSCHED_TEST_ADMIN_URL = state.adminUrl;
  process.env.WORKSCHED_TEST_TEMPLATE_DB = TEMPLATE_DATABASE;
  process.env.WORKSCHED_TEST_RUN_ID = runId;
  if (process.env.WORKSCHED_TEST_VERBOSE) {
    const where = state.server ? `embedded PostgreSQL on port ${state.server.port}` : 'DATABASE_URL';
    process.stderr.write(`\ntest database ready (${where}, template migrated) in ${Date.now() - startedAt} ms\n`);
  }
}

function loadEmbeddedPostgresModule() {
  require('@swc-node/register'); // transpiles .ts on require, as bin/worksched.js does
  return /** @type {typeof import('../server/embeddedPostgres')} */ (require('../server/embeddedPostgres/index.ts'));
}

/** Stops and deletes what a killed earlier run left behind; runs that are still alive are left alone. */
async function removeStaleRunDirs(stopOrphanedPostgres) {
  const tmp = os.tmpdir();
  const entries = await fs.readdir(tmp, { withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(RUN_DIR_PREFIX)) continue;
    const runDir = path.join(tmp, entry.name);
    const status = await fs.lstat(runDir).catch(() => undefined);
    if (!status || status.uid !== process.getuid?.()) continue; // someone else's
    const owner = await readJson(path.join(runDir, 'owner.json'));
    if (owner ? await isSameProcessAlive(owner) : Date.now() - status.mtimeMs < UNOWNED_GRACE_MS) continue;
    // Signals only a postgres whose working directory is this data dir (see stopOrphanedPostgres).
    await stopOrphanedPostgres(path.join(runDir, 'data'));
    await fs.rm(runDir, { recursive: true, force: true });
  }
}

/** pid plus start time, so a recycled pid is not mistaken for the run that wrote owner.json. */
export async function describeProcess(pid) {
  return { pid, startTime: await processStartTime(pid) };
}

async function isSameProcessAlive(owner) {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if (error.code !== 'EPERM') return false;
  }
  const fields = await processStatFields(owner.pid);
  if (!fields) return true; // no /proc (macOS): pid liveness only
  // A zombie counts as dead: where pid 1 does not reap orphans, a killed run stays one.
  return fields[0] !== 'Z' && (owner.startTime === null || fields[19] === owner.startTime);
}

async function processStartTime(pid) {
  return (await processStatFields(pid))?.[19] ?? null; // field 22 of /proc/<pid>/stat: starttime
}

/** /proc/<pid>/stat fields from the state (field 3) on, split after the ")" that ends the command name. */
async function processStatFields(pid) {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

async function readJson(file) {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function recreateTemplateDatabase(adminUrl) {
  await withClient(adminUrl, async (client) => {
    const name = client.escapeIdentifier(TEMPLATE_DATABASE);
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [TEMPLATE_DATABASE]);
    if (existing.rowCount) {
      // Left by an earlier run on a DATABASE_URL server: a template database cannot be dropped as is.
      await client.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE false`);
      await client.query(`DROP DATABASE ${name} WITH (FORCE)`);
    }
    await client.query(`CREATE DATABASE ${name}`);
  });
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  return templateUrl.toString();
}

function migrate(databaseUrl) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, 'bin', 'worksched.js'), 'migrate'],
      { cwd: repoRoot, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`\`node bin/worksched.js migrate\` failed for the test template database: ${error.message}\n${stdout}${stderr}`));
        } else {
          resolve();
        }
      },
    );
  });
}

export async function withClient(url, work) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Stops the embedded server and deletes its directory; on a DATABASE_URL server, drops what this run created. */
export async function releaseServer(state) {
  if (!state) return;
  if (state.server) {
    await state.server.stop();
  } else if (state.adminUrl) {
    await withClient(state.adminUrl, async (client) => {
      const leftovers = await client.query(
        `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
        [TEMPLATE_DATABASE, `worksched_test_${state.runId}_%`],
      );
      for (const { datname } of leftovers.rows) {
        const name = client.escapeIdentifier(datname);
        if (datname === TEMPLATE_DATABASE) await client.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE false`);
        await client.query(`DROP DATABASE ${name} WITH (FORCE)`);
      }
    }).catch(() => undefined); // the server may be unreachable now; nothing of ours runs there
  }
  if (state.runDir) await fs.rm(state.runDir, { recursive: true, force: true });
}
