import type { WorkflowTaskItem } from '../protocol/workflow';

/**
 * The dependency graph as an indented text tree, roots first, each task under the tasks it depends on. A
 * task with several dependencies is drawn in full under the first and referred to ("↑ d") under the others.
 */
export function renderDependencyTree(tasks: Pick<WorkflowTaskItem, 'task_id' | 'depends_on' | 'status' | 'result'>[]): string {
  const byId = new Map(tasks.map((task) => [task.task_id, task]));
  const dependants = new Map<string, string[]>();
  for (const task of tasks) for (const dependency of task.depends_on) dependants.set(dependency, [...(dependants.get(dependency) ?? []), task.task_id]);
  const drawn = new Set<string>();
  const lines: string[] = [];
  const label = (id: string) => {
    const task = byId.get(id);
    return task ? `${id} [${task.result ?? task.status}]` : id;
  };
  const draw = (id: string, prefix: string, last: boolean, root: boolean) => {
    const branch = root ? '' : last ? '└─ ' : '├─ ';
    if (drawn.has(id)) {
      lines.push(`${prefix}${branch}↑ ${id}`);
      return;
    }
    drawn.add(id);
    lines.push(`${prefix}${branch}${label(id)}`);
    const children = dependants.get(id) ?? [];
    const childPrefix = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
    children.forEach((child, index) => draw(child, root ? prefix : childPrefix, index === children.length - 1, false));
  };
  for (const task of tasks) if (task.depends_on.length === 0) draw(task.task_id, '', true, true);
  return lines.join('\n');
}
