/**
 * The files a task shares with the worker: $WORKSCHED_RESULT_FILE (a JSON value of at most 1 MiB, sent as
 * output_data.result), $WORKSCHED_INPUTS_FILE (the claimed item's inputs, `{}` outside workflows), and the
 * required files checked before the task starts (missing → error / required_file_missing, nothing run).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { spawnSync } from 'child_process';
import { join } from 'path';
import { outputDataSchema } from '../../protocol';
import { MAX_RESULT_BYTES } from '../../worker/execution/taskFiles';
import { lookUpUser } from '../../worker/taskUsers';
import { isRoot, testIf } from '../helpers/capabilities';
import { makeRequest, removeWorkRoots, run, workRoot } from './helpers';

jest.setTimeout(30_000);
afterAll(removeWorkRoots);

const writeResult = (text: string) => makeRequest({ script: `printf '%s' '${text}' > "$WORKSCHED_RESULT_FILE"` });

describe('after the task', () => {
  const writeAll = makeRequest({ script: 'echo x > "$WORKSCHED_RESULT_FILE"; echo kept > here.txt; echo "$WORKSCHED_TASK_FILE"' });

  test('nothing of it is left in the work root: its directory and the files beside it are removed', async () => {
    const root = workRoot();
    const { outcome, stdout } = await run(writeAll, { workRoot: root });
    expect(outcome.result).toBe('error'); // "x" is not JSON: the result file was read, then removed with the rest
    expect(stdout.trim()).toMatch(/\.task\.json$/);
    expect(readdirSync(root)).toEqual([]);
  });

  testIf(isRoot, 'not running as root')('as another user, the directory of its files goes too', async () => {
    const root = workRoot();
    chmodSync(root, 0o711); // the task user passes through to its directories, as under the agent's work dir
    const nobody = lookUpUser('nobody');
    if (!nobody) throw new Error('this host has no nobody user');
    const { outcome, stdout } = await run(writeAll, { workRoot: root, runAs: nobody });
    expect(outcome.result).toBe('error');
    expect(stdout.trim()).toMatch(/\.files\/[^/]+\.task\.json$/);
    expect(readdirSync(root)).toEqual([]);
  });

  test('a work root removed meanwhile is made again for the next task', async () => {
    const root = join(workRoot(), 'gone');
    mkdirSync(root);
    expect((await run(makeRequest({ script: 'true' }), { workRoot: root })).outcome.result).toBe('success');
    rmSync(root, { recursive: true });
    expect((await run(makeRequest({ script: 'true' }), { workRoot: root })).outcome.result).toBe('success');
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('the result file', () => {
  test('a JSON value written there is output_data.result; the file is beside the working directory and removed afterwards', async () => {
    const { outcome, stdout, task } = await run(
      makeRequest({ script: 'echo "$WORKSCHED_RESULT_FILE"; echo \'{"rows": 3, "names": ["a", "b"]}\' > "$WORKSCHED_RESULT_FILE"' }),
    );
    expect(outcome.result).toBe('success');
    expect(outcome.output_data.result).toEqual({ rows: 3, names: ['a', 'b'] });
    expect(outputDataSchema.parse(outcome.output_data)).toEqual(outcome.output_data);
    const path = stdout.trim();
    expect(path).toBe(`${task.workdir}.result.json`);
    expect(existsSync(path)).toBe(false);
  });

  test('no result file: no result; any JSON value is accepted, also a bare string or null', async () => {
    expect((await run(makeRequest({ script: 'true' }))).outcome.output_data).not.toHaveProperty('result');
    expect((await run(writeResult('"done"'))).outcome.output_data.result).toBe('done');
    expect((await run(writeResult('null'))).outcome.output_data).toHaveProperty('result', null);
  });

  test('invalid JSON, or more than 1 MiB, makes a successful task an error with invalid_result', async () => {
    const invalid = await run(writeResult('{"rows": 3,'));
    expect(invalid.outcome.result).toBe('error');
    expect(invalid.outcome.output_data.errors).toEqual([{ code: 'invalid_result', message: expect.stringMatching(/not JSON/) }]);
    expect(invalid.outcome.output_data).not.toHaveProperty('result');

    const exactly = `"${'x'.repeat(MAX_RESULT_BYTES - 2)}"`;
    const root = workRoot();
    writeFileSync(join(root, 'max.json'), exactly);
    writeFileSync(join(root, 'over.json'), `${exactly} `);
    const atLimit = await run(makeRequest({ script: `cp "${join(root, 'max.json')}" "$WORKSCHED_RESULT_FILE"` }));
    expect(atLimit.outcome.result).toBe('success');
    expect((atLimit.outcome.output_data.result as string).length).toBe(MAX_RESULT_BYTES - 2);
    const over = await run(makeRequest({ script: `cp "${join(root, 'over.json')}" "$WORKSCHED_RESULT_FILE"` }));
    expect(over.outcome.result).toBe('error');
    expect(over.outcome.output_data.errors).toEqual([{ code: 'invalid_result', message: expect.stringMatching(/more than 1048576 bytes/) }]);
  });

  test('JSON the server could not store (deeper than 64 levels, a NUL, a "__proto__" key) is invalid_result, not a report the server refuses', async () => {
    const root = workRoot();
    const cases: Array<[string, string, RegExp]> = [
      ['deep.json', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, /nested deeper than 64 levels/],
      ['nul.json', '{"text": "a\\u0000b"}', /text contains a NUL character/],
      ['proto.json', '{"a": {"__proto__": 1}}', /"__proto__" is not allowed/],
    ];
    for (const [file, text, message] of cases) {
      writeFileSync(join(root, file), text);
      const { outcome } = await run(makeRequest({ script: `cp "${join(root, file)}" "$WORKSCHED_RESULT_FILE"` }));
      expect({ file, result: outcome.result, errors: outcome.output_data.errors }).toEqual({ file, result: 'error', errors: [{ code: 'invalid_result', message: expect.stringMatching(message) }] });
    }
    const fine = `${'['.repeat(64)}${']'.repeat(64)}`;
    writeFileSync(join(root, 'fine.json'), fine);
    expect((await run(makeRequest({ script: `cp "${join(root, 'fine.json')}" "$WORKSCHED_RESULT_FILE"` }))).outcome.result).toBe('success');
  });

  test('a failed task keeps its own error: a valid result is still sent, an invalid one is not', async () => {
    const valid = await run(makeRequest({ script: 'echo \'{"partial": true}\' > "$WORKSCHED_RESULT_FILE"; exit 2' }));
    expect(valid.outcome.result).toBe('failure');
    expect(valid.outcome.output_data.errors?.[0].code).toBe('exit_code');
    expect(valid.outcome.output_data.result).toEqual({ partial: true });
    const invalid = await run(makeRequest({ script: 'echo "not json" > "$WORKSCHED_RESULT_FILE"; exit 2' }));
    expect(invalid.outcome.output_data.errors).toEqual([expect.objectContaining({ code: 'exit_code' })]);
    expect(invalid.system).toMatch(/result not sent: .*not JSON/);
  });

  test('a symbolic link or a FIFO there is not followed or waited on: invalid_result', async () => {
    const secret = join(workRoot(), 'secret.json');
    writeFileSync(secret, '{"secret": 1}');
    const linked = await run(makeRequest({ script: `ln -s "${secret}" "$WORKSCHED_RESULT_FILE"` }));
    expect(linked.outcome.result).toBe('error');
    expect(linked.outcome.output_data.errors?.[0]).toMatchObject({ code: 'invalid_result', message: expect.stringMatching(/symbolic link/) });
    expect(linked.outcome.output_data).not.toHaveProperty('result');
    expect(readFileSync(secret, 'utf8')).toBe('{"secret": 1}'); // the link was removed, not its target

    const fifo = await run(makeRequest({ script: 'mkfifo "$WORKSCHED_RESULT_FILE"' }));
    expect(fifo.outcome.output_data.errors?.[0]).toMatchObject({ code: 'invalid_result', message: expect.stringMatching(/not a regular file/) });
  });
});

describe('the inputs file', () => {
  test("holds the claimed item's inputs as JSON; {} when it has none", async () => {
    const inputs = { build: { artifact: '/out/app.tar', size: 1234 }, lint: null };
    const withInputs = await run(makeRequest({ script: 'cat "$WORKSCHED_INPUTS_FILE"' }, { inputs }));
    expect(withInputs.outcome.result).toBe('success');
    expect(JSON.parse(withInputs.stdout)).toEqual(inputs);
    const without = await run(makeRequest({ script: 'echo "$WORKSCHED_INPUTS_FILE"; cat "$WORKSCHED_INPUTS_FILE"' }));
    const [path, content] = without.stdout.split('\n');
    expect(path).toBe(`${without.task.workdir}.inputs.json`);
    expect(JSON.parse(content)).toEqual({});
    expect(existsSync(path)).toBe(false);
  });

  test('a python function reads it through the same variable', async () => {
    const file = join(workRoot(), 'consumer.py');
    writeFileSync(file, 'import json, os\ndef total():\n    inputs = json.load(open(os.environ["WORKSCHED_INPUTS_FILE"]))\n    return sum(v["n"] for v in inputs.values())\n');
    const { outcome } = await run(makeRequest({ python: { file, function: 'total' } }, { inputs: { a: { n: 2 }, b: { n: 5 } } }));
    expect(outcome.output_data.result).toBe(7);
  });
});

describe('required files', () => {
  test('a missing required_filepath is error / required_file_missing with the missing paths, and the task never runs', async () => {
    const root = workRoot();
    const present = join(root, 'genome.fa');
    writeFileSync(present, '>x\n');
    const sideEffect = join(root, 'ran');
    const request = makeRequest(
      { script: `touch "${sideEffect}"` },
      { required_filepath: [present, join(root, 'missing.fa'), '/nonexistent/worksched/ref.fa'] },
    );
    const { outcome, task, system } = await run(request);
    expect(outcome.result).toBe('error');
    expect(outcome.output_data.errors).toEqual([
      {
        code: 'required_file_missing',
        message: expect.stringContaining(`${join(root, 'missing.fa')} (does not exist)`),
        paths: [join(root, 'missing.fa'), '/nonexistent/worksched/ref.fa'],
      },
    ]);
    expect(task.pid).toBeUndefined();
    expect(existsSync(sideEffect)).toBe(false);
    expect(system).toMatch(/result: error \(required_file_missing/);

    const allThere = await run(makeRequest({ script: `touch "${sideEffect}"` }, { required_filepath: [present] }));
    expect(allThere.outcome.result).toBe('success');
    expect(existsSync(sideEffect)).toBe(true);
  });

  test('required_folder with 5 matching and 2 other files: passes for the matching expression, fails for another', async () => {
    const root = workRoot();
    const folder = join(root, 'in');
    mkdirSync(folder);
    for (let index = 1; index <= 5; index += 1) writeFileSync(join(folder, `part-${index}.csv`), 'a,b\n');
    writeFileSync(join(folder, 'README.txt'), 'x');
    writeFileSync(join(folder, 'notes.md'), 'x');
    const check = async (expressions: string[] | undefined) => {
      const marker = join(root, `ran-${Math.random().toString(36).slice(2)}`);
      const { outcome } = await run(makeRequest({ script: `touch "${marker}"` }, { required_folder: [folder], ...(expressions ? { required_file_expression: expressions } : {}) }));
      return { result: outcome.result, ran: existsSync(marker), error: outcome.output_data.errors?.[0] };
    };
    expect(await check(['\\.csv$'])).toEqual({ result: 'success', ran: true, error: undefined });
    expect(await check(undefined)).toEqual({ result: 'success', ran: true, error: undefined });
    expect(await check(['\\.json$', '^part-9'])).toEqual({
      result: 'error',
      ran: false,
      error: { code: 'required_file_missing', message: expect.stringContaining('no file whose name matches \\.json$ or ^part-9'), paths: [folder] },
    });
  });

  test('a folder that is missing, empty, a file, or holds only links and subfolders fails', async () => {
    const root = workRoot();
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const linksOnly = join(root, 'links');
    mkdirSync(join(linksOnly, 'sub.csv'), { recursive: true });
    writeFileSync(join(root, 'elsewhere.csv'), 'x');
    symlinkSync(join(root, 'elsewhere.csv'), join(linksOnly, 'link.csv'));
    mkfifo(join(linksOnly, 'pipe.csv'));
    const aFile = join(root, 'elsewhere.csv');
    const { outcome } = await run(makeRequest({ script: 'true' }, { required_folder: [join(root, 'nope'), empty, aFile, linksOnly], required_file_expression: ['\\.csv$'] }));
    expect(outcome.result).toBe('error');
    const error = outcome.output_data.errors?.[0];
    expect(error).toMatchObject({ code: 'required_file_missing', paths: [join(root, 'nope'), empty, aFile, linksOnly] });
    expect(error?.message).toContain(`${join(root, 'nope')} (does not exist)`);
    expect(error?.message).toContain(`${aFile} (not a folder)`);
  });
});

function mkfifo(path: string): void {
  const made = spawnSync('mkfifo', [path], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr}`);
}
