import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { FileExpansion, WorkflowTask, WorkflowTemplate } from '../../protocol/workflow';
import { ValidationError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { withFilePaths } from '../schedules/createFirings';
import { describeFolderError, regularFilesIn } from '../schedules/scanFolder';
import { createWorkflow } from '../workflows/createWorkflow';
import { getWorkflow } from '../workflows/queryWorkflows';

/** Whether a create must read `required_folder`: its files go to `filepath_parameter` (one task each, or all in one). */
export function expandsRequiredFolder(spec: TaskSpec): boolean {
  return Boolean(spec.required_folder?.length && spec.filepath_parameter?.length);
}

/**
 * The regular files of every `required_folder` whose name matches one of `required_file_expression` (any name
 * when none), as absolute paths sorted by name. The server reads the folders, so they must be the paths the
 * workers see (a shared file system). An unreadable folder, no match, or more than `maxExpansion` files is a
 * 400, before anything is written.
 */
export async function findFolderFiles(spec: TaskSpec, maxExpansion: number): Promise<string[]> {
  const expressions = (spec.required_file_expression ?? []).map((source) => new RegExp(source));
  const files = new Set<string>();
  for (const [index, folder] of (spec.required_folder ?? []).entries()) {
    let found;
    try {
      found = await regularFilesIn(folder);
    } catch (error) {
      fail(`required_folder[${index}]`, describeFolderError(folder, error));
    }
    for (const file of found) {
      const name = file.slice(file.lastIndexOf('/') + 1);
      if (expressions.length === 0 || expressions.some((expression) => expression.test(name))) files.add(file);
    }
    if (files.size > maxExpansion) {
      fail('required_folder', `more than ${maxExpansion} matching files (WORKSCHED_MAX_EXPANSION): split the folder or narrow required_file_expression`);
    }
  }
  if (files.size === 0) {
    const matching = expressions.length === 0 ? 'no file' : `no file whose name matches ${expressions.map((expression) => expression.source).join(' or ')}`;
    fail('required_folder', `${matching} in ${spec.required_folder?.join(', ')}: nothing to pass in filepath_parameter`);
  }
  return [...files].sort();
}

function fail(path: string, message: string): never {
  throw new ValidationError(`invalid task spec: ${path}: ${message}`, [{ path, message }]);
}

/**
 * `single_file_task`: one task per file through the workflow create path (one transaction, the tasks in file
 * order, so their ids ascend with the names). Each task's own file is also a `required_filepath`, so the worker
 * checks that it is still there before it starts.
 */
export async function createSingleFileWorkflow(em: EntityManager, spec: TaskSpec, files: string[], policy: SchedulingPolicy): Promise<FileExpansion> {
  const { workflow } = await createWorkflow(em, singleFileWorkflow(spec, files), policy);
  const rows = await em.execute<Array<{ id: string }>>(`select id from work_request where workflow_id = ? order by id`, [workflow.workflowId]);
  return { ...(await getWorkflow(em, workflow.workflowId, workflow)), work_requests: rows.map((row) => Number(row.id)) };
}

/** The workflow `single_file_task` expands into: one task per file (a schedule's firing creates it under its own id). */
export function singleFileWorkflow(spec: TaskSpec, files: string[]): WorkflowTemplate {
  const { single_file_task: _single, ...template } = spec;
  const tasks: WorkflowTask[] = files.map((file, index) => ({
    ...withFilePaths(template, [file]),
    // The ids planWorkflowTasks would give (name, name_1, name_2, …), without its search for a free suffix per task.
    task_id: index === 0 ? template.task_name : `${template.task_name}_${index}`,
    required_filepath: [...(template.required_filepath ?? []), file],
    depends_on: [],
    allow_failure: false,
  }));
  return { user_metadata: {}, priority: 0, open: false, tasks };
}

/** A batch answers one request per spec: a spec that would expand into a workflow belongs in POST /work-requests. */
export function rejectSingleFileTasks(specs: TaskSpec[]): void {
  const index = specs.findIndex((spec) => spec.single_file_task);
  if (index >= 0) fail(`work_requests[${index}].single_file_task`, 'expands into a workflow: send this spec to POST /api/v1/work-requests');
}
