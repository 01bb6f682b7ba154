import type { Workflow } from '../protocol/workflow';
import { sleep } from '../common/sleep';

/** Ended: nothing more will run until someone resumes it. */
const ENDED = new Set(['SUCCESSFUL', 'FAILED', 'RESUMABLE', 'CANCELED']);

export class WorkflowWaitTimeoutError extends Error {
  constructor(
    readonly workflow: Workflow,
    readonly timeoutMs: number,
  ) {
    super(`workflow ${workflow.workflow_id} is still ${workflow.status} after ${timeoutMs} ms`);
    this.name = 'WorkflowWaitTimeoutError';
  }
}

/** Polls until the workflow has ended (SUCCESSFUL, FAILED, RESUMABLE or CANCELED); rejects with WaitTimeoutError after `timeoutMs`. */
export async function waitForWorkflow(
  get: (id: string) => Promise<Workflow>,
  workflowId: string,
  options: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
): Promise<Workflow> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 500;
  for (;;) {
    const workflow = await get(workflowId);
    if (ENDED.has(workflow.status)) return workflow;
    if (options.signal?.aborted) throw options.signal.reason;
    if (Date.now() + interval > deadline) throw new WorkflowWaitTimeoutError(workflow, options.timeoutMs as number);
    await sleep(interval);
  }
}
