import type { EntityManager } from '@mikro-orm/postgresql';
import { Workflow } from '../../entities';
import { NotFoundError } from '../errors';
import { gateWorkflows } from './lockWorkflows';

/** The workflow row (inside a transaction: locked with `lock`, else as last committed). */
export async function findWorkflow(em: EntityManager, workflowId: string, options: { lock?: boolean } = {}): Promise<Workflow | null> {
  if (options.lock) await gateWorkflows(em, [workflowId], 'exclusive');
  const rows = await em.execute<Array<Record<string, unknown>>>(
    `select * from workflow where workflow_id = ?${options.lock ? ' for update' : ''}`,
    [workflowId],
  );
  return rows[0] ? em.map(Workflow, rows[0]) : null;
}

export async function getWorkflowOrFail(em: EntityManager, workflowId: string, options: { lock?: boolean } = {}): Promise<Workflow> {
  const row = await findWorkflow(em, workflowId, options);
  if (!row) throw new NotFoundError(`workflow ${workflowId} does not exist`);
  return row;
}
