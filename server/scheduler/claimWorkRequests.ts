import type { Pool, PoolClient } from 'pg';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import { requiredFilesOf, type ResourceRequirements } from '../../protocol/taskSpec';
import type { TaskData } from '../../entities';
import { isTransactionConflict, releaseAfterFailedTransaction } from '../databaseErrors';
import type { QuickReport } from '../sql/completeBatchWithoutDecision';
import { executeCompleteRunningBatch, isNotAllRunningHere, PREPARED_COMPLETE_RUNNING_BATCH, type CompletedRow } from '../workRequests/completeRunningBatch';
import { PREPARED_CLAIM, PREPARED_KEEP_WITHIN_BUDGET, PREPARED_TOUCH_WORKER } from '../sql/claim';
import { WORKFLOW_STARTED_STATEMENT } from '../sql/workflowTasks';
import { prepareOnConnection, type SqlPrepared } from '../sql/sqlPrepared';
import { rememberWorkflowTasks } from '../workRequests/claimedWorkflowTasks';

/**
 * Is any due, schedulable request still pending (after this claim)? Rows other claims hold still count. Prepared like
 * the claim: as plain text it was planned on every woken claim (0.17 ms, 20 times its run).
 */
const PREPARED_UNCLAIMED_LEFT: SqlPrepared = {
  name: 'worksched_unclaimed_left',
  prepare: `prepare worksched_unclaimed_left as
    select exists (select 1 from work_request where status = 'pending' and not budget_held and unschedulable_reason is null
      and (not_before is null or not_before <= now())) as unclaimed_left`,
};
const UNCLAIMED_LEFT = `execute ${PREPARED_UNCLAIMED_LEFT.name}`;

/** What the claim's string EXECUTEs, prepared on each connection once. */
const CLAIM_STATEMENTS: SqlPrepared[] = [PREPARED_CLAIM, PREPARED_TOUCH_WORKER, PREPARED_KEEP_WITHIN_BUDGET, PREPARED_COMPLETE_RUNNING_BATCH, PREPARED_UNCLAIMED_LEFT];

/** Advisory-lock class (first key of the two-int form, a key space apart from housekeeping's one-bigint keys). */
const CLAIM_LOCK_CLASS = 0x7773;

interface ClaimedRow {
  id: string;
  task_name: string;
  subject: string | null;
  context: string | null;
  attempt: number;
  task_data: TaskData;
  time_limit_s: number | null;
  interrupt_allowed: boolean;
  requirements: ResourceRequirements;
  effective_priority: number;
  created_at: Date;
  log_seq_start: string;
  workflow_id: string | null;
  /** A workflow task's direct dependencies' results (null outside workflows). */
  inputs: Record<string, unknown> | null;
  /** Whether the task's workflow had no start_time yet (null outside workflows). */
  run_unstarted: boolean | null;
}

/**
 * Hands up to `max` pending requests that fit the worker to it, in one transaction sent as one round trip.
 *
 * Why it is shaped like this:
 * - The first statement after the settings takes a transaction-level advisory lock on the worker's id. Two
 *   claims by the same worker (several slots polling at once) are serialised here, so the picking statement —
 *   which starts after the lock is granted and so sees a fresh snapshot — counts the worker's running requests
 *   correctly and never hands out more than `concurrency`. Unlike the row lock it replaces, it writes nothing.
 * - The next records that the worker is alive, only when that changes something (offline, or last seen over
 *   a second ago). When it does write, it also locks the row against lost-worker housekeeping as before.
 * - The picking statement locks rows with `FOR UPDATE SKIP LOCKED`: concurrent workers never wait on each
 *   other and never get the same row (graphile-worker's getJobs and pg-boss's fetch do the same). The WHERE
 *   clause compares the request's effective requirements with the worker's reported capacity, so a request is
 *   only ever locked by a worker that can run it; the ORDER BY matches the partial index
 *   `work_request_claim_idx` (effective priority, then age, pending rows only), so the cost stays flat as the
 *   pending table grows.
 * - `enable_sort` is off for this transaction only: the one sort-free plan walks that index, which stays
 *   right even when the table's statistics are stale (just after a burst of submissions the planner would
 *   think "1 pending row" and read and sort all of them instead).
 * - Its prepared statements run their generic plan (`plan_cache_mode`, this transaction only): planning the claim
 *   costs about ten times running it, and every ANALYZE of work_request (autovacuum does one every few
 *   thousand claims in a drain) would otherwise make each connection plan it afresh for five more claims.
 * - The statements go as one simple-protocol string on a plain pg connection: one round trip. The claim and the
 *   worker update are SQL-prepared once per connection (EXECUTE in that string), so they are not planned again
 *   on every claim. The only values in it are numbers (coerced with Number()); the worker's resources and tags
 *   are read from its row in SQL.
 * - Budgets: the claim reserves each run task's expected cost on its row (expected_cost) and locks each budgeted
 *   run it took rows of; the statement after it — in a snapshot taken after the lock, which sees every other
 *   claim's reservations — gives back the rows that would take a run past its budget. Concurrent claims of one
 *   run's tasks, and several rows in one claim, cannot overshoot. Without rows of budgeted runs the claim takes
 *   no lock and the statement after it finds nothing (an index range of the worker's running rows).
 * - A workflow task's `inputs` (its dependencies' results) come back in the claim's own rows: no statement, no
 *   round trip after it, except the one that sets start_time for a workflow's first claimed task.
 * - `completeFirst`: the results a busy worker's claim carries (successes and skips of plain requests running
 *   on it) are completed by the first statement of this same string (completeRunningBatch's statement, SQL-prepared,
 *   their JSON inlined as an escaped literal), so the slots they free count in the claim, and a claim and its
 *   results cost one round trip and one commit. Unless that statement completes all of them it fails, the
 *   transaction rolls back, and CarriedReportsRefused tells the caller to take the full path (as does a conflict).
 * Memory is compared with the worker's total memory (its capacity; what is free right now includes our own
 * running tasks), disk with its available disk space (disk is consumed, not returned).
 */
