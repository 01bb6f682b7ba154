import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { withClient } from '../../common/withClient';
import { compileServerConfig, type ServerConfigInput } from '../../server/config';
import { startEmbeddedPostgres } from '../../server/embeddedPostgres';
import { claimPickingQuery } from '../../server/sql/claim';
import type { SqlStatement } from '../../server/sql/statement';
import { startServer, type RunningServer } from '../../server/startServer';
import type { RegisterWorkerResponse, WorkerResources } from '../../protocol/workerApi';
import { BenchHttp } from './http';
import { describeLatency, setPostgresProcessRoot, summarize } from './stats';

const startedAt = Date.now();

/** A progress line, with the seconds since the bench started. */
export function progress(line: string): void {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${seconds}s] ${line}\n`);
}

/** Things to undo, last in first out; every step runs even if an earlier one fails. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => unknown }> = [];

  add(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  async runAll(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        progress(`cleanup: ${step.what} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

/** A temp dir the embedded postgres user (when running as root) can pass through; removed on cleanup. */
export async function makeTempDir(cleanup: Cleanup, prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o755);
  cleanup.add(`remove ${dir}`, () => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface BenchPostgres {
  /** 'embedded' or the DATABASE_URL host. */
  origin: string;
  version: string;
  settings: string;
  /** Creates a fresh database (dropped on `cleanup`) and returns its URL. */
  createDatabase(cleanup: Cleanup, label: string): Promise<string>;
  /**
   * Before a scenario: a CHECKPOINT, so that the dirty pages and WAL the earlier scenarios left behind are written
   * now rather than by a checkpoint in the middle of this one's timing. Needs superuser (or pg_checkpoint); skipped
   * with a note when not allowed.
   */
  settle(): Promise<string | null>;
}

/** DATABASE_URL when set (databases are created on that server), else an embedded PostgreSQL in a fresh temp dir. */
export async function provisionPostgres(cleanup: Cleanup): Promise<BenchPostgres> {
  let adminUrl: string;
  let origin: string;
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
    origin = `DATABASE_URL (${new URL(adminUrl).host})`;
  } else {
    const root = await makeTempDir(cleanup, 'worksched-bench-');
    progress(`starting embedded PostgreSQL in ${root}`);
    const dataDir = path.join(root, 'pg');
    let postgres = await startEmbeddedPostgres({ dataDir, onProgress: (line) => progress(`  ${line}`) });
    let stop = () => postgres.stop();
    cleanup.add('stop embedded PostgreSQL', () => stop());
    // pg_stat_statements ships with the embedded binaries but must be preloaded: set it and restart once. With
    // planning tracked: a statement planned on every call can cost more to plan than to run.
    const preloaded = await withClient(postgres.url, async (client) => {
      await client.query(`alter system set shared_preload_libraries = 'pg_stat_statements'`);
      await client.query(`alter system set pg_stat_statements.track_planning = on`);
    }).then(
      () => true,
      (error: unknown) => {
        progress(`  pg_stat_statements not enabled: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
    );
    if (preloaded) {
      progress('  restarting it with pg_stat_statements preloaded');
      await postgres.stop();
      postgres = await startEmbeddedPostgres({ dataDir, onProgress: (line) => progress(`  ${line}`) });
      stop = () => postgres.stop();
    }
    setPostgresProcessRoot(postgres.pid);
    adminUrl = postgres.url;
    origin = 'embedded';
  }
  const { version, settings } = await withClient(adminUrl, async (client) => {
    const v = await client.query<{ server_version: string }>('show server_version');
    const s = await client.query<{ name: string; setting: string; unit: string | null }>(
      `select name, setting, unit from pg_settings
       where name in ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'wal_sync_method', 'shared_preload_libraries')`,
    );
    const byName = new Map(s.rows.map((row) => [row.name, row]));
    const shown = ['shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'max_connections', 'shared_preload_libraries'].map((name) => {
      const row = byName.get(name);
      if (!row) return `${name}=?`;
      if (name === 'shared_buffers' && row.unit === '8kB') return `${name}=${(Number(row.setting) * 8) / 1024}MB`;
      return `${name}=${row.setting}`;
    });
    return { version: v.rows[0].server_version, settings: shown.join(' ') };
  });
  const runId = randomBytes(3).toString('hex');
  return {
    origin,
    version,
    settings,
    async createDatabase(scenarioCleanup, label) {
      const name = `worksched_bench_${label}_${runId}`;
      await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
      scenarioCleanup.add(`drop database ${name}`, () =>
        withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`)),
      );
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async settle() {
      return withClient(adminUrl, (client) => client.query('CHECKPOINT')).then(
        () => null,
        (error: unknown) => `CHECKPOINT before the scenario skipped: ${error instanceof Error ? error.message : String(error)}`,
      );
    },
  };
}

