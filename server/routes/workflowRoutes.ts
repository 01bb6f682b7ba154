import type { Principal } from '../auth';
import type { ServerContext } from '../context';
import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { cancelWorkflow, closeWorkflow, deleteWorkflow } from '../workflows/cancelWorkflow';
import { addWorkflowTasks, createWorkflow } from '../workflows/createWorkflow';
import { getWorkflow, getWorkflowMetadata, getWorkflowOutput, getWorkflowWithTasks, listWorkflows, workflowEta, workflowEtas } from '../workflows/queryWorkflows';
import { resumeAllWorkflows, resumeWorkflow } from '../workflows/resumeWorkflow';
import { getWorkflowOrFail } from '../workflows/workflowRow';
import { ANSWERED, type RouteHandlers } from './mountRoutes';
import { listRunWorkers } from '../runs/queryRuns';
import { runSpendOverTime } from '../runs/runSpendOverTime';

type WorkflowRouteName =
  | 'createWorkflow'
  | 'resumeAllWorkflows'
  | 'listWorkflows'
  | 'getWorkflow'
  | 'deleteWorkflow'
  | 'addWorkflowTasks'
  | 'closeWorkflow'
  | 'getWorkflowMetadata'
  | 'getWorkflowOutput'
  | 'cancelWorkflow'
  | 'resumeWorkflow'
  | 'getRunWorkers'
  | 'getRunSpend';

/** /api/v1/workflows: graphs of work requests with dependencies, Ray-style metadata, cancel and resume. */
export function workflowRoutes(ctx: ServerContext): Pick<RouteHandlers, WorkflowRouteName> {
  const fork = () => ctx.orm.em.fork();
  const policy = schedulingPolicyOf(ctx.config);
  const who = (principal: Principal) => `${principal.role} token #${principal.tokenId}`;
  return {
    createWorkflow: async ({ body, res }) => {
      const { workflow, created } = await createWorkflow(fork(), body, policy);
      res.location(`/api/v1/workflows/${workflow.workflowId}`);
      if (!created) res.locals.status = 200;
      return getWorkflowWithTasks(fork(), workflow);
    },

    resumeAllWorkflows: async ({ body }) => ({ resumed: await resumeAllWorkflows(fork(), body.include_failed, policy) }),

    listWorkflows: async ({ query }) => {
      const em = fork();
      const { workflows, nextCursor } = await listWorkflows(em, query);
      const etas = await workflowEtas(em, workflows.map((workflow) => workflow.workflow_id));
      return { workflows: workflows.map((workflow) => ({ ...workflow, ...etas.get(workflow.workflow_id)! })), next_cursor: nextCursor };
    },

    getWorkflow: async ({ params, query }) => {
      const em = fork();
      const workflow = query.tasks ? await getWorkflowWithTasks(em, await getWorkflowOrFail(em, params.id)) : await getWorkflow(em, params.id);
      return { ...workflow, ...(await workflowEta(em, params.id)) };
    },

    deleteWorkflow: async ({ params, res }) => {
      await deleteWorkflow(fork(), params.id);
      res.status(204).end();
      return ANSWERED;
    },

    addWorkflowTasks: async ({ params, body }) => {
      const { workflow, taskIds } = await addWorkflowTasks(fork(), params.id, body.tasks, policy);
      return getWorkflowWithTasks(fork(), workflow, taskIds);
    },

    closeWorkflow: async ({ params }) => {
      const workflow = await closeWorkflow(fork(), params.id, policy);
      return getWorkflow(fork(), workflow.workflowId, workflow);
    },

    getRunWorkers: ({ params }) => listRunWorkers(fork(), params.id),

    getRunSpend: ({ params, query }) => runSpendOverTime(fork(), params.id, query.window),

    getWorkflowMetadata: ({ params, query }) => getWorkflowMetadata(fork(), params.id, query.task_id),

    getWorkflowOutput: ({ params, query }) => getWorkflowOutput(fork(), params.id, query.task_id),

    cancelWorkflow: async ({ params, principal }) => {
      const workflow = await cancelWorkflow(fork(), params.id, who(principal), policy);
      return getWorkflow(fork(), workflow.workflowId, workflow);
    },

    resumeWorkflow: async ({ params }) => {
      const workflow = await resumeWorkflow(fork(), params.id, policy);
      return getWorkflow(fork(), workflow.workflowId, workflow);
    },
  };
}