export async function claimWorkRequests(
  pool: Pool,
  workerId: number,
  max: number,
  options: { checkUnclaimed?: boolean; completeFirst?: QuickReport[] } = {},
): Promise<{ claimed: ClaimedWorkRequest[]; unclaimedLeft: boolean; fullRuns: string[]; completed: CompletedRow[] }> {
  const client = await pool.connect();
  let results: Array<{ rows: ClaimedRow[] }>;
  const worker = Number(workerId);
  const statements = [
    'begin',
    `select set_config('enable_sort', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`,
    `select pg_advisory_xact_lock(${CLAIM_LOCK_CLASS}, (${worker} % 2147483647)::int)`,
    // After the worker's lock: two claims of one worker never hold each other's rows while waiting for it.
    ...(options.completeFirst ? [executeCompleteRunningBatch(worker, options.completeFirst, (text) => client.escapeLiteral(text))] : []),
    `execute ${PREPARED_TOUCH_WORKER.name}(${worker})`,
    `execute ${PREPARED_CLAIM.name}(${worker}, ${Number(max)})`,
    `execute ${PREPARED_KEEP_WITHIN_BUDGET.name}(${worker})`,
    ...(options.checkUnclaimed ? [UNCLAIMED_LEFT] : []),
    'commit',
  ];
  const at = (prefix: string) => statements.findIndex((statement) => statement.startsWith(prefix));
  try {
    await prepareOnConnection(client, CLAIM_STATEMENTS);
    results = (await client.query(statements.join(';\n'))) as unknown as Array<{ rows: ClaimedRow[] }>;
  } catch (error) {
    await releaseAfterFailedTransaction(client, error);
    if (options.completeFirst && (isNotAllRunningHere(error) || isTransactionConflict(error))) throw new CarriedReportsRefused();
    throw error;
  }
  const completed = options.completeFirst ? (results[at(`execute ${PREPARED_COMPLETE_RUNNING_BATCH.name}`)].rows as unknown as CompletedRow[]) : [];
  const budget = results[at(`execute ${PREPARED_KEEP_WITHIN_BUDGET.name}`)].rows[0] as unknown as { given_back: string[]; full_runs: string[] };
  const givenBack = new Set(budget.given_back.map(String));
  const rows = results[at(`execute ${PREPARED_CLAIM.name}`)].rows.filter((row) => !givenBack.has(String(row.id)));
  rememberWorkflowTasks(pool, rows.filter((row) => row.workflow_id !== null).map((row) => Number(row.id)));
  try {
    await markWorkflowsStarted(client, rows);
  } finally {
    client.release();
  }
  rows.sort(
    (a, b) =>
      b.effective_priority - a.effective_priority ||
      new Date(a.created_at).getTime() - new Date(b.created_at).getTime() ||
      Number(a.id) - Number(b.id),
  );
  const unclaimedLeft = options.checkUnclaimed === true && (results[at(UNCLAIMED_LEFT)].rows[0] as unknown as { unclaimed_left: boolean }).unclaimed_left;
  return { claimed: rows.map(toClaimedWorkRequest), unclaimedLeft, fullRuns: budget.full_runs, completed };
}

/**
 * A claim's `completeFirst` reports were not all successes or skips of plain requests running on the worker, or
 * the transaction met a conflict: it rolled back, nothing of it was written (the caller takes the full path).
 */
export class CarriedReportsRefused extends Error {
  constructor() {
    super('the carried reports need the full completion path');
  }
}

/**
 * After the claim committed, Ray's start_time for the workflows whose first task it claimed (most claims: no
 * statement). Outside the claim's transaction: the claim never waits on a workflow's lock (see lockWorkflows).
 */
async function markWorkflowsStarted(client: PoolClient, rows: ClaimedRow[]): Promise<void> {
  const unstarted = [...new Set(rows.filter((row) => row.run_unstarted === true).map((row) => row.workflow_id as string))];
  if (unstarted.length > 0) await client.query({ ...WORKFLOW_STARTED_STATEMENT, values: [unstarted] });
}

function toClaimedWorkRequest(row: ClaimedRow): ClaimedWorkRequest {
  return {
    id: Number(row.id),
    task_name: row.task_name,
    subject: row.subject,
    context: row.context,
    attempt: row.attempt,
    execution: row.task_data.execution,
    ...requiredFilesOf(row.task_data),
    time_limit_s: row.time_limit_s,
    interrupt_allowed: row.interrupt_allowed,
    requirements: row.requirements,
    log_seq_start: Number(row.log_seq_start),
    ...(row.inputs ? { inputs: row.inputs as ClaimedWorkRequest['inputs'] } : {}),
  };
}
