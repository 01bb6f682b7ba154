/**
 * Seed 004's task spec additions through a real server and a real worker: required files checked before the
 * task starts, inline scripts, python functions whose return value is the result, and $WORKSCHED_RESULT_FILE.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionInput, TaskSpecInput } from '../../protocol/taskSpec';
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, logText, RUN_TAG, startServerAndWorker, tmpDir, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => ({ server, worker } = await startServerAndWorker({ concurrency: 2 })), 60_000);
afterAll(() => cleanup(server));

/** A spec of this execution, tagged so cleanup finds what it left running. */
function spec(execution: ExecutionInput, extra: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return { task_name: uniqueName('spec'), execution: { ...execution, env: { ...execution.env, WORKSCHED_E2E_RUN: RUN_TAG } }, ...extra };
}

async function runToEnd(input: TaskSpecInput) {
  const created = await server.client.createWorkRequest(input);
  return waitForEnd(server.client, created.id);
}

describe('required files', () => {
  it('a missing required file ends the request error / required_file_missing with its path, and the task never ran', withProcessLogs(async () => {
    const dir = tmpDir('required');
    const sideEffect = path.join(dir, 'ran');
    const present = path.join(dir, 'reference.fa');
    fs.writeFileSync(present, '>ref\n');
    const missing = path.join(dir, 'missing.fa');
    const done = await runToEnd(spec({ script: `touch "${sideEffect}"` }, { required_filepath: [present, missing], max_attempts: 1 }));
    expect(done).toMatchObject({ status: 'completed', result: 'error' });
    expect(done.output_data?.errors).toEqual([{ code: 'required_file_missing', message: expect.stringContaining(missing), paths: [missing] }]);
    expect(done.task_data).toMatchObject({ required_filepath: [present, missing] });
    expect(done.worker?.name).toBe(worker.options.name);
    expect(fs.existsSync(sideEffect)).toBe(false);
    expect((await logText(server.client, done.id)).system).not.toMatch(/started pid/);

    // Once the file is there the same spec runs.
    fs.writeFileSync(missing, '>x\n');
    expect(await runToEnd(spec({ script: `touch "${sideEffect}"` }, { required_filepath: [present, missing] }))).toMatchObject({ result: 'success' });
    expect(fs.existsSync(sideEffect)).toBe(true);
  }));

  it('required_folder with 5 matching and 2 non-matching files passes for its expression and fails for another', withProcessLogs(async () => {
    const dir = tmpDir('folder');
    const folder = path.join(dir, 'in');
    fs.mkdirSync(folder);
    for (let index = 1; index <= 5; index += 1) fs.writeFileSync(path.join(folder, `sample-${index}.csv`), 'a,b\n');
    fs.writeFileSync(path.join(folder, 'index.html'), '<p>');
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'x');
    const marker = (name: string) => path.join(dir, name);
    const passes = await runToEnd(spec({ script: `touch "${marker('csv')}"` }, { required_folder: [folder], required_file_expression: ['^sample-\\d+\\.csv$'] }));
    const fails = await runToEnd(spec({ script: `touch "${marker('json')}"` }, { required_folder: [folder], required_file_expression: ['\\.json$'], max_attempts: 1 }));
    expect(passes).toMatchObject({ status: 'completed', result: 'success' });
    expect(fs.existsSync(marker('csv'))).toBe(true);
    expect(fails).toMatchObject({ status: 'completed', result: 'error' });
    expect(fails.output_data?.errors?.[0]).toMatchObject({ code: 'required_file_missing', paths: [folder] });
    expect(fs.existsSync(marker('json'))).toBe(false);
  }));
});

describe('execution kinds', () => {
  it('a script task runs with its arguments and writes a result', withProcessLogs(async () => {
    const done = await runToEnd(
      spec({ script: '#!/bin/sh\necho "hello from $1 $2"\nprintf \'{"greeted": "%s"}\' "$1" > "$WORKSCHED_RESULT_FILE"\n', args: ['world'], parameters: { loud: true } }),
    );
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    expect(done.output_data?.result).toEqual({ greeted: 'world' });
    expect((await logText(server.client, done.id)).stdout).toContain('hello from world --loud=true');
  }));

  it("a python function task runs; its return value is output_data.result", withProcessLogs(async () => {
    const file = path.join(tmpDir('python'), 'stats.py');
    fs.writeFileSync(file, ['def summarize(values, scale):', '    print("summarizing", len(values), "values")', '    return {"total": sum(values) * int(scale), "count": len(values)}'].join('\n'));
    const done = await runToEnd(spec({ python: { file, function: 'summarize', kwargs: { values: [1, 2, 3.5] } }, parameters: { scale: '2' } }));
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    expect(done.output_data?.result).toEqual({ total: 13, count: 3 });
    expect((await logText(server.client, done.id)).stdout).toContain('summarizing 3 values');
  }));

  it('an exception in the function is a failure with its type as the code and the traceback in the log', withProcessLogs(async () => {
    const file = path.join(tmpDir('python'), 'checks.py');
    fs.writeFileSync(file, ['def validate(name):', '    raise ValueError(f"bad name {name!r}")'].join('\n'));
    const done = await runToEnd(spec({ python: { file, function: 'validate', kwargs: { name: 'x y' } } }, { max_attempts: 1 }));
    expect(done).toMatchObject({ status: 'completed', result: 'failure' });
    expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'ValueError', message: "ValueError: bad name 'x y'" });
    const { stderr } = await logText(server.client, done.id);
    expect(stderr).toContain('Traceback (most recent call last):');
    expect(stderr).toContain(`File "${file}", line 2, in validate`);
  }));
});

describe('the result file', () => {
  it('a result of almost 1 MiB reaches the server; more, or invalid JSON, is an error with invalid_result', withProcessLogs(async () => {
    const dir = tmpDir('results');
    const big = path.join(dir, 'big.json');
    fs.writeFileSync(big, JSON.stringify({ blob: 'x'.repeat(1024 * 1024 - 100) }));
    const tooBig = path.join(dir, 'too-big.json');
    fs.writeFileSync(tooBig, JSON.stringify({ blob: 'x'.repeat(1024 * 1024) }));
    const [nearLimit, over, invalid] = await Promise.all(
      [`cp "${big}" "$WORKSCHED_RESULT_FILE"`, `cp "${tooBig}" "$WORKSCHED_RESULT_FILE"`, 'echo "{not json" > "$WORKSCHED_RESULT_FILE"'].map((script) =>
        runToEnd(spec({ script }, { max_attempts: 1 })),
      ),
    );
    expect(nearLimit).toMatchObject({ status: 'completed', result: 'success' });
    expect((nearLimit.output_data?.result as { blob: string }).blob).toHaveLength(1024 * 1024 - 100);
    for (const done of [over, invalid]) {
      expect(done).toMatchObject({ status: 'completed', result: 'error' });
      expect(done.output_data?.errors?.[0].code).toBe('invalid_result');
      expect(done.output_data?.result).toBeUndefined();
    }
  }));
});
