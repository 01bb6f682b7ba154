// Jest global setup: one PostgreSQL server per test run and a migrated template database that every test file
// clones (test/helpers/database.ts). Jest compiles it with the configured transform, like the tests.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withClient } from '../common/withClient';
import { startEmbeddedPostgres, stopOrphanedPostgres, type RunningPostgres } from '../server/embeddedPostgres';
import { identify, isStillRunning, type ProcessIdentity } from '../server/embeddedPostgres/processes';

const repoRoot = path.resolve(__dirname, '..');

export const TEMPLATE_DATABASE = 'worksched_template';
/** Each run's embedded server lives in `<tmpdir>/worksched-test-pg-XXXXXX/{data, owner.json}`. */
export const RUN_DIR_PREFIX = 'worksched-test-pg-';
/** Handed from setup to teardown (both run in jest's main process). */
export const RUN_STATE_KEY = '__worksched_test_postgres__';
/** A run dir without owner.json younger than this may be a run that is just starting: leave it alone. */
const UNOWNED_GRACE_MS = 5 * 60 * 1000;

export interface RunState {
  server?: RunningPostgres;
  runDir?: string;
  adminUrl: string;
  runId: string;
}

type GlobalWithRunState = typeof globalThis & { [RUN_STATE_KEY]?: RunState };

export default async function globalSetup(): Promise<void> {
  const startedAt = Date.now();
  const runId = randomBytes(4).toString('hex');
  const state: RunState = { adminUrl: '', runId };
  try {
    if (process.env.DATABASE_URL) {
      // An existing server (CI service container, a developer's own): only databases are created on it.
      state.adminUrl = process.env.DATABASE_URL;
    } else {
      await removeStaleRunDirs();
      state.runDir = await fs.mkdtemp(path.join(os.tmpdir(), RUN_DIR_PREFIX));
      await fs.chmod(state.runDir, 0o755); // mkdtemp makes it 700; the postgres user must pass through
      await fs.writeFile(path.join(state.runDir, 'owner.json'), JSON.stringify(identify(process.pid)));
      state.server = await startEmbeddedPostgres({ dataDir: path.join(state.runDir, 'data') });
      state.adminUrl = state.server.url;
    }
    (globalThis as GlobalWithRunState)[RUN_STATE_KEY] = state;

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

/** The state globalSetup left for teardown, taken (so a second call finds nothing). */
export function takeRunState(): RunState | undefined {
  const holder = globalThis as GlobalWithRunState;
  const state = holder[RUN_STATE_KEY];
  delete holder[RUN_STATE_KEY];
  return state;
}

/** Stops and deletes what a killed earlier run left behind; runs that are still alive are left alone. */
async function removeStaleRunDirs(): Promise<void> {
  const tmp = os.tmpdir();
  for (const entry of await fs.readdir(tmp, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith(RUN_DIR_PREFIX)) continue;
    const runDir = path.join(tmp, entry.name);
    const status = await fs.lstat(runDir).catch(() => undefined);
    if (!status || status.uid !== process.getuid?.()) continue; // someone else's
    const owner = await readOwner(path.join(runDir, 'owner.json'));
    if (owner ? isStillRunning(owner) : Date.now() - status.mtimeMs < UNOWNED_GRACE_MS) continue;
    // Signals only a postgres whose working directory is this data dir (see stopOrphanedPostgres).
    await stopOrphanedPostgres(path.join(runDir, 'data'));
    await fs.rm(runDir, { recursive: true, force: true });
  }
}

async function readOwner(file: string): Promise<ProcessIdentity | undefined> {
  try {
    const owner = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<ProcessIdentity>;
    return typeof owner.pid === 'number' ? { pid: owner.pid, startTime: owner.startTime ?? null } : undefined;
  } catch {
    return undefined;
  }
}

async function recreateTemplateDatabase(adminUrl: string): Promise<string> {
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

function migrate(databaseUrl: string): Promise<void> {
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

/** Stops the embedded server and deletes its directory; on a DATABASE_URL server, drops what this run created. */
export async function releaseServer(state: RunState | undefined): Promise<void> {
  if (!state) return;
  if (state.server) {
    await state.server.stop();
  } else if (state.adminUrl) {
    await withClient(state.adminUrl, async (client) => {
      const leftovers = await client.query<{ datname: string }>(
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
