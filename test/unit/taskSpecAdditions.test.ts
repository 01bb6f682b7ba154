/** The task spec additions of seed 004 as the schema takes them: execution kinds and required files. */
import { listZodIssues } from '../../protocol/errors';
import { executionKind, pythonKeywordArguments, taskSpecSchema, type TaskSpecInput } from '../../protocol/taskSpec';

const spec = (extra: Partial<TaskSpecInput>): unknown => ({ task_name: 'unit', execution: { executable: '/bin/true' }, ...extra });
const issues = (input: unknown) => {
  const parsed = taskSpecSchema.safeParse(input);
  return parsed.success ? [] : listZodIssues(parsed.error);
};

describe('execution kinds', () => {
  test('each kind alone is accepted and recognised', () => {
    const kinds = [
      { executable: '/bin/true' },
      { script: '#!/bin/sh\necho hi' },
      { python: { file: '/opt/tasks.py', function: 'main', kwargs: { n: 1, nested: { a: [1, null] } } } },
    ].map((execution) => executionKind(taskSpecSchema.parse(spec({ execution })).execution));
    expect(kinds).toEqual(['executable', 'script', 'python']);
  });

  test('none, or two, is one issue saying which', () => {
    expect(issues(spec({ execution: { args: ['x'] } }))).toEqual([{ path: 'execution', message: 'give one of executable, script or python' }]);
    expect(issues(spec({ execution: { executable: '/bin/true', script: 'echo' } }))).toEqual([
      { path: 'execution.script', message: 'give only one of executable, script or python, not executable and script' },
    ]);
    expect(issues(spec({ execution: { script: 'echo', python: { file: 't.py', function: 'f' } } }))).toEqual([
      { path: 'execution.python', message: 'give only one of executable, script or python, not script and python' },
    ]);
  });

  test('python: a Python name, no parameter_mapping, a parameter not also in kwargs; parameters join kwargs', () => {
    expect(issues(spec({ execution: { python: { file: 't.py', function: 'not a name' } } })).map((issue) => issue.path)).toEqual(['execution.python.function']);
    expect(issues(spec({ execution: { python: { file: 't.py', function: 'f' }, parameter_mapping: { a: '-a' } } })).map((issue) => issue.path)).toEqual([
      'execution.parameter_mapping.a',
    ]);
    expect(issues(spec({ execution: { python: { file: 't.py', function: 'f', kwargs: { a: 1 } }, parameters: { a: 2 } } })).map((issue) => issue.path)).toEqual([
      'execution.parameters.a',
    ]);
    const parsed = taskSpecSchema.parse(spec({ execution: { python: { file: 't.py', function: 'f', kwargs: { a: 1 } }, parameters: { input: '/d/x.csv' } } }));
    expect(pythonKeywordArguments(parsed.execution)).toEqual({ a: 1, input: '/d/x.csv' });
  });
});

describe('required files', () => {
  test('absolute paths and valid regular expressions are kept as given', () => {
    const parsed = taskSpecSchema.parse(
      spec({ required_filepath: ['/data/ref/genome.fa'], required_folder: ['/data/in'], required_file_expression: ['\\.csv$', '^part-\\d+'] }),
    );
    expect(parsed).toMatchObject({ required_filepath: ['/data/ref/genome.fa'], required_folder: ['/data/in'], required_file_expression: ['\\.csv$', '^part-\\d+'] });
  });

  test('a relative path, a bad regular expression, or an expression without a folder is a 400 naming the field', () => {
    expect(issues(spec({ required_filepath: ['/ok', 'data/genome.fa'] }))).toEqual([{ path: 'required_filepath[1]', message: 'must be an absolute path (starting with "/")' }]);
    expect(issues(spec({ required_folder: ['in'] })).map((issue) => issue.path)).toEqual(['required_folder[0]']);
    const bad = issues(spec({ required_folder: ['/in'], required_file_expression: ['\\.csv$', '(unclosed'] }));
    expect(bad).toEqual([{ path: 'required_file_expression[1]', message: expect.stringMatching(/^not a valid regular expression: ./) }]);
    expect(issues(spec({ required_file_expression: ['\\.csv$'] }))).toEqual([
      { path: 'required_file_expression', message: 'matches files of required_folder: give required_folder too' },
    ]);
    expect(issues(spec({ required_folder: '/in' as unknown as string[] })).map((issue) => issue.path)).toEqual(['required_folder']);
  });
});
