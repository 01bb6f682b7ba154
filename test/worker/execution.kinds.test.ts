/**
 * The execution kinds besides `executable`: an inline `script` (written into the working directory, mode 700,
 * run by its #! line or /bin/sh) and a `python` function (imported by the package's runner, called with its
 * keyword arguments; its return value is the result, an exception a failure coded by the exception's type).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { SCRIPT_NAME } from '../../worker/execution/taskCommand';
import { makeRequest, removeWorkRoots, run, workRoot } from './helpers';

jest.setTimeout(30_000);
afterAll(removeWorkRoots);

/** A python module in a fresh folder, returning its path. */
function pythonModule(source: string, name = 'tasks.py'): string {
  const file = join(workRoot(), name);
  writeFileSync(file, source);
  return file;
}

describe('script tasks', () => {
  test('a script with a #! line runs by it, in the working directory, mode 700, with args and parameters as arguments', async () => {
    const script = [
      '#!/bin/sh',
      'echo "args=[$*]"',
      `ls -l "${SCRIPT_NAME}" | cut -c1-10`,
      'echo "cwd=$(pwd)"',
      'echo "env=$GREETING"',
    ].join('\n');
    const { outcome, stdout, task } = await run(
      makeRequest({ script, args: ['one', 'two words'], parameters: { size: 3 }, env: { GREETING: 'hi' } }),
      { keepWorkdir: true },
    );
    expect(outcome.result).toBe('success');
    expect(stdout).toContain('args=[one two words --size=3]');
    expect(stdout).toContain('-rwx------');
    expect(stdout).toContain(`cwd=${task.workdir}`);
    expect(stdout).toContain('env=hi');
    expect(readFileSync(join(task.workdir, SCRIPT_NAME), 'utf8')).toBe(script);
  });

  test('a script without a #! line runs with /bin/sh; its exit code is the result', async () => {
    const ok = await run(makeRequest({ script: 'echo "$0 $1"; test "$1" = x' , args: ['x'] }));
    expect(ok.outcome.result).toBe('success');
    expect(ok.stdout).toMatch(new RegExp(`${SCRIPT_NAME.replace('.', '\\.')} x\\n$`));
    const failing = await run(makeRequest({ script: 'exit 4' }));
    expect(failing.outcome.result).toBe('failure');
    expect(failing.outcome.output_data.errors?.[0]).toMatchObject({ code: 'exit_code', exit_code: 4 });
  });

  test('a script whose #! interpreter does not exist is an error naming it, not a failure', async () => {
    const { outcome, task } = await run(makeRequest({ script: '#!/nonexistent/worksched-interpreter\necho hi' }));
    expect(outcome.result).toBe('error');
    expect(outcome.output_data.errors?.[0]).toMatchObject({ code: 'executable_not_found', message: expect.stringContaining('/nonexistent/worksched-interpreter') });
    expect(task.pid).toBeUndefined();
  });
});

