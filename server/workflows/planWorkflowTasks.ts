import { parameterFromOf } from '../../protocol/taskSpec';
import type { WorkflowTask } from '../../protocol/workflow';
import { ValidationError, type ErrorIssue } from '../errors';

/** A task with its id worked out, its dependencies checked, in an order where dependencies come first. */
export interface PlannedTask {
  taskId: string;
  spec: WorkflowTask;
  dependsOn: string[];
  /** Its position in the request (for error paths). */
  index: number;
}

/**
 * Checks a workflow's new tasks and orders them (dependencies first): `task_id` defaults to the task_name, a
 * repeated name getting _1, _2, … (Ray); a task_id used twice, a `depends_on` naming no task, a `from`
 * parameter naming a task that is not a direct dependency, and a cycle are each a 400 naming the task.
 * `existing` are the task ids the workflow already has (tasks added to an open workflow may depend on them).
 */
export function planWorkflowTasks(tasks: WorkflowTask[], existing: ReadonlySet<string> = new Set(), where = 'workflow'): PlannedTask[] {
  const fail = (issue: ErrorIssue): never => {
    throw new ValidationError(`invalid ${where}: ${issue.path}: ${issue.message}`, [issue]);
  };
  const taken = new Set(existing);
  const explicit = new Map<string, number>();
  tasks.forEach((task, index) => {
    if (task.task_id === undefined) return;
    if (taken.has(task.task_id) || explicit.has(task.task_id)) fail({ path: `tasks[${index}].task_id`, message: `task_id "${task.task_id}" is used twice` });
    explicit.set(task.task_id, index);
  });
  for (const id of explicit.keys()) taken.add(id);
  const ids = tasks.map((task) => {
    if (task.task_id !== undefined) return task.task_id;
    let id = task.task_name;
    for (let suffix = 1; taken.has(id); suffix += 1) id = `${task.task_name}_${suffix}`;
    taken.add(id);
    return id;
  });
  const indexOf = new Map(ids.map((id, index) => [id, index]));
  const planned: PlannedTask[] = tasks.map((spec, index) => {
    const dependsOn = [...new Set(spec.depends_on)];
    spec.depends_on.forEach((dependency, position) => {
      if (!indexOf.has(dependency) && !existing.has(dependency)) {
        fail({ path: `tasks[${index}].depends_on[${position}]`, message: `task "${ids[index]}" depends on "${dependency}", which is no task of this workflow` });
      }
    });
    for (const [name, value] of Object.entries(spec.execution.parameters)) {
      const from = parameterFromOf(value);
      if (from && !dependsOn.includes(from.from)) {
        fail({ path: `tasks[${index}].execution.parameters.${name}.from`, message: `task "${ids[index]}" takes "${name}" from "${from.from}", which is not in its depends_on` });
      }
    }
    return { taskId: ids[index], spec, dependsOn, index };
  });
  return topologicalOrder(planned, indexOf, fail);
}

/** Kahn's algorithm over the new tasks (edges to existing tasks cannot close a cycle); a cycle is named. */
function topologicalOrder(planned: PlannedTask[], indexOf: Map<string, number>, fail: (issue: ErrorIssue) => never): PlannedTask[] {
  const waiting = planned.map((task) => task.dependsOn.filter((dependency) => indexOf.has(dependency)).length);
  const dependants = planned.map(() => [] as number[]);
  planned.forEach((task, index) => {
    for (const dependency of task.dependsOn) {
      const at = indexOf.get(dependency);
      if (at !== undefined) dependants[at].push(index);
    }
  });
  // A queue: tasks keep the request's order where the graph allows (ids ascend with it).
  const ready = planned.map((_, index) => index).filter((index) => waiting[index] === 0);
  const order: PlannedTask[] = [];
  for (let next = 0; next < ready.length; next += 1) {
    const index = ready[next];
    order.push(planned[index]);
    for (const dependant of dependants[index]) if ((waiting[dependant] -= 1) === 0) ready.push(dependant);
  }
  if (order.length < planned.length) {
    const cycle = findCycle(planned, indexOf, waiting);
    const first = planned[cycle[0]];
    fail({ path: `tasks[${first.index}].depends_on`, message: `task "${first.taskId}" is in a dependency cycle: ${[...cycle, cycle[0]].map((at) => planned[at].taskId).join(' → ')}` });
  }
  return order;
}

/** A cycle among the tasks Kahn's algorithm could not order: follow unordered dependencies until one repeats. */
function findCycle(planned: PlannedTask[], indexOf: Map<string, number>, waiting: number[]): number[] {
  let at = waiting.findIndex((count) => count > 0);
  const seen = new Map<number, number>();
  const path: number[] = [];
  while (!seen.has(at)) {
    seen.set(at, path.length);
    path.push(at);
    const next = planned[at].dependsOn.map((dependency) => indexOf.get(dependency)).find((index) => index !== undefined && waiting[index] > 0);
    at = next as number;
  }
  return path.slice(seen.get(at)).reverse();
}
