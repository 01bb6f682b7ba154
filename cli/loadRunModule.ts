import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FeedItem } from '../client';
import { CliUsageError } from './errors';

export type GetTasks = (runId: string) => AsyncIterable<FeedItem> | Iterable<FeedItem>;

/** bin/importModule.js of this package, found from here in the sources (cli/) and in the build (dist/cli/). */
function importModule(): (url: string) => Promise<Record<string, unknown>> {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'bin', 'importModule.js');
    if (fs.existsSync(candidate)) return createRequire(__filename)(candidate) as (url: string) => Promise<Record<string, unknown>>;
    if (path.dirname(dir) === dir) throw new Error('bin/importModule.js not found beside the worksched sources');
  }
}

/** MODULE's getTasks (ESM or CommonJS, loaded with import()), or a usage error saying what is wrong. */
export async function loadGetTasks(modulePath: string): Promise<GetTasks> {
  const file = path.resolve(modulePath);
  if (!fs.existsSync(file)) throw new CliUsageError(`module ${modulePath} does not exist`);
  const loaded = await importModule()(pathToFileURL(file).href);
  const fromDefault = (loaded.default ?? {}) as Record<string, unknown>;
  const getTasks = loaded.getTasks ?? fromDefault.getTasks;
  if (typeof getTasks !== 'function') throw new CliUsageError(`module ${modulePath} exports no getTasks(runId) function`);
  return getTasks as GetTasks;
}
