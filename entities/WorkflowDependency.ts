import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * One edge of a workflow's graph, between task ids rather than work request ids: a retry or a resume creates
 * a new attempt of a task, and its dependants then point at the newest attempt without any re-pointing.
 */
export const WorkflowDependency = defineEntity({
  name: 'WorkflowDependency',
  tableName: 'workflow_dependency',
  properties: (p) => ({
    workflowId: p.string().length(200).primary(),
    taskId: p.string().length(200).primary(),
    dependsOn: p.string().length(200).primary(),
  }),
});
export type WorkflowDependency = InferEntity<typeof WorkflowDependency>;