export interface BenchServer {
  server: RunningServer;
  /** The server's data dir (a temp dir removed on cleanup). */
  dataDir: string;
  http: BenchHttp;
  /** A direct connection to the scenario's database, for bulk inserts and EXPLAIN. */
  sql: Client;
}

/** The real server, in this process, on its own fresh database; stopped on `cleanup`. */
export async function startBenchServer(
  cleanup: Cleanup,
  postgres: BenchPostgres,
  label: string,
  settings: Partial<ServerConfigInput> = {},
): Promise<BenchServer> {
  const databaseUrl = await postgres.createDatabase(cleanup, label);
  const dataDir = await makeTempDir(cleanup, `worksched-bench-${label}-`);
  // The per-token create cap (1,000/s by default) is a guard against runaway clients, not the server's speed:
  // off here, or the concurrent creates of scenario 1 (about 2,000/s) hit it and measure the cap.
  const config = compileServerConfig({ databaseUrl, port: 0, dataDir, logLevel: 'silent', createRatePerS: 0, ...settings });
  const server = await startServer(config, {
    onProgress: () => undefined,
  });
  cleanup.add('close server', () => server.close());
  const http = new BenchHttp(server.url);
  cleanup.add('close HTTP agent', () => http.close());
  const sql = new Client({ connectionString: databaseUrl, application_name: 'worksched-bench' });
  await sql.connect();
  cleanup.add('close SQL connection', () => sql.end());
  const cap = config.createRatePerS > 0 ? `create cap ${config.createRatePerS}/s per token` : 'no create cap';
  progress(`server up at ${server.url} on database ${new URL(databaseUrl).pathname.slice(1)} (${cap})`);
  return { server, dataDir, http, sql };
}

export const BENCH_WORKER_RESOURCES: WorkerResources = {
  cpu_count: 4,
  total_memory: 8 * 1024 ** 3,
  available_memory: 6 * 1024 ** 3,
  available_disk_space: 100 * 1024 ** 3,
  gpus: [],
};

export interface BenchWorker {
  id: number;
  name: string;
  token: string;
}

export async function registerWorkers(bench: BenchServer, prefix: string, count: number, concurrency: number): Promise<BenchWorker[]> {
  const workers: BenchWorker[] = [];
  for (let i = 0; i < count; i += 1) {
    const answer = await bench.http.post<RegisterWorkerResponse>('/api/v1/workers/register', bench.server.enrollmentToken, {
      name: `${prefix}-${i}`,
      resources: BENCH_WORKER_RESOURCES,
      concurrency,
    });
    workers.push({ id: answer.worker.id, name: answer.worker.name, token: answer.token });
  }
  return workers;
}

/** The smallest valid task spec. */
export const NOOP_SPEC = { task_name: 'bench.noop', execution: { executable: '/bin/true' } } as const;

/**
 * Inserts `count` pending requests directly, with the columns (and values) createWorkRequest sets for NOOP_SPEC
 * (empty history, a worker that can run it: no learned requirements, no unschedulable reason), oldest first; then
 * ANALYZE, as autovacuum would do shortly after such a bulk insert. `distinctSubjects`: subject bench-N, so every
 * request has its own history key. `completed`: finished successfully instead (old rows of a busy table).
 */
