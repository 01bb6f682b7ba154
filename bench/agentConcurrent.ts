/**
 * Scenario 7: the real worker agent at `--concurrency 32` (a child process, as scenario 5 starts it) on
 * BENCH_AGENT_TASKS (default 5,000) pending /bin/true requests inserted with SQL before it starts, against the real
 * server in this process. Issue 9's figure: tasks/s and per-task overhead p50.
 * - tasks/s: completed requests ÷ (last completed_at − first started_at), both set by PostgreSQL;
 * - per-task overhead: completed_at − started_at of each request (claim transaction → result stored; /bin/true
 *   itself takes ~1 ms), as scenario 5 defines it, now with 32 running at once.
 * Stops at BENCH_AGENT_LIMIT_S (default 120 s) if not done: the rate is then what was done by that time.
 */
import { sleep } from '../common/sleep';
import { Cleanup, insertRequests, makeTempDir, progress, startBenchServer, withTimeLimit, type BenchPostgres } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { CpuMeter, ms, rate } from './lib/stats';
import { findTaskSpawner, readClockTicks, readStat, startAgent, stopAgentAtCleanup, waitForRegistration } from './workerAgent';

const SCENARIO = '7 agent × 32';
const AGENT_NAME = 'bench-agent-32';
const CONCURRENCY = 32;
const TASKS = positiveIntegerFromEnv('BENCH_AGENT_TASKS', 5_000);
const LIMIT_S = positiveIntegerFromEnv('BENCH_AGENT_LIMIT_S', 120);
const TARGET_OVERHEAD_P50_MS = 10;

export async function runAgentConcurrent(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'agent32');
    const workDir = await makeTempDir(cleanup, 'worksched-bench-agent32-workdir-');
    progress(`inserting ${TASKS.toLocaleString('en-US')} pending /bin/true requests with SQL`);
    await insertRequests(bench.sql, TASKS);

    const meter = new CpuMeter();
    const agent = startAgent(bench, workDir, AGENT_NAME, CONCURRENCY);
    stopAgentAtCleanup(cleanup, agent, workDir);
    progress(`worker agent --concurrency ${CONCURRENCY} started: pid ${agent.child.pid}`);
    await withTimeLimit('agent registration', 60_000, () => waitForRegistration(bench, agent, AGENT_NAME));
    const statBefore = readStat(agent.pid);

    const deadline = performance.now() + LIMIT_S * 1000;
    let lastTick = performance.now();
    let done = 0;
    while (done < TASKS && performance.now() < deadline) {
      await sleep(250);
      agent.assertAlive();
      const result = await bench.sql.query<{ n: string }>(`select count(*) as n from work_request where status = 'completed'`);
      done = Number(result.rows[0].n);
      if (performance.now() - lastTick >= 10_000) {
        progress(`  ${done.toLocaleString('en-US')} of ${TASKS.toLocaleString('en-US')} completed`);
        lastTick = performance.now();
      }
    }
    const statAfter = readStat(agent.pid);
    // Started with the first task: all of its CPU, and its reaped children's (the tasks), is this run's.
    const spawner = findTaskSpawner(agent.pid);
    const spawnerStat = spawner === undefined ? { own: 0, children: 0 } : readStat(spawner);
    const cpu = meter.describe(Math.max(1, done));
    const clockTicks = readClockTicks();

    const figures = await bench.sql.query<{ n: string; failed: string; seconds: number | null; p50: number | null; p95: number | null; max: number | null }>(
      `select count(*) as n, count(*) filter (where result is distinct from 'success') as failed,
              extract(epoch from max(completed_at) - min(started_at))::float8 as seconds,
              percentile_disc(0.5) within group (order by extract(epoch from completed_at - started_at) * 1000)::float8 as p50,
              percentile_disc(0.95) within group (order by extract(epoch from completed_at - started_at) * 1000)::float8 as p95,
              max(extract(epoch from completed_at - started_at) * 1000)::float8 as max
       from work_request where status = 'completed'`,
    );
    const row = figures.rows[0];
    const completed = Number(row.n);
    const seconds = Number(row.seconds ?? Number.NaN);
    const perS = completed / seconds;
    const agentCpuMs = ((statAfter.own - statBefore.own) / clockTicks / Math.max(1, completed)) * 1000;
    const childCpuMs = ((statAfter.children - statBefore.children + spawnerStat.children) / clockTicks / Math.max(1, completed)) * 1000;
    const spawnerCpuMs = (spawnerStat.own / clockTicks / Math.max(1, completed)) * 1000;
    const stopped = completed < TASKS ? ` (stopped at the ${LIMIT_S} s limit)` : '';
    progress(`  ${completed.toLocaleString('en-US')} completed (${row.failed} not successful) in ${seconds.toFixed(2)} s = ${rate(perS)}${stopped}`);
    progress(`  per-task overhead (completed_at − started_at): p50 ${ms(Number(row.p50))} p95 ${ms(Number(row.p95))} max ${ms(Number(row.max))}`);
    progress(`  agent CPU per task ${ms(agentCpuMs)} (+ ${ms(spawnerCpuMs)} in its task spawner, + ${ms(childCpuMs)} in the tasks, wrapper shell included); this process (server) and PostgreSQL: ${cpu}`);
    if (Number(row.failed) > 0) throw new Error(`${row.failed} of ${completed} /bin/true requests did not succeed`);
    return {
      rows: [
        { scenario: SCENARIO, metric: `tasks/s, ${TASKS.toLocaleString('en-US')} /bin/true, --concurrency ${CONCURRENCY}`, value: `${rate(perS)}${stopped}` },
        {
          scenario: SCENARIO,
          metric: 'per-task overhead p50 (claim tx → result stored)',
          value: ms(Number(row.p50)),
          target: `≤ ${TARGET_OVERHEAD_P50_MS} ms`,
          met: Number(row.p50) <= TARGET_OVERHEAD_P50_MS,
        },
        { scenario: SCENARIO, metric: '  overhead p95 / max', value: `${ms(Number(row.p95))} / ${ms(Number(row.max))}` },
        { scenario: SCENARIO, metric: '  agent CPU per task (+ its spawner, + the tasks)', value: `${ms(agentCpuMs)} (+ ${ms(spawnerCpuMs)}, + ${ms(childCpuMs)})` },
      ],
      notes: [`agent --concurrency ${CONCURRENCY}, ${completed.toLocaleString('en-US')} /bin/true: ${cpu}`],
      figures: { agentTasksPerS: perS, agentOverheadP50Ms: Number(row.p50) },
    };
  } finally {
    await cleanup.runAll();
  }
}

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}
