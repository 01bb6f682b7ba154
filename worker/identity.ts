import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { WorkschedApiError } from '../client/http';
import type { WorkerResources } from '../protocol/workerApi';
import type { WorkerConfig } from './config';
import { WorkerServerApi } from './serverApi';

const identitySchema = z.object({ server: z.string(), worker_id: z.number().int(), name: z.string(), token: z.string() });
export type WorkerIdentity = z.infer<typeof identitySchema>;

/** Where the token came from: --token / WORKSCHED_WORKER_TOKEN, the identity file, or a registration just now. */
export interface LoadedIdentity {
  token: string;
  name: string;
  workerId: number | null;
  source: 'token' | 'saved' | 'registered';
}

export function identityPath(config: WorkerConfig): string {
  return path.join(config.stateDir, 'identity.json');
}

/**
 * The worker's token: --token if given; else the one saved by an earlier registration with this server (a
 * restarted worker keeps its identity); else it registers with the enrollment token and saves the answer
 * (mode 600).
 */
export async function loadOrRegisterIdentity(config: WorkerConfig, resources: WorkerResources, queuedIds: number[] = []): Promise<LoadedIdentity> {
  if (config.token) return { token: config.token, name: config.name, workerId: null, source: 'token' };
  const file = identityPath(config);
  const saved = readIdentity(file);
  if (saved && saved.server === config.server) return { token: saved.token, name: saved.name, workerId: saved.worker_id, source: 'saved' };
  // Saved for another URL (127.0.0.1 vs localhost, a new port): the same server when it still takes the token.
  if (saved && (await acceptsToken(config.server, saved.token, queuedIds))) {
    writeIdentity(file, { ...saved, server: config.server });
    return { token: saved.token, name: saved.name, workerId: saved.worker_id, source: 'saved' };
  }
  if (!config.enrollmentToken) {
    throw new Error(
      `no identity saved for ${config.server} in ${file}, and no enrollment token to register with: set WORKSCHED_ENROLLMENT_TOKEN or pass --enrollment-token-file ` +
        '(on the server\'s host `worksched token show enrollment` prints it; an admin can create one with `worksched token create --role enrollment`)',
    );
  }
  let answer;
  try {
    answer = await WorkerServerApi.register(config.servers, config.enrollmentToken, {
      name: config.name,
      resources,
      tags: config.tags,
      concurrency: config.concurrency,
      cost_per_hour: config.costPerHour ?? null,
    });
  } catch (error) {
    if (error instanceof WorkschedApiError && error.code === 'worker_name_taken') {
      const why = saved ? `the identity in ${file} is for ${saved.server}, whose token ${config.server} does not accept` : `no saved identity in ${file}`;
      throw new Error(`${error.message} (${why}): give this worker another --name or --work-dir`, { cause: error });
    }
    if (error instanceof WorkschedApiError && (error.status === 401 || error.status === 403)) {
      throw new Error(
        `${config.server} refused the enrollment token (${error.message}): check WORKSCHED_ENROLLMENT_TOKEN or --enrollment-token-file ` +
          '(on the server\'s host `worksched token show enrollment` prints the current one)',
        { cause: error },
      );
    }
    throw error;
  }
  const identity: WorkerIdentity = { server: config.server, worker_id: answer.worker.id, name: answer.worker.name, token: answer.token };
  writeIdentity(file, identity);
  return { token: identity.token, name: identity.name, workerId: identity.worker_id, source: 'registered' };
}

/**
 * A heartbeat with the saved token: 401/403 means another server (or a deleted worker); unreachable is thrown.
 * It lists the reports still queued on disk: a request it left out would be given back by the server.
 */
async function acceptsToken(server: string, token: string, queuedIds: number[]): Promise<boolean> {
  try {
    await new WorkerServerApi(server, token).heartbeat({ running: queuedIds });
    return true;
  } catch (error) {
    if (error instanceof WorkschedApiError && (error.status === 401 || error.status === 403)) return false;
    throw error;
  }
}

function writeIdentity(file: string, identity: WorkerIdentity): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(temporary, file);
}

function readIdentity(file: string): WorkerIdentity | null {
  try {
    return identitySchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch {
    return null;
  }
}