export async function insertRequests(
  sql: Client,
  count: number,
  options: { distinctSubjects?: boolean; completed?: boolean } = {},
): Promise<void> {
  const taskData = { execution: { executable: '/bin/true', args: [], parameters: {}, parameter_mapping: {}, env: {} }, use_history: true };
  await sql.query(
    `insert into work_request (task_name, subject, context, status, result, state_reason, priority, priority_adjustment,
       task_data, requirements, learned_requirements, need_memory, need_disk, need_cpu, need_gpu, need_tags,
       unschedulable_reason, attempt, max_attempts, time_limit_s, interrupt_allowed, user_metadata, output_data,
       created_at, started_at, completed_at)
     select 'bench.noop', case when $3::boolean then 'bench-' || g end, null,
       case when $4::boolean then 'completed' else 'pending' end, case when $4::boolean then 'success' end, null, 0, 0,
       $1::json, '{}'::jsonb, '[]'::jsonb, null, null, null, null, '{}'::text[],
       null, 1, 3, null, true, '{}'::jsonb, case when $4::boolean then '{}'::jsonb end,
       t, case when $4::boolean then t end, case when $4::boolean then t end
     from generate_series(1, $2::int) g, lateral (select now() - interval '1 hour' + g * interval '1 microsecond' as t) c`,
    [JSON.stringify(taskData), count, options.distinctSubjects ?? false, options.completed ?? false],
  );
  await sql.query('analyze work_request');
}

interface KnexQueryEvent {
  sql: string;
  __knexQueryUid: string;
}

/**
 * Counts the SQL statements the server's ORM sends (and the time until each answer), attributed to whatever
 * phase the bench says it is in. Listens to the ORM's knex events; the server code is untouched.
 */
export class QueryCounter {
  phase = 'idle';
  private readonly started = new Map<string, { at: number; phase: string }>();
  readonly counts = new Map<string, number>();
  readonly dbMs = new Map<string, number>();
  readonly statements = new Map<string, Map<string, number>>();
  private readonly onQuery = (event: KnexQueryEvent) => {
    this.started.set(event.__knexQueryUid, { at: performance.now(), phase: this.phase });
    this.counts.set(this.phase, (this.counts.get(this.phase) ?? 0) + 1);
    const shape = event.sql
      .replace(/'[^']*'/g, "'…'")
      .replace(/\b\d+\b/g, 'N')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 60);
    const perPhase = this.statements.get(this.phase) ?? new Map<string, number>();
    perPhase.set(shape, (perPhase.get(shape) ?? 0) + 1);
    this.statements.set(this.phase, perPhase);
  };
  private readonly onResponse = (_response: unknown, event: KnexQueryEvent) => {
    const start = this.started.get(event.__knexQueryUid);
    if (!start) return;
    this.started.delete(event.__knexQueryUid);
    this.dbMs.set(start.phase, (this.dbMs.get(start.phase) ?? 0) + performance.now() - start.at);
  };

  constructor(private readonly orm: MikroORM) {
    const knex = orm.em.getKnex();
    knex.on('query', this.onQuery);
    knex.on('query-response', this.onResponse);
  }

  /** How many statements starting with `prefix` were sent in `phase`. */
  countOf(phase: string, prefix: string): number {
    let count = 0;
    for (const [shape, n] of this.statements.get(phase) ?? new Map<string, number>()) if (shape.startsWith(prefix)) count += n;
    return count;
  }

  /** "N statements, M ms waiting on PostgreSQL — 1.00× BEGIN; | …" per unit of work (`per` units in `phase`). */
  breakdown(phase: string, per: number): string {
    const count = (this.counts.get(phase) ?? 0) / per;
    const dbMs = (this.dbMs.get(phase) ?? 0) / per;
    const shapes = [...(this.statements.get(phase) ?? new Map<string, number>()).entries()]
      .sort((a, b) => b[1] - a[1])
      .filter(([, n]) => n / per >= 0.05)
      .map(([sql, n]) => `${(n / per).toFixed(2)}× ${sql.slice(0, 40)}`)
      .join(' | ');
    return `${count.toFixed(2)} statements, ${dbMs.toFixed(2)} ms waiting on PostgreSQL — ${shapes}`;
  }

  stop(): void {
    const knex = this.orm.em.getKnex();
    knex.off('query', this.onQuery);
    knex.off('query-response', this.onResponse);
  }
}

