/**
 * A real worksched server for HTTP tests: a fresh database (createTestDatabase), startServer on 127.0.0.1 and a
 * random port, plain fetch to talk to it, simulated workers, and a pg client to look at the rows themselves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { WorkschedClient } from '../../client';
import type { TaskSpecInput } from '../../protocol/taskSpec';
import type { WorkRequest } from '../../protocol/workRequest';
import type { ClaimRequest, ClaimedWorkRequest, CompleteWorkRequest, HeartbeatResponse, ReleaseWorkRequest } from '../../protocol/workerApi';
import { compileServerConfig, type ServerConfigInput } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { createTestDatabase, type TestDatabase } from './database';
export { sleep } from '../../common/sleep';

/**
 * A work request without its ETA fields: the housekeeping pass may fill them at any moment, so an answer compared
 * with a later read of the same request leaves them out.
 */
export function withoutEstimates<T extends { expected_start_at: unknown; expected_end_at: unknown; eta_reason: unknown }>(request: T): T {
  return { ...request, expected_start_at: null, expected_end_at: null, eta_reason: null };
}

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** The tables whose row counts a rejected request must leave alone. */
export const COUNTED_TABLES = ['work_request', 'worker', 'api_token', 'log_chunk', 'schedule', 'schedule_firing'] as const;
export type CountedTable = (typeof COUNTED_TABLES)[number];

/** `T` is what the test expects the body to be; unknown until it says (the server is what is under test). */
export interface ApiResponse<T = unknown> {
  status: number;
  /** Parsed JSON, or undefined when the body is empty or not JSON (see `text`). */
  body: T;
  text: string;
  headers: Headers;
  /** ms from sending to the full answer. */
  elapsedMs: number;
}

/** A typed answer that may instead carry the error envelope (when the status is not 2xx). */
export type OrError<T> = T & { error?: { code: string; message: string; issues?: Array<{ path: string; message: string }> } };

export interface RequestOptions {
  token?: string;
  /** Sent as JSON with content-type application/json. */
  body?: unknown;
  /** Sent as is (with `contentType`, default application/json). */
  rawBody?: string | Buffer;
  /** null: no content-type header (send a Buffer: fetch gives a string body text/plain). */
  contentType?: string | null;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** One HTTP call; never throws for a non-2xx answer (tests assert on the status). */
export async function httpRequest<T = unknown>(baseUrl: string, method: string, urlPath: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...(options.headers ?? {}) };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | Buffer | undefined;
  if (options.rawBody !== undefined) {
    body = options.rawBody;
    if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  const response = await fetch(baseUrl + urlPath, { method, headers, body, signal: options.signal });
  const text = await response.text();
  const elapsedMs = performance.now() - started;
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed as T, text, headers: response.headers, elapsedMs };
}

