/**
 * Scenario 5: the real worker agent, as operators run it — `node bin/worksched.js worker --server URL --name
 * bench-agent --work-dir <tmp> --concurrency 1` (a child process; env WORKSCHED_ENROLLMENT_TOKEN, LOG_LEVEL=warn)
 * — against the real server in this process. The agent runs from dist/, compiled first if stale (ensureBuild).
 *
 * a. Idle cost: once it has registered and settled (5 s), VmRSS from /proc/<pid>/status every second for
 *    BENCH_IDLE_S seconds (default 60), and utime+stime from /proc/<pid>/stat at both ends (clock ticks,
 *    `getconf CLK_TCK`). Idle means: a claim long-poll (wait_s 20) always parked on the server, a heartbeat every
 *    second, resources refreshed every 30 s. The CPU of the processes it spawned and reaped (cutime+cstime) is
 *    reported beside it, not in it. The server's own request counters (/metrics) say what it sent meanwhile.
 * b. Per-task overhead: 10 warm-up + 200 measured runs of /bin/true, strictly one at a time: each request is
 *    created 20 ms after the previous one was seen completed (the agent is parked in its long-poll again by then,
 *    so the create's wake-up reaches it at once). Completion is observed on the `GET …/logs?follow=true` stream,
 *    opened as soon as the create call answers: the server ends it on the request's completion wake-up (in
 *    process: the server is alone on its database, so it sends no NOTIFY) — no polling, so the observer adds no
 *    load. The figures:
 *    - server-side `completed_at − started_at` (both set by PostgreSQL, millisecond precision): from the claim
 *      transaction that handed the request to the agent to the transaction that stored its result; /bin/true
 *      itself takes ~1 ms, so this is the agent's overhead per task (claim answer → report stored);
 *    - end-to-end: from just before the create call to the end of the follow stream;
 *    - where the time goes, from the agent's own `system` log lines (their `ts` is the agent's clock, the
 *      same machine's as PostgreSQL's now()): claim → spawned, spawned → exit seen, exit → outcome built,
 *      outcome → result stored (log shipping + outbox + complete call).
 * The agent is stopped with SIGTERM (SIGKILL after 10 s) and its work dir removed at the end, also on failure.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { LogEntry, WorkRequest } from '../protocol/workRequest';
import { Cleanup, NOOP_SPEC, makeTempDir, progress, startBenchServer, withTimeLimit, type BenchPostgres, type BenchServer } from './lib/harness';
import { sleep } from '../common/sleep';
import { pollUntil } from '../test/helpers/waitFor';
import type { ScenarioReport } from './lib/report';
import { describeLatency, ms, summarize, type Summary } from './lib/stats';

const SCENARIO = '5 worker agent';
const AGENT_NAME = 'bench-agent';
const IDLE_S = positiveIntegerFromEnv('BENCH_IDLE_S', 60);
const SETTLE_MS = 5_000;
const WARMUP = 10;
const MEASURED = 200;
const GAP_MS = 20;
const TARGET_RSS_MB = 80;
const TARGET_CPU_PCT = 1;
const TARGET_OVERHEAD_P50_MS = 30;
const ROOT = path.resolve(__dirname, '..');

export async function runWorkerAgent(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'agent');
    cleanup.add('close the keep-alive HTTP agent', () => keepAlive.destroy());
    const workDir = await makeTempDir(cleanup, 'worksched-bench-agent-workdir-');
    const report: ScenarioReport = { rows: [], notes: [] };
    const clockTicks = readClockTicks();

    const agent = startAgent(bench, workDir, AGENT_NAME, 1);
    stopAgentAtCleanup(cleanup, agent, workDir);
    progress(`worker agent started: pid ${agent.child.pid}, work dir ${workDir}`);
    const spawnedAt = performance.now();
    const workerId = await waitForRegistration(bench, agent);
    const startupMs = performance.now() - spawnedAt;
    progress(`  registered as worker #${workerId} ${(startupMs / 1000).toFixed(2)} s after the spawn; settling ${SETTLE_MS / 1000} s`);
    report.rows.push({ scenario: SCENARIO, metric: 'agent start → registered', value: ms(startupMs) });
    await sleep(SETTLE_MS);
    agent.assertAlive();

    // a. Idle.
    const idle = await measureIdle(bench, agent, clockTicks);
    progress(`  idle ${IDLE_S} s: RSS max ${mb(idle.rssMax)} mean ${mb(idle.rssMean)} (first ${mb(idle.rssFirst)}, last ${mb(idle.rssLast)}); CPU ${idle.cpuPct.toFixed(2)}% of one core`);
    progress(`  ${idle.childrenLine}`);
    progress(`  sent meanwhile (server counters): ${idle.requestsLine}`);
    progress(`  memory at the end: ${idle.memoryLine}`);
    for (const line of idle.mappings) progress(`    ${line}`);
    report.rows.push(
      { scenario: SCENARIO, metric: `idle RSS max / mean (${IDLE_S} s, 1 s samples)`, value: `${mb(idle.rssMax)} / ${mb(idle.rssMean)}`, target: `≤ ${TARGET_RSS_MB} MB`, met: idle.rssMax <= TARGET_RSS_MB * 1024 * 1024 },
      { scenario: SCENARIO, metric: `idle CPU (utime+stime, ${IDLE_S} s)`, value: `${idle.cpuPct.toFixed(2)}% of a core`, target: `≤ ${TARGET_CPU_PCT}%`, met: idle.cpuPct <= TARGET_CPU_PCT },
      { scenario: SCENARIO, metric: '  idle CPU of reaped children (cutime+cstime)', value: `${idle.childrenPct.toFixed(2)}% of a core` },
      { scenario: SCENARIO, metric: '  idle requests to the server', value: idle.requestsLine },
    );
    report.notes.push(
      `worker agent, idle for ${IDLE_S} s (pid ${agent.child.pid}): ${idle.memoryLine}`,
      ...idle.mappings.map((line) => `  ${line}`),
      `  ${idle.childrenLine}; requests sent: ${idle.requestsLine}`,
    );

    // b. Per-task overhead.
    progress(`per-task overhead: ${WARMUP} warm-up + ${MEASURED} measured runs of /bin/true, one at a time (${GAP_MS} ms after the previous one completed)`);
    const tasks = await withTimeLimit('per-task runs', 240_000, () => runTasks(bench, agent, clockTicks));
    const overhead = summarize(tasks.runs.map((run) => run.serverMs));
    const endToEnd = summarize(tasks.runs.map((run) => run.endToEndMs));
    const phase = (pick: (run: TaskRun) => number | undefined) => summarize(tasks.runs.map(pick).filter((value): value is number => value !== undefined));
    const phases: Array<[string, Summary]> = [
      ['claim tx → task spawned (agent: claim answer, work dir + task file, cgroup, spawn)', phase((run) => run.toSpawnMs)],
      ...(tasks.runs.some((run) => run.toCgroupMs !== undefined)
        ? ([
            ['  of which claim tx → task cgroup created (claim answer, work dir + task file, mkdir cgroups)', phase((run) => run.toCgroupMs)],
            ['  of which task cgroup created → spawned', phase((run) => run.cgroupToSpawnMs)],
          ] as Array<[string, Summary]>)
        : []),
      ['spawned → exit seen (the task process: with cgroup measurement the wrapper shell joining the task cgroups first, then /bin/true)', phase((run) => run.runMs)],
      ['exit → outcome built (leftovers, pipes, disk walk, work dir removal)', phase((run) => run.wrapUpMs)],
      ['outcome → result stored (log shipping, outbox file, complete call)', phase((run) => run.reportMs)],
    ];
    const duration = summarize(tasks.runs.map((run) => run.durationMs ?? Number.NaN).filter(Number.isFinite));
    progress(`  agent overhead per task (completed_at − started_at): ${describeLatency(overhead)}`);
    progress(`  end-to-end (create call → completion seen on the follow stream): ${describeLatency(endToEnd)}`);
    progress(`  the create call alone: ${describeLatency(summarize(tasks.runs.map((run) => run.createMs)))}`);
    progress(`  task duration_ms as the agent measured it: ${describeLatency(duration)}; measurement: ${tasks.measurement}`);
    for (const [label, summary] of phases) progress(`    ${label}: ${describeLatency(summary)}`);
    progress(`  agent CPU per task: ${tasks.cpuPerTaskMs.toFixed(2)} ms (+ ${tasks.spawnerCpuPerTaskMs.toFixed(2)} ms in its task spawner, + ${tasks.childCpuPerTaskMs.toFixed(2)} ms in the tasks); requests per task (server counters): ${tasks.requestsLine}`);
    progress(`  memory after the runs: ${tasks.memoryLine}`);
    if (tasks.lateFollows > 0) progress(`  ${tasks.lateFollows} follow stream(s) opened after completion: their end-to-end figure is an upper bound`);
    report.rows.push(
      {
        scenario: SCENARIO,
        metric: 'agent overhead per task p50 (claim answer → report stored)',
        value: ms(overhead.p50),
        target: `≤ ${TARGET_OVERHEAD_P50_MS} ms`,
        met: overhead.p50 <= TARGET_OVERHEAD_P50_MS,
      },
      { scenario: SCENARIO, metric: '  overhead p95 / p99 / max', value: `${ms(overhead.p95)} / ${ms(overhead.p99)} / ${ms(overhead.max)}` },
      { scenario: SCENARIO, metric: 'end-to-end p50 / p95 / p99 (create → completion seen)', value: `${ms(endToEnd.p50)} / ${ms(endToEnd.p95)} / ${ms(endToEnd.p99)}` },
      ...phases.map(([label, summary]) => ({ scenario: SCENARIO, metric: `  p50 ${label.replace(/ \(.*$/, '').trim()}`, value: ms(summary.p50) })),
      { scenario: SCENARIO, metric: '  agent CPU per task (+ its spawner, + the tasks)', value: `${ms(tasks.cpuPerTaskMs)} (+ ${ms(tasks.spawnerCpuPerTaskMs)}, + ${ms(tasks.childCpuPerTaskMs)})` },
      { scenario: SCENARIO, metric: '  agent memory after the runs', value: tasks.memoryLine },
    );
    report.notes.push(
      `worker agent, ${MEASURED} runs of /bin/true (measurement ${tasks.measurement}), where the time goes (agent log timestamps, ms precision):`,
      ...phases.map(([label, summary]) => `  ${label}: ${describeLatency(summary)}`),
      `  requests per task seen by the server: ${tasks.requestsLine}`,
    );
    agent.assertAlive();
    return report;
  } finally {
    await cleanup.runAll();
  }
}

export interface Agent {
  child: ChildProcess;
  pid: number;
  /** The last lines it wrote (stdout and stderr), for error messages. */
  tail(): string;
  assertAlive(): void;
}