/** Runs `work` and rejects if it takes longer than `limitMs` (the bench must always end by itself). */
export async function withTimeLimit<T>(what: string, limitMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every in-flight request of every simulated worker listens to it
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${what} did not finish within ${limitMs / 1000} s`));
    }, limitMs);
  });
  try {
    return await Promise.race([work(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/**
 * Samples pg_stat_activity of the scenario's database (the server's connections) a few times a second: what the
 * server's connections are doing — running, idle in transaction (waiting for Node), waiting on a lock, on I/O.
 */
/** The first words of a statement, whitespace squeezed (SQL expression). */
const STATEMENT = (column: string) => `left(regexp_replace(${column}, '\\s+', ' ', 'g'), 45)`;

export class ActivitySampler {
  private readonly counts = new Map<string, number>();
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly sql: Client,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    return this;
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const result = await this.sql.query<{ what: string; n: string }>(
        `select coalesce(a.state, '?') || coalesce(' ' || a.wait_event_type || ':' || a.wait_event, '')
                || case when a.wait_event_type = 'Lock'
                     then ' [' || ${STATEMENT('a.query')} || ' ⟵ blocked by ' || coalesce((
                       select string_agg(distinct coalesce(b.state, '?') || ': ' || ${STATEMENT('b.query')}, ' / ')
                       from pg_stat_activity b where b.pid = any(pg_blocking_pids(a.pid))), '?') || ']'
                     else '' end as what,
                count(*) as n
         from pg_stat_activity a
         where a.datname = current_database() and a.pid <> pg_backend_pid() and a.application_name <> 'worksched-listen'
         group by 1`,
      );
      this.samples += 1;
      for (const row of result.rows) this.counts.set(row.what, (this.counts.get(row.what) ?? 0) + Number(row.n));
    } catch {
      // the database is going away
    } finally {
      this.busy = false;
    }
  }

  /** Average number of the server's connections in each state, busiest first. */
  stop(): string {
    clearInterval(this.timer);
    if (this.samples === 0) return 'no samples';
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .filter(([, n]) => n / this.samples >= 0.05)
      .map(([what, n]) => `${what} ${(n / this.samples).toFixed(1)}`)
      .join(', ');
  }
}

/**
 * The floor on this machine right now: a bare SQL round trip (`select 1` from the bench's own connection) and
 * GET /healthz (an HTTP round trip through express plus one ORM query). On a shared, busy machine both grow.
 */
export async function calibrate(bench: BenchServer, count = 200): Promise<{ sqlP50: number; healthP50: number; line: string }> {
  const sqlTimes: number[] = [];
  const healthTimes: number[] = [];
  for (let i = 0; i < count; i += 1) {
    let start = performance.now();
    await bench.sql.query('select 1');
    sqlTimes.push(performance.now() - start);
    start = performance.now();
    await bench.http.get('/healthz');
    healthTimes.push(performance.now() - start);
  }
  const sql = summarize(sqlTimes);
  const health = summarize(healthTimes);
  return {
    sqlP50: sql.p50,
    healthP50: health.p50,
    line: `floor: select 1 round trip ${describeLatency(sql)}; GET /healthz ${describeLatency(health)}`,
  };
}

/**
 * Server-side time per statement from pg_stat_statements (when the server preloads it: the embedded one does,
 * see provisionPostgres), for the scenario's database. reset() at the start of a phase, top() at its end.
 */
export class StatementStats {
  private constructor(private readonly sql: Client) {}

  static async open(sql: Client): Promise<StatementStats | undefined> {
    try {
      await sql.query('create extension if not exists pg_stat_statements');
      await sql.query('select count(*) from pg_stat_statements');
      return new StatementStats(sql);
    } catch {
      return undefined;
    }
  }

  async reset(): Promise<void> {
    await this.sql.query('select pg_stat_statements_reset()');
  }

  /** Mean execution time (ms) of the statements whose text starts with `prefix`, since the last reset. */
  async meanOf(prefix: string): Promise<number> {
    const result = await this.sql.query<{ mean: number | null }>(
      `select sum(total_exec_time) / nullif(sum(calls), 0) as mean from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database()) and ltrim(query) like $1`,
      [`${prefix}%`],
    );
    return Number(result.rows[0]?.mean ?? Number.NaN);
  }

  /** The statements that took the most server time (running and planning), per unit of work (`units` requests). */
  async top(units: number, limit = 8): Promise<string[]> {
    const result = await this.sql.query<{ calls: string; total: number; plan: number; mean: number; blocks: string; rows: string; query: string }>(
      `select calls, total_exec_time as total, total_plan_time as plan, mean_exec_time as mean, shared_blks_hit + shared_blks_read as blocks, rows,
              left(regexp_replace(query, '\\s+', ' ', 'g'), 70) as query
       from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database())
         and query not like '%pg_stat%' and userid = (select oid from pg_roles where rolname = current_user)
       order by total_exec_time + total_plan_time desc limit $1`,
      [limit],
    );
    const total = await this.sql.query<{ total: number; plan: number; calls: string }>(
      `select coalesce(sum(total_exec_time), 0) as total, coalesce(sum(total_plan_time), 0) as plan, coalesce(sum(calls), 0) as calls from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database()) and query not like '%pg_stat%'`,
    );
    const lines = [
      `server time in statements: ${(Number(total.rows[0].total) / units).toFixed(2)} ms (and ${(Number(total.rows[0].plan) / units).toFixed(2)} ms planning) per request over ${(Number(total.rows[0].calls) / units).toFixed(1)} statements (pg_stat_statements; COMMIT includes the WAL flush)`,
    ];
    for (const row of result.rows) {
      const calls = Number(row.calls);
      lines.push(
        `  ${(Number(row.total) / units).toFixed(2).padStart(6)} ms/req  plan ${(Number(row.plan) / units).toFixed(2).padStart(5)} ms/req ${(calls / units).toFixed(2).padStart(5)} calls/req  mean ${Number(row.mean).toFixed(3)} ms  ${(Number(row.blocks) / Math.max(1, calls)).toFixed(1).padStart(6)} blocks/call  ${row.query}`,
      );
    }
    return lines;
  }
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the claim's picking query (server/sql/claim.ts, the claim statement's
 * `picked`) with this worker's values as literals, rolled back (it locks a row). `constantLimit`: `limit 1` instead
 * of the server's computed limit expression, to show what the planner does when it knows the limit.
 */
export async function explainPick(
  bench: BenchServer,
  worker: BenchWorker,
  options: { constantLimit?: boolean } = {},
): Promise<{ summary: string; lines: string[]; usesIndex: boolean; executionMs: number }> {
  await bench.sql.query('begin');
  try {
    await bench.sql.query(`select set_config('enable_sort', 'off', true)`); // as the claim transaction does
    let sql = claimPickingQuery(worker.id, 1).text;
    if (options.constantLimit) sql = sql.replace(/limit greatest\([\s\S]*?\)\)\)\n/, 'limit 1\n');
    const result = await bench.sql.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${sql}`);
    const lines = result.rows.map((row) => row['QUERY PLAN']);
    const top = lines[0]?.trim() ?? '?';
    const scan = lines.find((line) => /Scan/.test(line) && /work_request r\b|on work_request r|\br$/.test(line))?.trim().replace(/^->\s+/, '') ?? '?';
    const buffers = lines.find((line) => line.trim().startsWith('Buffers:'))?.trim() ?? '';
    const execution = lines.find((line) => line.startsWith('Execution Time'))?.trim() ?? '?';
    // Only an ordered scan of the claim index stops after LIMIT rows; a bitmap scan reads and sorts every match.
    const usesIndex = lines.some((line) => line.includes('Index Scan using work_request_claim_idx'));
    const estimated = /\(cost=[^)]*rows=(\d+)/.exec(scan)?.[1];
    const actual = /\(actual[^)]*rows=([\d.]+)/.exec(scan)?.[1];
    const rowsNote = estimated !== undefined && actual !== undefined ? ` (planner expected ${estimated} matching rows, actual ${Number(actual)})` : '';
    return {
      usesIndex,
      executionMs: Number(/([\d.]+) ms/.exec(execution)?.[1] ?? Number.NaN),
      summary: `${top.replace(/\s+\((cost|actual).*$/, '')} → ${scan.replace(/\s+\((cost|actual).*$/, '')}${rowsNote}; ${buffers}; ${execution}; ${usesIndex ? 'walks the claim index in order' : 'reads and sorts every pending row (claim index not walked)'}`,
      lines,
    };
  } finally {
    await bench.sql.query('rollback');
  }
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of one of the server's statement builders (server/sql/), with its values bound
 * (`?` placeholders numbered for the pg driver), in a transaction that is rolled back: nothing it writes stays.
 */