describe('python function tasks', () => {
  test('the function is called with kwargs and parameters; its JSON return value is the result', async () => {
    const file = pythonModule([
      'import sys',
      'def resize(width, height, label="none"):',
      '    print("resizing", width, height, flush=True)',
      '    return {"area": width * height, "label": label, "argv": sys.argv[1:], "items": [1, 2.5, None, True]}',
    ].join('\n'));
    const { outcome, stdout } = await run(makeRequest({ python: { file, function: 'resize', kwargs: { width: 3, height: 4 } }, parameters: { label: 'big' }, args: ['--flag'] }));
    expect(outcome.result).toBe('success');
    expect(outcome.output_data.result).toEqual({ area: 12, label: 'big', argv: ['--flag'], items: [1, 2.5, null, true] });
    expect(stdout).toContain('resizing 3 4');
  });

  test('a file beside the module can be imported, a dotted name reaches a class attribute, an async function is awaited', async () => {
    const file = pythonModule(['from helper import double', 'class Tasks:', '    @staticmethod', '    async def run(n):', '        return double(n)'].join('\n'));
    writeFileSync(join(file, '..', 'helper.py'), 'def double(n):\n    return 2 * n\n');
    const { outcome } = await run(makeRequest({ python: { file, function: 'Tasks.run', kwargs: { n: 21 } } }));
    expect(outcome.result).toBe('success');
    expect(outcome.output_data.result).toBe(42);
    // The task's own module leaves no bytecode beside it (what it imports is cached as python always does).
    const cache = join(file, '..', '__pycache__');
    expect(existsSync(cache) ? readdirSync(cache).filter((name) => name.startsWith('tasks.')) : []).toEqual([]);
  });

  test('an exception is a failure coded by its type, with the traceback in the log', async () => {
    const file = pythonModule(['class QuotaExceeded(Exception):', '    pass', 'def work(limit):', '    raise QuotaExceeded(f"over {limit}")'].join('\n'));
    const { outcome, stderr } = await run(makeRequest({ python: { file, function: 'work', kwargs: { limit: 5 } } }));
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors).toEqual([{ code: 'QuotaExceeded', message: 'QuotaExceeded: over 5', exception_type: 'tasks.QuotaExceeded' }]);
    expect(stderr).toMatch(/Traceback \(most recent call last\):/);
    expect(stderr).toMatch(new RegExp(`File "${file}", line 4, in work`));
    expect(stderr).toMatch(/QuotaExceeded: over 5/);
    expect(outcome.output_data.result).toBeUndefined();

    const builtin = await run(makeRequest({ python: { file: pythonModule('def f():\n    return 1 / 0\n'), function: 'f' } }));
    expect(builtin.outcome.output_data.errors?.[0]).toMatchObject({ code: 'ZeroDivisionError', exception_type: 'builtins.ZeroDivisionError' });
    const bare = await run(makeRequest({ python: { file: pythonModule('def f():\n    raise KeyError\n'), function: 'f' } }));
    expect(bare.outcome.output_data.errors?.[0]).toMatchObject({ code: 'KeyError', message: 'KeyError' });
  });

  test('an exception while importing the file is a failure too; a function that is not there is an error', async () => {
    const broken = await run(makeRequest({ python: { file: pythonModule('import no_such_module_worksched\n'), function: 'f' } }));
    expect(broken.outcome.result).toBe('failure');
    expect(broken.outcome.output_data.errors?.[0].code).toBe('ModuleNotFoundError');

    const file = pythonModule('def present():\n    return 1\n');
    const absent = await run(makeRequest({ python: { file, function: 'absent' } }));
    expect(absent.outcome.result).toBe('error');
    expect(absent.outcome.output_data.errors).toEqual([{ code: 'executable_not_found', message: `${file} has no function absent` }]);

    const missingFile = await run(makeRequest({ python: { file: '/nonexistent/worksched/tasks.py', function: 'f' } }));
    expect(missingFile.outcome.result).toBe('error');
    expect(missingFile.outcome.output_data.errors?.[0]).toMatchObject({ code: 'executable_not_found', message: expect.stringContaining('/nonexistent/worksched/tasks.py') });
    expect(missingFile.task.pid).toBeUndefined();
  });

  test('a return value that is not JSON is invalid_result; sys.exit ends it like a script', async () => {
    const file = pythonModule(['import sys', 'def a_set():', '    return {1, 2}', 'def nan():', '    return float("nan")', 'def leave():', '    sys.exit(3)'].join('\n'));
    for (const name of ['a_set', 'nan']) {
      const { outcome } = await run(makeRequest({ python: { file, function: name } }));
      expect({ name, result: outcome.result, code: outcome.output_data.errors?.[0].code }).toEqual({ name, result: 'error', code: 'invalid_result' });
    }
    const { outcome } = await run(makeRequest({ python: { file, function: 'leave' } }));
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors?.[0]).toMatchObject({ code: 'exit_code', exit_code: 3 });
  });

  test('None is a null result, unless the function wrote $WORKSCHED_RESULT_FILE itself', async () => {
    const file = pythonModule(['import json, os', 'def nothing():', '    pass', 'def writes():', '    open(os.environ["WORKSCHED_RESULT_FILE"], "w").write(json.dumps({"written": True}))'].join('\n'));
    expect((await run(makeRequest({ python: { file, function: 'nothing' } }))).outcome.output_data).toHaveProperty('result', null);
    expect((await run(makeRequest({ python: { file, function: 'writes' } }))).outcome.output_data.result).toEqual({ written: true });
  });

  test('python3 missing from the task PATH is an error', async () => {
    const file = pythonModule('def f():\n    return 1\n');
    const { outcome } = await run(makeRequest({ python: { file, function: 'f' }, env: { PATH: '/nonexistent-bin' } }));
    expect(outcome.result).toBe('error');
    expect(outcome.output_data.errors?.[0]).toMatchObject({ code: 'executable_not_found', message: expect.stringContaining('python3') });
  });
});