/**
 * `node bin/worksched.js worker --server … --name <name> --work-dir <workDir> --concurrency <concurrency>`;
 * BENCH_AGENT_NODE_ARGS (space-separated, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) go to that node, to
 * profile the agent (NODE_OPTIONS refuses the profiling flags).
 */
export function startAgent(bench: BenchServer, workDir: string, name: string, concurrency: number): Agent {
  progress(`worker agent runs ${ensureBuild()}`);
  const env: NodeJS.ProcessEnv = { ...process.env, WORKSCHED_ENROLLMENT_TOKEN: bench.server.enrollmentToken, LOG_LEVEL: 'warn' };
  for (const name of ['WORKSCHED_WORKER_TOKEN', 'WORKSCHED_URL', 'WORKSCHED_WORKER_NAME', 'WORKSCHED_WORK_DIR', 'WORKSCHED_CONCURRENCY']) delete env[name];
  const child = spawn(
    process.execPath,
    [...nodeArgsFromEnv(), path.join(ROOT, 'bin/worksched.js'), 'worker', '--server', bench.server.url, '--name', name, '--work-dir', workDir, '--concurrency', String(concurrency)],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (error) => lines.push(`spawn error: ${error.message}`));
  if (child.pid === undefined) throw new Error(`cannot start the worker agent: ${lines.join('\n')}`);
  const pid = child.pid;
  const tail = () => (lines.length ? lines.map((line) => `    ${line}`).join('\n') : '    (no output)');
  return {
    child,
    pid,
    tail,
    assertAlive() {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the worker agent exited (code ${child.exitCode}, signal ${child.signalCode}); its last output:\n${tail()}`);
      }
    },
  };
}

/** SIGTERM (the agent drains: nothing runs here), SIGKILL if it is still there after 10 s. */
/**
 * Stops `agent` in the scenario's cleanup; if the bench exits without running it (watchdog, a signal), the agent
 * must not outlive the bench either, nor its work dir.
 */
export function stopAgentAtCleanup(cleanup: Cleanup, agent: Agent, workDir: string): void {
  const killOnExit = () => {
    agent.child.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', killOnExit);
  cleanup.add('stop the worker agent', async () => {
    progress(`worker agent: ${await stopAgent(agent.child)}`);
    process.off('exit', killOnExit);
  });
}

export async function stopAgent(child: ChildProcess): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return `had already exited (code ${child.exitCode}, signal ${child.signalCode})`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const start = performance.now();
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000)))]);
  clearTimeout(timer);
  if (inTime) return `exited ${ms(performance.now() - start)} after SIGTERM (code ${child.exitCode})`;
  child.kill('SIGKILL');
  await exited;
  return 'still running 10 s after SIGTERM: killed with SIGKILL';
}

/** The agent's worker id once it has registered (an agent that died shows as the last error). */
export async function waitForRegistration(bench: BenchServer, agent: Agent, name = AGENT_NAME): Promise<number> {
  const id = await pollUntil(
    async () => {
      agent.assertAlive();
      return (await bench.sql.query<{ id: string }>('select id from worker where name = $1', [name])).rows[0]?.id;
    },
    { description: `agent ${name} to register`, timeoutMs: 60_000 },
  );
  return Number(id);
}

async function measureIdle(bench: BenchServer, agent: Agent, clockTicks: number) {
  const countsBefore = await requestCounts(bench);
  const statBefore = readStat(agent.pid);
  const start = performance.now();
  const rss: number[] = [readStatus(agent.pid).VmRSS];
  progress(`  idle: sampling VmRSS every second for ${IDLE_S} s`);
  for (let second = 1; second <= IDLE_S; second += 1) {
    await sleep(Math.max(0, start + second * 1000 - performance.now()));
    agent.assertAlive();
    rss.push(readStatus(agent.pid).VmRSS);
    if (second % 15 === 0 && second < IDLE_S) progress(`    ${second} s: RSS ${mb(rss[rss.length - 1])}`);
  }
  const statAfter = readStat(agent.pid);
  const windowS = (performance.now() - start) / 1000;
  const countsAfter = await requestCounts(bench);
  const status = readStatus(agent.pid);
  const cpuPct = ((statAfter.own - statBefore.own) / clockTicks / windowS) * 100;
  const childrenPct = ((statAfter.children - statBefore.children) / clockTicks / windowS) * 100;
  return {
    rssMax: Math.max(...rss),
    rssMean: rss.reduce((sum, value) => sum + value, 0) / rss.length,
    rssFirst: rss[0],
    rssLast: rss[rss.length - 1],
    cpuPct,
    childrenPct,
    childrenLine: `CPU of processes it spawned and reaped (cutime+cstime): ${childrenPct.toFixed(2)}% of a core; own: ${statAfter.own - statBefore.own} ticks in ${windowS.toFixed(1)} s at ${clockTicks} ticks/s`,
    requestsLine: describeCounts(countsBefore, countsAfter, 1, 'over the window'),
    memoryLine:
      `VmRSS ${mb(status.VmRSS)} = RssAnon ${mb(status.RssAnon)} + RssFile ${mb(status.RssFile)} + RssShmem ${mb(status.RssShmem)}; ` +
      `VmHWM ${mb(status.VmHWM)}; ${status.Threads} threads`,
    mappings: topMappings(agent.pid),
  };
}

interface TaskRun {
  createMs: number;
  endToEndMs: number;
  serverMs: number;
  durationMs?: number;
  toSpawnMs?: number;
  toCgroupMs?: number;
  cgroupToSpawnMs?: number;
  runMs?: number;
  wrapUpMs?: number;
  reportMs?: number;
}

async function runTasks(bench: BenchServer, agent: Agent, clockTicks: number) {
  const runs: TaskRun[] = [];
  let measurement = '?';
  let lateFollows = 0;
  let countsBefore: Map<string, number> | undefined;
  let statBefore: { own: number; children: number } | undefined;
  let spawnerBefore: { pid: number | undefined; own: number; children: number } = { pid: undefined, own: 0, children: 0 };
  for (let i = 0; i < WARMUP + MEASURED; i += 1) {
    const measuring = i >= WARMUP;
    if (i === WARMUP) {
      countsBefore = await requestCounts(bench);
      statBefore = readStat(agent.pid);
      // The tasks are the spawner's children (started by the warm-up): its CPU and theirs count as the agent's.
      const pid = findTaskSpawner(agent.pid);
      spawnerBefore = { pid, ...(pid === undefined ? { own: 0, children: 0 } : readStat(pid)) };
    }
    await sleep(GAP_MS);
    agent.assertAlive();
    const t0 = performance.now();
    const created = await post<WorkRequest>(bench, '/api/v1/work-requests', NOOP_SPEC);
    const t1 = performance.now();
    const followOpenedAt = Date.now();
    await followToEnd(bench, created.id);
    const t2 = performance.now();

    const row = await get<WorkRequest>(bench, `/api/v1/work-requests/${created.id}`);
    if (row.status !== 'completed' || row.result !== 'success' || !row.started_at || !row.completed_at) {
      throw new Error(`request ${row.id} ended ${row.status}/${row.result}: ${row.state_reason ?? ''} ${JSON.stringify(row.output_data)}; agent output:\n${agent.tail()}`);
    }
    if (!measuring) continue;
    const startedAt = Date.parse(row.started_at);
    const completedAt = Date.parse(row.completed_at);
    if (completedAt < followOpenedAt) lateFollows += 1;
    const statistics = row.output_data?.runtime_statistics;
    measurement = statistics?.measurement ?? '?';
    const { entries } = await get<{ entries: LogEntry[] }>(bench, `/api/v1/work-requests/${created.id}/logs`);
    const at = (prefix: RegExp) => {
      const entry = entries.find((item) => item.stream === 'system' && prefix.test(item.text));
      return entry ? Date.parse(entry.ts) : undefined;
    };
    const cgroup = at(/^task cgroup /);
    const spawned = at(/^started pid /);
    const exited = at(/^process \d+ (exited|killed)/);
    const outcome = at(/^result: /);
    const diff = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? b - a : undefined);
    runs.push({
      createMs: t1 - t0,
      endToEndMs: t2 - t0,
      serverMs: completedAt - startedAt,
      durationMs: statistics?.duration_ms,
      toSpawnMs: diff(startedAt, spawned),
      toCgroupMs: diff(startedAt, cgroup),
      cgroupToSpawnMs: diff(cgroup, spawned),
      runMs: diff(spawned, exited),
      wrapUpMs: diff(exited, outcome),
      reportMs: diff(outcome, completedAt),
    });
    if ((i - WARMUP + 1) % 50 === 0) progress(`    ${i - WARMUP + 1}/${MEASURED} done`);
  }
  const statAfter = readStat(agent.pid);
  const countsAfter = await requestCounts(bench);
  const status = readStatus(agent.pid);
  const spawner = findTaskSpawner(agent.pid);
  const spawnerStatus = spawner === undefined ? undefined : readStatus(spawner);
  const spawnerAfter = spawner === undefined ? { own: 0, children: 0 } : readStat(spawner);
  // A spawner started (again) during the runs counts from zero.
  const spawnerFrom = spawner !== undefined && spawner === spawnerBefore.pid ? spawnerBefore : { own: 0, children: 0 };
  return {
    runs,
    memoryLine: `VmRSS ${mb(status.VmRSS)} (RssAnon ${mb(status.RssAnon)}), VmHWM ${mb(status.VmHWM)}` +
      (spawnerStatus ? `; its task spawner VmRSS ${mb(spawnerStatus.VmRSS)} (RssAnon ${mb(spawnerStatus.RssAnon)})` : ''),
    measurement,
    lateFollows,
    cpuPerTaskMs: ((statAfter.own - statBefore!.own) / clockTicks / MEASURED) * 1000,
    spawnerCpuPerTaskMs: ((spawnerAfter.own - spawnerFrom.own) / clockTicks / MEASURED) * 1000,
    childCpuPerTaskMs: ((statAfter.children - statBefore!.children + spawnerAfter.children - spawnerFrom.children) / clockTicks / MEASURED) * 1000,
    requestsLine: describeCounts(countsBefore!, countsAfter, MEASURED, 'per task'),
  };
}

/** GET …/logs?follow=true until the server ends the stream (the request has ended and every entry was sent). */
function followToEnd(bench: BenchServer, id: number): Promise<void> {
  const url = new URL(`/api/v1/work-requests/${id}/logs?follow=true`, bench.server.url);
  return new Promise<void>((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${bench.server.adminToken}` } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET ${url.pathname}?follow=true: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.on('data', () => undefined);
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`request ${id}: not completed within 30 s`)));
  });
}