/** Throws a readable error (status and body) unless the answer has `status`. */
export function expectStatus<T>(response: ApiResponse<T>, status: number, what = 'request'): ApiResponse<T> {
  if (response.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${response.status}: ${response.text.slice(0, 1000)}`);
  }
  return response;
}

export interface WorkerOptions {
  name?: string;
  cpuCount?: number;
  totalMemory?: number;
  availableMemory?: number;
  availableDisk?: number;
  tags?: string[];
  concurrency?: number;
  costPerHour?: number;
}

/** A simulated worker agent: what the real agent sends, one call at a time, answers returned unasserted. */
export class SimWorker {
  constructor(
    private readonly server: TestServer,
    readonly id: number,
    readonly name: string,
    readonly token: string,
  ) {}

  call<T = unknown>(method: string, urlPath: string, body?: unknown, signal?: AbortSignal): Promise<ApiResponse<T>> {
    return this.server.request<T>(method, urlPath, { token: this.token, body, signal });
  }

  claim(body: ClaimRequest = {}, signal?: AbortSignal): Promise<ApiResponse<OrError<{ work_requests: ClaimedWorkRequest[] }>>> {
    return this.call('POST', '/api/v1/workers/claim', body, signal);
  }

  /** Claims and returns the claimed requests, failing on anything but 200. */
  async claimOk(body: ClaimRequest = {}): Promise<ClaimedWorkRequest[]> {
    const answer = expectStatus(await this.claim(body), 200, `claim by ${this.name}`);
    return answer.body.work_requests;
  }

  heartbeat(running: number[] = []): Promise<ApiResponse<OrError<HeartbeatResponse>>> {
    return this.call('POST', '/api/v1/workers/heartbeat', { running });
  }

  postLogs(
    id: number,
    entries: Array<{ seq: number; text: string; stream?: 'stdout' | 'stderr' | 'system'; ts?: string }>,
  ): Promise<ApiResponse<OrError<{ cancel: boolean }>>> {
    const now = new Date().toISOString();
    return this.call('POST', `/api/v1/work-requests/${id}/logs`, {
      entries: entries.map((entry) => ({ seq: entry.seq, ts: entry.ts ?? now, stream: entry.stream ?? 'stdout', text: entry.text })),
    });
  }

  complete(id: number, body: CompleteWorkRequest = { result: 'success' }): Promise<ApiResponse<OrError<WorkRequest>>> {
    return this.call('POST', `/api/v1/work-requests/${id}/complete`, body);
  }

  release(id: number, body: ReleaseWorkRequest): Promise<ApiResponse<OrError<WorkRequest>>> {
    return this.call('POST', `/api/v1/work-requests/${id}/release`, body);
  }
}

/** The server's count of claim transactions (worksched_claim_transactions_total on GET /metrics). */
export async function claimTransactionCount(server: TestServer): Promise<number> {
  const answer = expectStatus(await server.request('GET', '/metrics', { token: server.adminToken, headers: { accept: 'text/plain' } }), 200, 'metrics');
  const line = answer.text.split('\n').find((text) => text.startsWith('worksched_claim_transactions_total '));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

let workerCounter = 0;
let taskCounter = 0;

/** A unique, valid task name (the history key), so tests never see each other's requests by name. */
export function uniqueTaskName(prefix = 'task'): string {
  taskCounter += 1;
  return `${prefix}-${process.pid}-${taskCounter}`;
}

/** A valid task spec; `overrides` replace top-level fields. */
export function taskSpec(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return { task_name: uniqueTaskName(), execution: { executable: '/bin/true', args: [] }, ...overrides };
}

export class TestServer {
  private pg: Client | null = null;
  private closed = false;

  constructor(
    readonly server: RunningServer,
    readonly db: TestDatabase,
    readonly dataDir: string,
    /** A client-role token made through POST /api/v1/tokens at start. */
    readonly clientToken: string,
  ) {}

  get url(): string {
    return this.server.url;
  }

  get adminToken(): string {
    return this.server.adminToken;
  }

  get enrollmentToken(): string {
    return this.server.enrollmentToken;
  }

  request<T = unknown>(method: string, urlPath: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return httpRequest<T>(this.url, method, urlPath, options);
  }

  /** The typed SDK, with the client token unless told otherwise. */
  client(token: string = this.clientToken): WorkschedClient {
    return new WorkschedClient({ baseUrl: this.url, token });
  }

  async registerWorker(options: WorkerOptions = {}): Promise<SimWorker> {
    workerCounter += 1;
    const name = options.name ?? `sim-${process.pid}-${workerCounter}`;
    const answer = expectStatus(
      await this.request<{ worker: { id: number; name: string }; token: string }>('POST', '/api/v1/workers/register', {
        token: this.enrollmentToken,
        body: {
          name,
          resources: {
            cpu_count: options.cpuCount ?? 4,
            total_memory: options.totalMemory ?? 8 * GiB,
            available_memory: options.availableMemory ?? options.totalMemory ?? 8 * GiB,
            available_disk_space: options.availableDisk ?? 100 * GiB,
          },
          ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          ...(options.tags !== undefined ? { tags: options.tags } : {}),
          ...(options.costPerHour !== undefined ? { cost_per_hour: options.costPerHour } : {}),
        },
      }),
      201,
      `register worker ${name}`,
    );
    return new SimWorker(this, answer.body.worker.id, answer.body.worker.name, answer.body.token);
  }

  /** POST /api/v1/work-requests with the client token; fails unless 201. */
  async createWorkRequest(overrides: Partial<TaskSpecInput> = {}, token: string = this.clientToken): Promise<WorkRequest> {
    const answer = expectStatus(
      await this.request<WorkRequest>('POST', '/api/v1/work-requests', { token, body: taskSpec(overrides) }),
      201,
      'create work request',
    );
    return answer.body;
  }

  async getWorkRequest(id: number): Promise<WorkRequest> {
    return expectStatus(await this.request<WorkRequest>('GET', `/api/v1/work-requests/${id}`, { token: this.clientToken }), 200, `GET ${id}`).body;
  }

  /** One housekeeping pass now (lost workers, ...), as the cron job would run it. */
  runHousekeeping(): Promise<void> {
    return this.server.housekeeping.runOnce();
  }

  /** A query on the test database through our own connection (not the server's). */
  async sql<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
    if (!this.pg) {
      this.pg = new Client({ connectionString: this.db.url, application_name: 'worksched-test-inspector' });
      await this.pg.connect();
    }
    const result = await this.pg.query(text, params);
    return result.rows as R[];
  }

  async countRows(table: CountedTable): Promise<number> {
    const rows = await this.sql<{ n: string }>(`select count(*) as n from ${table}`);
    return Number(rows[0].n);
  }

  async countAll(): Promise<Record<CountedTable, number>> {
    const counts = {} as Record<CountedTable, number>;
    for (const table of COUNTED_TABLES) counts[table] = await this.countRows(table);
    return counts;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pg = this.pg;
    this.pg = null;
    try {
      await pg?.end().catch(() => undefined);
      await this.server.close();
    } finally {
      await this.db.drop();
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

export type TestServerOptions = Partial<Omit<ServerConfigInput, 'databaseUrl' | 'port' | 'host' | 'dataDir' | 'logLevel'>>;

/**
 * A server on a fresh database. Defaults keep housekeeping out of the way (long heartbeat timeout); tests that
 * are about lost workers pass their own. Close it in afterAll/afterEach.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const db = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-server-test-'));
  let server: RunningServer | undefined;
  try {
    server = await startServer(
      compileServerConfig({
        databaseUrl: db.url,
        port: 0,
        host: '127.0.0.1',
        dataDir,
        // WORKSCHED_TEST_SERVER_LOG=error (or debug…) shows the server's own log when a test needs explaining.
        logLevel: (process.env.WORKSCHED_TEST_SERVER_LOG as ServerConfigInput['logLevel']) ?? 'silent',
        heartbeatTimeoutS: 300,
        // Every JSON answer is checked against its route's response schema: a mismatch fails the test with a 500.
        validateResponses: true,
        housekeepingIntervalS: 5,
        ...options,
      }, {}),
    );
    const token = expectStatus(
      await httpRequest<{ token: string }>(server.url, 'POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'client', name: 'tests' } }),
      201,
      'create client token',
    ).body.token;
    return new TestServer(server, db, dataDir, token);
  } catch (error) {
    await server?.close().catch(() => undefined);
    await db.drop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** A plain connection to the server's database for a test to hold locks on; pg_stat_activity names it. End it in afterAll. */
export async function connectLockHolder(server: TestServer): Promise<Client> {
  const holder = new Client({ connectionString: server.db.url, application_name: 'worksched-test-holder' });
  await holder.connect();
  return holder;
}
