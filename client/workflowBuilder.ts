import type { TaskSpecInput } from '../protocol/taskSpec';
import type { CreateWorkflowRequest, WorkflowTaskInput } from '../protocol/workflow';

/** A task added to a WorkflowBuilder: pass it in another task's `dependsOn`, or use `.from(path)` for a parameter. */
export interface TaskRef {
  readonly taskId: string;
  /** A parameter value filled in from this task's result when the dependant becomes pending. */
  from(path?: string): { from: string; path?: string };
}

export interface TaskOptions {
  dependsOn?: TaskRef[];
  allowFailure?: boolean;
  /** Defaults to the name given to `task()`. */
  taskId?: string;
}

/**
 * Builds a workflow so its graph reads like code:
 *
 * ```ts
 * const wf = new WorkflowBuilder('release-42');
 * const build = wf.task('build', { task_name: 'build', execution: { executable: 'make' } });
 * const test = wf.task('test', { task_name: 'test', execution: { executable: 'make', args: ['test'] } }, { dependsOn: [build] });
 * await client.createWorkflow(wf.build());
 * ```
 */
export class WorkflowBuilder {
  private readonly tasks: WorkflowTaskInput[] = [];
  private readonly ids = new Set<string>();

  constructor(
    readonly workflowId?: string,
    private readonly options: Omit<CreateWorkflowRequest, 'workflow_id' | 'tasks'> = {},
  ) {}

  task(taskId: string, spec: TaskSpecInput, options: TaskOptions = {}): TaskRef {
    const id = options.taskId ?? taskId;
    if (this.ids.has(id)) throw new Error(`task_id "${id}" is used twice in this workflow`);
    this.ids.add(id);
    this.tasks.push({
      ...spec,
      task_id: id,
      depends_on: (options.dependsOn ?? []).map((ref) => ref.taskId),
      ...(options.allowFailure !== undefined ? { allow_failure: options.allowFailure } : {}),
    });
    return { taskId: id, from: (path?: string) => ({ from: id, ...(path ? { path } : {}) }) };
  }

  /** The body of POST /api/v1/workflows (createWorkflow). */
  build(): CreateWorkflowRequest {
    return { ...this.options, ...(this.workflowId ? { workflow_id: this.workflowId } : {}), tasks: [...this.tasks] };
  }
}