function get<T>(bench: BenchServer, pathname: string): Promise<T> {
  return request<T>(bench, 'GET', pathname, undefined);
}

function post<T>(bench: BenchServer, pathname: string, body: unknown): Promise<T> {
  return request<T>(bench, 'POST', pathname, body);
}

/** BenchHttp's get sends no token; the client routes need the admin's. */
function request<T>(bench: BenchServer, method: 'GET' | 'POST', pathname: string, body: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const url = new URL(pathname, bench.server.url);
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent: keepAlive,
        headers: {
          authorization: `Bearer ${bench.server.adminToken}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${pathname}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve(JSON.parse(text) as T);
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** The server's request counters (GET /metrics, worksched_http_request_duration_seconds_count) by method + route. */
async function requestCounts(bench: BenchServer): Promise<Map<string, number>> {
  const url = new URL('/metrics', bench.server.url);
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${bench.server.adminToken}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^worksched_http_request_duration_seconds_count\{(.*)\} (\d+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...match[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const key = `${labels.method} ${labels.route}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(match[2]));
  }
  return counts;
}

/** The agent's requests only: the bench's own calls (create, GET, /metrics) are left out. */
function describeCounts(before: Map<string, number>, after: Map<string, number>, per: number, what: string): string {
  const agentRoutes: Array<[string, string]> = [
    ['POST /api/v1/workers/heartbeat', 'heartbeat'],
    ['POST /api/v1/workers/claim', 'claim'],
    ['POST /api/v1/work-requests/:id/logs', 'logs'],
    ['POST /api/v1/work-requests/:id/complete', 'complete'],
  ];
  const parts = agentRoutes
    .map(([key, label]) => {
      const count = (after.get(key) ?? 0) - (before.get(key) ?? 0);
      return count > 0 ? `${(count / per).toFixed(per === 1 ? 0 : 2)} ${label}` : '';
    })
    .filter(Boolean);
  return `${parts.join(', ') || 'none'} ${what}`;
}

