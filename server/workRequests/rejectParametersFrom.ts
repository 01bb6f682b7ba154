import { parameterFromOf, type TaskSpec } from '../../protocol/taskSpec';
import { ValidationError } from '../errors';

/** `{"from": …}` parameters take a dependency's result: only a workflow's tasks have dependencies, so elsewhere they are a 400. */
export function rejectParametersFrom(specs: TaskSpec[], pathOf: (index: number) => string): void {
  specs.forEach((spec, index) => {
    for (const [name, value] of Object.entries(spec.execution.parameters)) {
      if (!parameterFromOf(value)) continue;
      const path = `${pathOf(index)}execution.parameters.${name}`;
      const message = 'a parameter "from" a task is only for a workflow\'s tasks (POST /api/v1/workflows)';
      throw new ValidationError(`invalid task spec: ${path}: ${message}`, [{ path, message }]);
    }
  });
}
