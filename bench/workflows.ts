/**
 * Scenario 9: workflows. (1) One workflow of 10,000 tasks — 100 layers × 100, each task depending on two of
 * the layer before (its column and the next one) — created in one POST /api/v1/workflows (target ≤ 3 s).
 * (2) That workflow drained by fake workers on the batched protocol (8 workers × 4, each claim {max 4}
 * carrying the previous results), against the same drain of 10,000 plain no-op requests (target ≥ 50 %: the
 * unblocking in the completion's transaction must not be the bottleneck). (3) The claim's cost with 1,000
 * pending requests, without and with 100,000 blocked workflow rows in the table (target ≤ 1.2×), two servers
 * on two databases claimed from in turn.
 * BENCH_WORKFLOW_LAYERS / BENCH_WORKFLOW_WIDTH / BENCH_WORKFLOW_BLOCKED make it smaller for a quick try.
 */
import type { ClaimResponse } from '../protocol/workerApi';
import type { CreateWorkflowRequest, WorkflowWithTasks } from '../protocol/workflow';
import { Cleanup, explainPick, insertRequests, progress, registerWorkers, startBenchServer, StatementStats, withTimeLimit, type BenchPostgres, type BenchServer, type BenchWorker } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { describeLatency, ms, rate, summarize } from './lib/stats';

const LAYERS = Number(process.env.BENCH_WORKFLOW_LAYERS) || 100;
const WIDTH = Number(process.env.BENCH_WORKFLOW_WIDTH) || 100;
const BLOCKED = Number(process.env.BENCH_WORKFLOW_BLOCKED) || 100_000;
const DRAIN_LIMIT_S = Number(process.env.BENCH_VARIANT_LIMIT_S) || 120;
const CLAIMS = 300;
const CLAIM_WARM_UP = 100;
const SCENARIO = '11 workflows';

