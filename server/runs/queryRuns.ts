import type { EntityManager } from '@mikro-orm/postgresql';
import type { RunWorker, RunWorkers } from '../../protocol/runs';
import { runSpendSql } from '../sql/runLedger';
import { getWorkflowOrFail } from '../workflows/workflowRow';

export interface RunCosts {
  cost: number;
  budgetSpent: number | null;
}

/** Running attempts' cost so far, for the running requests `x` joined with their workers `k`. */
const ACCRUED = `sum(coalesce(k.cost_per_hour, 0) * extract(epoch from now() - x.started_at) / 3600)`;

/** Each run's cost (its ledger's worker rows plus its running attempts so far) and, with a budget, its window's spend. */
export async function runCosts(em: EntityManager, workflowIds: string[]): Promise<Map<string, RunCosts>> {
  const costs = new Map<string, RunCosts>(workflowIds.map((id) => [id, { cost: 0, budgetSpent: null }]));
  if (workflowIds.length === 0) return costs;
  const rows = await em.execute<Array<{ workflow_id: string; cost: number; budget_spent: number | null }>>(
    `select f.workflow_id,
       coalesce((select sum(ww.cost) from workflow_worker ww where ww.workflow_id = f.workflow_id), 0)
       + coalesce((select ${ACCRUED} from work_request x join worker k on k.id = x.worker_id
           where x.workflow_id = f.workflow_id and x.status = 'running'), 0) as cost,
       case when f.budget is null then null else ${runSpendSql('f')} end as budget_spent
     from workflow f where f.workflow_id in (?)`,
    [workflowIds],
  );
  for (const row of rows) costs.set(row.workflow_id, { cost: Number(row.cost), budgetSpent: row.budget_spent === null ? null : Number(row.budget_spent) });
  return costs;
}

interface RunWorkerRow {
  id: string;
  name: string;
  enabled: boolean;
  online: boolean;
  tasks: number;
  results: string;
  cost: number;
  stop_reason: string | null;
  running: string;
}

/** GET /workflows/:id/workers: every worker that worked on the run or runs one of its tasks, by id. */
export async function listRunWorkers(em: EntityManager, workflowId: string): Promise<RunWorkers> {
  await getWorkflowOrFail(em, workflowId);
  const rows = await em.execute<RunWorkerRow[]>(
    `with running as (
       select x.worker_id, count(*) as running, ${ACCRUED} as accrued
       from work_request x join worker k on k.id = x.worker_id
       where x.workflow_id = ? and x.status = 'running' group by x.worker_id
     )
     select k.id, k.name, k.enabled, k.online, coalesce(ww.tasks, 0) as tasks, coalesce(ww.results, 0) as results,
       coalesce(ww.cost, 0) + coalesce(r.accrued, 0) as cost, ww.stop_reason, coalesce(r.running, 0) as running
     from worker k
       left join workflow_worker ww on ww.workflow_id = ? and ww.worker_id = k.id
       left join running r on r.worker_id = k.id
     where ww.worker_id is not null or r.worker_id is not null
     order by k.id`,
    [workflowId, workflowId],
  );
  return { workflow_id: workflowId, workers: rows.map(toRunWorker) };
}

function toRunWorker(row: RunWorkerRow): RunWorker {
  const results = Number(row.results);
  const running = Number(row.running);
  const cost = Number(row.cost);
  const status = row.stop_reason !== null ? 'stopped' : !row.enabled || !row.online ? 'offline' : running > 0 ? 'busy' : 'ready';
  return {
    worker: row.name,
    worker_id: Number(row.id),
    status,
    tasks: Number(row.tasks),
    running,
    cost,
    cost_per_result: results > 0 ? cost / results : null,
    results,
    stop_reason: row.stop_reason,
  };
}