export async function explainStatement(bench: BenchServer, statement: SqlStatement): Promise<{ summary: string; lines: string[] }> {
  let n = 0;
  const text = statement.text.replace(/\?/g, () => `$${(n += 1)}`);
  await bench.sql.query('begin');
  try {
    const result = await bench.sql.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${text}`, statement.values);
    const lines = result.rows.map((row) => row['QUERY PLAN']);
    const top = lines[0]?.trim().replace(/\s+\((cost|actual).*$/, '') ?? '?';
    const buffers = lines.find((line) => line.trim().startsWith('Buffers:'))?.trim() ?? '';
    const execution = lines.find((line) => line.startsWith('Execution Time'))?.trim() ?? '?';
    return { summary: `${top}; ${buffers}; ${execution}`, lines };
  } finally {
    await bench.sql.query('rollback');
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/**
 * Runs `work` under V8's sampling CPU profiler (this process: the server and the simulated workers) and
 * summarises self time by package (node_modules/<name>, the project's own directories, node internals) and by
 * function. With BENCH_PROFILE_DIR set, the raw profile is kept there as `<label>.cpuprofile` (for Chrome DevTools).
 */
export async function withCpuProfile<T>(label: string, work: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const inspector = await import('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const post = <R>(method: string, params?: object) =>
    new Promise<R>((resolve, reject) => session.post(method, params ?? {}, (error, answer) => (error ? reject(error) : resolve(answer as R))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  let result: T;
  let profile: { nodes: ProfileNode[] };
  try {
    result = await work();
  } finally {
    profile = (await post<{ profile: { nodes: ProfileNode[] } }>('Profiler.stop')).profile;
    session.disconnect();
  }
  let file = '';
  if (process.env.BENCH_PROFILE_DIR) {
    file = path.join(process.env.BENCH_PROFILE_DIR, `${label}.cpuprofile`);
    await fs.writeFile(file, JSON.stringify(profile));
  }
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      if (functionName !== '(idle)') {
        byPackage.set(functionName, (byPackage.get(functionName) ?? 0) + hits);
        total += hits;
      }
      continue;
    }
    total += hits;
    const packageName = packageOf(url);
    byPackage.set(packageName, (byPackage.get(packageName) ?? 0) + hits);
    const fn = `${functionName || '(anonymous)'} ${packageName}:${path.basename(url)}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
  }
  const share = (hits: number) => `${((hits / Math.max(1, total)) * 100).toFixed(1)}%`;
  const top = (map: Map<string, number>, count: number) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, hits]) => `${share(hits).padStart(6)}  ${name}`);
  return {
    result: result!,
    lines: [
      `CPU profile of this process (busy samples only${file ? `; raw profile: ${file}` : ''})`,
      '  self time by package:',
      ...top(byPackage, 14).map((line) => `    ${line}`),
      '  self time by function:',
      ...top(byFunction, 14).map((line) => `    ${line}`),
    ],
  };
}

function packageOf(url: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1];
  const project = /\/(server|bench|protocol|entities|client|common|worker|migrations)\//.exec(url);
  return project ? `worksched/${project[1]}` : url.replace(/^file:\/\//, '');
}