export async function runWorkflows(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const report: ScenarioReport = { rows: [], notes: [] };
    const total = LAYERS * WIDTH;

    // (1) and (2): the workflow.
    const bench = await startBenchServer(cleanup, postgres, 'workflows');
    const workers = await registerWorkers(bench, 'wf', 8, 4);
    const body = layeredWorkflow('bench-layers', LAYERS, WIDTH);
    const createStart = performance.now();
    const created = await bench.http.post<WorkflowWithTasks>('/api/v1/workflows', bench.server.adminToken, body);
    const createS = (performance.now() - createStart) / 1000;
    progress(`created a workflow of ${created.tasks.length.toLocaleString('en-US')} tasks (${LAYERS} layers × ${WIDTH}) in ${createS.toFixed(2)} s (${(JSON.stringify(body).length / 1024 / 1024).toFixed(1)} MiB)`);
    report.rows.push({ scenario: SCENARIO, metric: `create one workflow of ${total.toLocaleString('en-US')} tasks (${LAYERS}×${WIDTH})`, value: `${createS.toFixed(2)} s`, target: '≤ 3 s', met: createS <= 3 });
    const statements = await StatementStats.open(bench.sql);
    await statements?.reset();
    const workflowDrain = await drain(bench, workers, total);
    const drainStatements = (await statements?.top(total)) ?? [];
    const status = (await bench.sql.query<{ status: string }>(`select status from workflow where workflow_id = $1`, [body.workflow_id])).rows[0]?.status ?? '?';
    progress(`workflow drain: ${workflowDrain.line}; workflow ${status}`);
    for (const line of drainStatements) progress(`  ${line}`);

    // The same drain of plain requests, on a fresh server and database.
    const plainBench = await startBenchServer(cleanup, postgres, 'workflows-plain');
    const plainWorkers = await registerWorkers(plainBench, 'plain', 8, 4);
    await insertRequests(plainBench.sql, total);
    const plainStatements = await StatementStats.open(plainBench.sql);
    await plainStatements?.reset();
    const plainDrain = await drain(plainBench, plainWorkers, total);
    const plainTop = (await plainStatements?.top(total)) ?? [];
    progress(`plain drain: ${plainDrain.line}`);
    for (const line of plainTop) progress(`  ${line}`);
    const ratio = workflowDrain.perS / plainDrain.perS;
    report.rows.push({ scenario: SCENARIO, metric: 'drain, plain no-op requests (8×4, batched claims)', value: rate(plainDrain.perS) });
    report.rows.push({ scenario: SCENARIO, metric: `drain, the ${total.toLocaleString('en-US')}-task workflow (same workers)`, value: `${rate(workflowDrain.perS)} = ${(ratio * 100).toFixed(0)} % (${status})`, target: '≥ 50 %', met: ratio >= 0.5 && status === 'SUCCESSFUL' });

    // (3) claim cost without and with blocked rows: two servers on two databases of the same PostgreSQL, the
    // same 1,000 pending in each and 100,000 blocked rows in one, claimed from in turn, one claim each, so drift
    // on 2 cores (autovacuum, housekeeping, JIT) falls on both alike: measured one after the other, the ratio
    // moved between 0.7× and 1.5× from run to run.
    const emptyBench = await startBenchServer(cleanup, postgres, 'workflows-claim');
    const blockedBench = await startBenchServer(cleanup, postgres, 'workflows-claim-blocked');
    const [emptyClaimer] = await registerWorkers(emptyBench, 'claimer', 1, 1);
    const [blockedClaimer] = await registerWorkers(blockedBench, 'claimer', 1, 1);
    for (const bench of [emptyBench, blockedBench]) await insertRequests(bench.sql, 1_000 + CLAIM_WARM_UP);
    await insertBlockedRows(blockedBench, BLOCKED);
    await emptyBench.sql.query('vacuum analyze work_request');
    const emptyTimes: number[] = [];
    const blockedTimes: number[] = [];
    for (let index = 0; index < CLAIM_WARM_UP + CLAIMS; index += 1) {
      const emptyMs = await timeOneClaim(emptyBench, emptyClaimer);
      const blockedMs = await timeOneClaim(blockedBench, blockedClaimer);
      if (index < CLAIM_WARM_UP) continue;
      emptyTimes.push(emptyMs);
      blockedTimes.push(blockedMs);
    }
    const emptyPlan = await explainPick(emptyBench, emptyClaimer);
    const blockedPlan = await explainPick(blockedBench, blockedClaimer);
    const empty = summarize(emptyTimes);
    const withBlocked = summarize(blockedTimes);
    const factor = withBlocked.p50 / empty.p50;
    progress(`claim, 1,000 pending: ${describeLatency(empty)}; picking ${emptyPlan.summary}`);
    progress(`claim, 1,000 pending + ${BLOCKED.toLocaleString('en-US')} blocked: ${describeLatency(withBlocked)}; picking ${blockedPlan.summary}`);
    report.rows.push({ scenario: SCENARIO, metric: 'claim p50, 1,000 pending', value: ms(empty.p50) });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p50, + ${BLOCKED.toLocaleString('en-US')} blocked workflow rows`,
      value: `${ms(withBlocked.p50)} = ${factor.toFixed(2)}× (picking ${emptyPlan.executionMs} → ${blockedPlan.executionMs} ms)`,
      target: '≤ 1.2×',
      met: factor <= 1.2,
    });
    return report;
  } finally {
    await cleanup.runAll();
  }
}

/** Layer l's task i depends on tasks i and i+1 (wrapping) of layer l-1: every completion unblocks, shared dependants. */
function layeredWorkflow(workflowId: string, layers: number, width: number): CreateWorkflowRequest & { workflow_id: string } {
  const tasks: NonNullable<CreateWorkflowRequest['tasks']> = [];
  for (let layer = 0; layer < layers; layer += 1) {
    for (let column = 0; column < width; column += 1) {
      tasks.push({
        task_id: `l${layer}.c${column}`,
        task_name: 'bench.workflow',
        execution: { executable: '/bin/true' },
        depends_on: layer === 0 ? [] : [...new Set([`l${layer - 1}.c${column}`, `l${layer - 1}.c${(column + 1) % width}`])],
      });
    }
  }
  return { workflow_id: workflowId, tasks };
}

/** Each worker loops claim {max 4} carrying the previous claim's results, until `total` are done. */
async function drain(bench: BenchServer, workers: BenchWorker[], total: number): Promise<{ perS: number; line: string }> {
  let completed = 0;
  let calls = 0;
  const start = performance.now();
  let end = 0;
  await withTimeLimit('drain', DRAIN_LIMIT_S * 1000, async (signal) => {
    await Promise.all(
      workers.map(async (worker) => {
        let results: Array<{ id: number; result: 'success'; output_data: object }> = [];
        while (completed < total && !signal.aborted) {
          calls += 1;
          const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 4, wait_s: results.length > 0 ? 0 : 1, results }, signal);
          completed += answer.results.filter((item) => item.status === 200).length;
          if (completed >= total && !end) end = performance.now();
          results = answer.work_requests.map((item) => ({ id: item.id, result: 'success', output_data: {} }));
        }
      }),
    );
  }).catch((error: unknown) => {
    if (!(error instanceof Error && error.message.startsWith('drain did not finish'))) throw error;
  });
  const seconds = ((end || performance.now()) - start) / 1000;
  const perS = completed / seconds;
  return { perS, line: `${completed.toLocaleString('en-US')} in ${seconds.toFixed(2)} s = ${rate(perS)}, ${calls} claim calls${completed < total ? ` (stopped at ${DRAIN_LIMIT_S} s)` : ''}` };
}

/** One claim {max 1}, ms; what it got is completed (untimed), so pending stays what it was less one. */
async function timeOneClaim(bench: BenchServer, worker: BenchWorker): Promise<number> {
  const start = performance.now();
  const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 0 });
  const elapsed = performance.now() - start;
  for (const item of answer.work_requests) await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: {} });
  return elapsed;
}

/** `count` blocked tasks of one workflow, inserted with SQL (as the create path stores them), then VACUUM ANALYZE. */
async function insertBlockedRows(bench: BenchServer, count: number): Promise<void> {
  await bench.sql.query(
    `insert into workflow (workflow_id, status, user_metadata, definition_hash, created_at, updated_at) values ('bench-blocked', 'RUNNING', '{}', '', now(), now())`,
  );
  const taskData = { execution: { executable: '/bin/true', args: [], parameters: {}, parameter_mapping: {}, env: {} }, use_history: true };
  await bench.sql.query(
    `insert into work_request (task_name, status, priority, priority_adjustment, task_data, requirements, learned_requirements, need_tags,
       attempt, max_attempts, interrupt_allowed, user_metadata, state_reason, workflow_id, task_id, created_at)
     select 'bench.blocked', 'blocked', 0, 0, $1::json, '{}', '[]', '{}', 1, 3, true, '{}', 'waiting for "t0"', 'bench-blocked', 't' || g, now()
     from generate_series(1, $2::int) g`,
    [JSON.stringify(taskData), count],
  );
  await bench.sql.query('vacuum analyze work_request');
}