export function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isFinite(value) && value > 0) return value;
  } catch {
    // getconf missing: Linux's USER_HZ is 100 everywhere Node runs.
  }
  return 100;
}

/** utime+stime and cutime+cstime (clock ticks) from /proc/<pid>/stat. */
/** The agent's task spawner (its child running taskSpawnerProcess.js), while one runs. */
export function findTaskSpawner(agentPid: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== agentPid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('taskSpawnerProcess')) return Number(name);
    } catch {
      // Exited while we looked.
    }
  }
  return undefined;
}

export function readStat(pid: number): { own: number; children: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(fields[n - 3]);
  return { own: field(14) + field(15), children: field(16) + field(17) };
}

/** The memory lines of /proc/<pid>/status, in bytes (Threads as is). */
function readStatus(pid: number): Record<'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile' | 'RssShmem' | 'Threads', number> {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return {
    VmRSS: kb('VmRSS'),
    VmHWM: kb('VmHWM'),
    RssAnon: kb('RssAnon'),
    RssFile: kb('RssFile'),
    RssShmem: kb('RssShmem'),
    Threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? Number.NaN),
  };
}

/** Resident memory by mapping (/proc/<pid>/smaps): what the RSS is made of, largest first. */
function topMappings(pid: number, count = 8): string[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch (error) {
    return [`(smaps unreadable: ${error instanceof Error ? error.message : String(error)})`];
  }
  const byName = new Map<string, number>();
  let name = '';
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const mapped = header[1].trim();
      name = mapped === '' ? '[anonymous: V8 heap, malloc arenas, thread stacks]' : mapped.startsWith('/') ? shortPath(mapped) : mapped;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  const total = [...byName.values()].reduce((sum, value) => sum + value, 0);
  return [
    `resident by mapping (/proc/${pid}/smaps, total ${mb(total)}):`,
    ...[...byName.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([mapping, bytes]) => `  ${mb(bytes).padStart(9)}  ${mapping}`),
  ];
}

function shortPath(file: string): string {
  const match = /node_modules\/(.*)$/.exec(file);
  if (match) return `node_modules/${match[1]}`;
  return file === process.execPath ? `${file} (the node binary)` : file;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * The agent as operators run it: from dist/ (npm ci builds it), compiled first if a source is newer (as `npm
 * start` does). From the sources it would carry swc and TypeScript in memory (≈ +80 MB), which also slows every
 * fork of a task. WORKSCHED_FROM_SOURCE=1 measures the sources anyway.
 */
function ensureBuild(): string {
  if (process.env.WORKSCHED_FROM_SOURCE === '1') return 'from the TypeScript sources (WORKSCHED_FROM_SOURCE=1)';
  const build = spawnSync(process.execPath, [path.join(ROOT, 'bin/build.js'), '--if-stale'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const current = spawnSync(process.execPath, ['-e', "process.exit(require('./bin/buildState').buildIsCurrent() ? 0 : 1)"], { cwd: ROOT });
  return build.status === 0 && current.status === 0 ? 'from the dist/ build' : 'from the TypeScript sources (no current build)';
}

function nodeArgsFromEnv(): string[] {
  return (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

