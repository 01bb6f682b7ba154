/**
 * Bad input is a 400 (413 for a huge body) with a stable code and issues naming the field, and writes nothing:
 * the row counts of every table stay as they were. Nothing answers 500.
 */
import type { ErrorResponse } from '../../protocol/errors';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, startTestServer, taskSpec, type ApiResponse, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let worker: SimWorker;
let runningId: number;

beforeAll(async () => {
  server = await startTestServer();
  worker = await server.registerWorker();
  runningId = (await server.createWorkRequest()).id;
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([runningId]);
});

afterAll(async () => {
  await server?.close();
});

type Who = 'client' | 'worker' | 'enrollment' | 'admin';

interface BadCase {
  method: 'GET' | 'POST';
  /** `:running` is replaced with the id of a request running on `worker`. */
  path: string;
  who: Who;
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string | null;
  status: number;
  code: string;
  /** The issue path that must be named (exactly), or a prefix ending in "[" / "." ; none for errors without issues. */
  issue?: string;
}

const spec = (extra: Record<string, unknown> = {}) => ({ ...taskSpec(), ...extra });
const withoutKey = (key: string) => {
  const value: Record<string, unknown> = spec();
  delete value[key];
  return value;
};
const registration = (extra: Record<string, unknown> = {}) => ({
  name: `bad-input-${Math.random().toString(36).slice(2, 10)}`,
  resources: { cpu_count: 2, total_memory: 1024, available_memory: 1024, available_disk_space: 1024 },
  ...extra,
});
const logEntry = (extra: Record<string, unknown> = {}) => ({ seq: 0, ts: new Date().toISOString(), stream: 'stdout', text: 'x', ...extra });

const CREATE = { method: 'POST', path: '/api/v1/work-requests', who: 'client' } as const;
const invalid = { status: 400, code: 'validation_failed' } as const;
const unsupported = { status: 415, code: 'unsupported_media_type' } as const;
/** `levels` nested objects as JSON text (JSON.stringify itself would overflow the stack on 10,000). */
const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
/** A valid spec as JSON text with `key` set to the JSON text `valueText`. */
const specWith = (key: string, valueText: string) => `${JSON.stringify(spec()).slice(0, -1)},${JSON.stringify(key)}:${valueText}}`;

const cases: Array<[string, BadCase]> = [
  // Task spec (POST /api/v1/work-requests)
  ['unknown top-level field', { ...CREATE, body: spec({ colour: 'red' }), ...invalid, issue: 'colour' }],
  ['missing task_name', { ...CREATE, body: withoutKey('task_name'), ...invalid, issue: 'task_name' }],
  ['task_name with spaces and "!"', { ...CREATE, body: spec({ task_name: 'hello world!' }), ...invalid, issue: 'task_name' }],
  ['task_name starting with "-"', { ...CREATE, body: spec({ task_name: '-rf' }), ...invalid, issue: 'task_name' }],
  ['execution missing', { ...CREATE, body: withoutKey('execution'), ...invalid, issue: 'execution' }],
  ['executable empty', { ...CREATE, body: spec({ execution: { executable: '' } }), ...invalid, issue: 'execution.executable' }],
  ['execution of no kind', { ...CREATE, body: spec({ execution: { args: ['x'] } }), ...invalid, issue: 'execution' }],
  ['execution of two kinds', { ...CREATE, body: spec({ execution: { executable: '/bin/true', script: 'echo hi' } }), ...invalid, issue: 'execution.script' }],
  ['python without a function', { ...CREATE, body: spec({ execution: { python: { file: '/t.py' } } }), ...invalid, issue: 'execution.python.function' }],
  ['required_filepath not absolute', { ...CREATE, body: spec({ required_filepath: ['data/genome.fa'] }), ...invalid, issue: 'required_filepath[0]' }],
  ['required_file_expression not a regular expression', { ...CREATE, body: spec({ required_folder: ['/in'], required_file_expression: ['[a-'] }), ...invalid, issue: 'required_file_expression[0]' }],
  ['required_file_expression without required_folder', { ...CREATE, body: spec({ required_file_expression: ['\\.csv$'] }), ...invalid, issue: 'required_file_expression' }],
  ['unknown field inside execution', { ...CREATE, body: spec({ execution: { executable: '/bin/true', shell: true } }), ...invalid, issue: 'execution.shell' }],
  ['args not strings', { ...CREATE, body: spec({ execution: { executable: '/bin/true', args: ['ok', 3] } }), ...invalid, issue: 'execution.args[1]' }],
  ['resources.memory "lots"', { ...CREATE, body: spec({ resources: { memory: 'lots' } }), ...invalid, issue: 'resources.memory' }],
  ['resources.cpu 0', { ...CREATE, body: spec({ resources: { cpu: 0 } }), ...invalid, issue: 'resources.cpu' }],
  ['time_limit "10 parsecs"', { ...CREATE, body: spec({ time_limit: '10 parsecs' }), ...invalid, issue: 'time_limit' }],
  ['time_limit 0', { ...CREATE, body: spec({ time_limit: 0 }), ...invalid, issue: 'time_limit' }],
  ['time_limit beyond what can be stored (1e10 s)', { ...CREATE, body: spec({ time_limit: 1e10 }), ...invalid, issue: 'time_limit' }],
  ['priority 1e9', { ...CREATE, body: spec({ priority: 1e9 }), ...invalid, issue: 'priority' }],
  ['priority 1.5', { ...CREATE, body: spec({ priority: 1.5 }), ...invalid, issue: 'priority' }],
  ['priority as a string', { ...CREATE, body: spec({ priority: '5' }), ...invalid, issue: 'priority' }],
  ['max_attempts 0', { ...CREATE, body: spec({ max_attempts: 0 }), ...invalid, issue: 'max_attempts' }],
  ['interrupt_allowed "yes"', { ...CREATE, body: spec({ interrupt_allowed: 'yes' }), ...invalid, issue: 'interrupt_allowed' }],
  ['user_metadata a string', { ...CREATE, body: spec({ user_metadata: 'not an object' }), ...invalid, issue: 'user_metadata' }],
  ['user_metadata an array', { ...CREATE, body: spec({ user_metadata: [1, 2] }), ...invalid, issue: 'user_metadata' }],
  ['body an array', { ...CREATE, body: [spec()], ...invalid, issue: '(body)' }],
  ['body null (JSON, but not an object)', { ...CREATE, raw: 'null', status: 400, code: 'invalid_json' }],
  ['body not JSON', { ...CREATE, raw: '{"task_name": "x",', status: 400, code: 'invalid_json' }],
  ['no body at all', { ...CREATE, ...invalid, issue: '(body)' }],
  ['JSON sent as text/plain', { ...CREATE, raw: JSON.stringify(spec()), contentType: 'text/plain', ...unsupported }],
  ['JSON sent form-encoded', { ...CREATE, raw: JSON.stringify(spec()), contentType: 'application/x-www-form-urlencoded', ...unsupported }],
  ['JSON sent without a content type', { ...CREATE, raw: Buffer.from(JSON.stringify(spec())), contentType: null, ...unsupported }],
  ['JSON sent as */*', { ...CREATE, raw: JSON.stringify(spec()), contentType: '*/*', ...unsupported }],
  ['JSON in a charset the server does not read', { ...CREATE, raw: JSON.stringify(spec()), contentType: 'application/json; charset=latin1', ...unsupported }],

  // Free JSON: bounded depth (the parser of z.json() recurses per level), no "__proto__" keys, valid Unicode
  ['user_metadata nested 10,000 levels', { ...CREATE, raw: specWith('user_metadata', nested(10_000)), ...invalid, issue: 'user_metadata' }],
  ['user_metadata nested 65 levels', { ...CREATE, raw: specWith('user_metadata', nested(65)), ...invalid, issue: 'user_metadata' }],
  ['user_metadata with a "__proto__" key', { ...CREATE, raw: specWith('user_metadata', '{"a":{"__proto__":{"x":1}}}'), ...invalid, issue: 'user_metadata' }],
  ['the whole body nested 10,000 levels', { ...CREATE, raw: nested(10_000), ...invalid, issue: 'task_name' }],
  ['a body of 100,000 nested arrays', { ...CREATE, raw: `${'['.repeat(100_000)}${']'.repeat(100_000)}`, ...invalid, issue: '(body)' }],
  ['user_metadata with an unpaired surrogate', { ...CREATE, raw: specWith('user_metadata', '{"note":"a\\ud800b"}'), ...invalid, issue: 'user_metadata.note' }],
  ['args with an unpaired surrogate', { ...CREATE, body: spec({ execution: { executable: '/bin/echo', args: ['\udc00'] } }), ...invalid, issue: 'execution.args[0]' }],
  ['a number of 400 digits as priority', { ...CREATE, raw: specWith('priority', `1${'0'.repeat(400)}`), ...invalid, issue: 'priority' }],

  // Worker routes
  ['register with missing resources', { method: 'POST', path: '/api/v1/workers/register', who: 'enrollment', body: registration({ resources: undefined }), ...invalid, issue: 'resources' }],
  ['register with a bad name', { method: 'POST', path: '/api/v1/workers/register', who: 'enrollment', body: registration({ name: 'a b' }), ...invalid, issue: 'name' }],
  ['register with concurrency 0', { method: 'POST', path: '/api/v1/workers/register', who: 'enrollment', body: registration({ concurrency: 0 }), ...invalid, issue: 'concurrency' }],
  [
    'register with a cpu_count beyond what can be stored',
    {
      method: 'POST',
      path: '/api/v1/workers/register',
      who: 'enrollment',
      body: registration({ resources: { cpu_count: 1e10, total_memory: 1024, available_memory: 1024, available_disk_space: 1024 } }),
      ...invalid,
      issue: 'resources.cpu_count',
    },
  ],
  ['claim with wait_s 61', { method: 'POST', path: '/api/v1/workers/claim', who: 'worker', body: { wait_s: 61 }, ...invalid, issue: 'wait_s' }],
  ['claim with max 0', { method: 'POST', path: '/api/v1/workers/claim', who: 'worker', body: { max: 0 }, ...invalid, issue: 'max' }],
  ['claim with {"max":0} as text/plain', { method: 'POST', path: '/api/v1/workers/claim', who: 'worker', raw: '{"max":0}', contentType: 'text/plain', ...unsupported }],
  ['claim with {"max":0} form-encoded', { method: 'POST', path: '/api/v1/workers/claim', who: 'worker', raw: '{"max":0}', contentType: 'application/x-www-form-urlencoded', ...unsupported }],
  ['claim with {"max":0} and no content type', { method: 'POST', path: '/api/v1/workers/claim', who: 'worker', raw: Buffer.from('{"max":0}'), contentType: null, ...unsupported }],
  ['claim with {"max":0} as */*', { method: 'POST', path: '/api/v1/workers/claim', who: 'worker', raw: '{"max":0}', contentType: '*/*', ...unsupported }],
  ['heartbeat with an empty body (a body is not optional there)', { method: 'POST', path: '/api/v1/workers/heartbeat', who: 'worker', raw: '', ...invalid, issue: '(body)' }],
  ['heartbeat with a non-numeric running id', { method: 'POST', path: '/api/v1/workers/heartbeat', who: 'worker', body: { running: ['x'] }, ...invalid, issue: 'running[0]' }],
  ['logs with a bad stream', { method: 'POST', path: '/api/v1/work-requests/:running/logs', who: 'worker', body: { entries: [logEntry({ stream: 'stdlog' })] }, ...invalid, issue: 'entries[0].stream' }],
  ['logs with a bad ts', { method: 'POST', path: '/api/v1/work-requests/:running/logs', who: 'worker', body: { entries: [logEntry({ ts: 'yesterday' })] }, ...invalid, issue: 'entries[0].ts' }],
  ['logs with a negative seq', { method: 'POST', path: '/api/v1/work-requests/:running/logs', who: 'worker', body: { entries: [logEntry({ seq: -1 })] }, ...invalid, issue: 'entries[0].seq' }],
  ['logs with a seq beyond what can be stored', { method: 'POST', path: '/api/v1/work-requests/:running/logs', who: 'worker', body: { entries: [logEntry({ seq: 2 ** 31 })] }, ...invalid, issue: 'entries[0].seq' }],
  [
    'an error detail nested 10,000 levels',
    { method: 'POST', path: '/api/v1/work-requests/:running/complete', who: 'worker', raw: `{"result":"failure","output_data":{"errors":[{"message":"m","code":"c","detail":${nested(10_000)}}]}}`, ...invalid, issue: 'output_data.errors[0].detail' },
  ],
  [
    'output_data.result nested 10,000 levels',
    { method: 'POST', path: '/api/v1/work-requests/:running/complete', who: 'worker', raw: `{"result":"success","output_data":{"result":${nested(10_000)}}}`, ...invalid, issue: 'output_data.result' },
  ],
  ['complete with result "great"', { method: 'POST', path: '/api/v1/work-requests/:running/complete', who: 'worker', body: { result: 'great' }, ...invalid, issue: 'result' }],
  [
    'complete with a statistic that is not an integer',
    { method: 'POST', path: '/api/v1/work-requests/:running/complete', who: 'worker', body: { result: 'success', output_data: { runtime_statistics: { memory: 1.5 } } }, ...invalid, issue: 'output_data.runtime_statistics.memory' },
  ],
  [
    'complete with an error without code',
    { method: 'POST', path: '/api/v1/work-requests/:running/complete', who: 'worker', body: { result: 'failure', output_data: { errors: [{ message: 'x' }] } }, ...invalid, issue: 'output_data.errors[0].code' },
  ],
  ['release without a reason', { method: 'POST', path: '/api/v1/work-requests/:running/release', who: 'worker', body: {}, ...invalid, issue: 'reason' }],
  ['token with an unknown role', { method: 'POST', path: '/api/v1/tokens', who: 'admin', body: { role: 'superuser' }, ...invalid, issue: 'role' }],

  // Query strings
  ['list with status=bogus', { method: 'GET', path: '/api/v1/work-requests?status=bogus', who: 'client', ...invalid, issue: 'status[' }],
  ['list with limit=0', { method: 'GET', path: '/api/v1/work-requests?limit=0', who: 'client', ...invalid, issue: 'limit' }],
  ['list with limit=abc', { method: 'GET', path: '/api/v1/work-requests?limit=abc', who: 'client', ...invalid, issue: 'limit' }],
  ['list with an unknown parameter', { method: 'GET', path: '/api/v1/work-requests?colour=red', who: 'client', ...invalid, issue: 'colour' }],
  ['list with a repeated parameter', { method: 'GET', path: '/api/v1/work-requests?status=pending&status=running', who: 'client', ...invalid, issue: 'status' }],
  ['list with a cursor the server never gave', { method: 'GET', path: '/api/v1/work-requests?cursor=bm9wZQ', who: 'client', status: 400, code: 'bad_request', issue: 'cursor' }],
  ['logs with follow=maybe', { method: 'GET', path: '/api/v1/work-requests/:running/logs?follow=maybe', who: 'client', ...invalid, issue: 'follow' }],

  // Ids in the path
  ['non-numeric id', { method: 'GET', path: '/api/v1/work-requests/abc', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['id 0', { method: 'GET', path: '/api/v1/work-requests/0', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['negative id', { method: 'GET', path: '/api/v1/work-requests/-1', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['fractional id', { method: 'GET', path: '/api/v1/work-requests/1.5', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['id with 20 digits', { method: 'GET', path: '/api/v1/work-requests/12345678901234567890', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['non-numeric id on cancel', { method: 'POST', path: '/api/v1/work-requests/abc/cancel', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['non-numeric id on logs', { method: 'GET', path: '/api/v1/work-requests/abc/logs', who: 'client', status: 400, code: 'bad_request', issue: 'id' }],
  ['non-numeric id on complete', { method: 'POST', path: '/api/v1/work-requests/abc/complete', who: 'worker', body: { result: 'success' }, status: 400, code: 'bad_request', issue: 'id' }],
  ['malformed percent-encoding in the id', { method: 'GET', path: '/api/v1/work-requests/%E0%A4%A', who: 'client', status: 400, code: 'bad_request' }],

  // Size
  ['body over 1 MiB', { ...CREATE, raw: JSON.stringify(spec({ user_metadata: { pad: 'x'.repeat(1024 * 1024 + 10) } })), status: 413, code: 'payload_too_large' }],
];

function tokenOf(who: Who): string {
  return { client: server.clientToken, worker: worker.token, enrollment: server.enrollmentToken, admin: server.adminToken }[who];
}

async function send(testCase: BadCase): Promise<ApiResponse<ErrorResponse>> {
  return server.request(testCase.method, testCase.path.replace(':running', String(runningId)), {
    token: tokenOf(testCase.who),
    body: testCase.raw === undefined ? testCase.body : undefined,
    rawBody: testCase.raw,
    contentType: testCase.contentType,
  });
}

test.each(cases)('%s → rejected, names the field, writes nothing', async (_name, testCase) => {
  const before = await server.countAll();
  const answer = await send(testCase);
  const error = answer.body?.error;
  expect({ status: answer.status, code: error?.code }).toEqual({ status: testCase.status, code: testCase.code });
  expect(typeof error.message).toBe('string');
  if (testCase.issue !== undefined) {
    const paths: string[] = (error.issues ?? []).map((issue: { path: string }) => issue.path);
    const named = testCase.issue.endsWith('[') || testCase.issue.endsWith('.')
      ? paths.some((path) => path.startsWith(testCase.issue!))
      : paths.includes(testCase.issue);
    expect({ paths, named }).toEqual({ paths, named: true });
  }
  expect(await server.countAll()).toEqual(before);
});

test('the request used by the worker-route cases is untouched', async () => {
  const request = await server.getWorkRequest(runningId);
  expect(request).toMatchObject({ status: 'running', result: null, output_data: null, worker: { id: worker.id } });
  expect(await server.countRows('log_chunk')).toBe(0);
});

test('a body just under 1 MiB is accepted (the 413 above is about size, not about user_metadata)', async () => {
  const answer = await server.request<WorkRequest>('POST', '/api/v1/work-requests', {
    token: server.clientToken,
    body: spec({ user_metadata: { pad: 'x'.repeat(1000 * 1000) } }),
  });
  expectStatus(answer, 201, 'large but allowed body');
  expect((await server.getWorkRequest(answer.body.id)).user_metadata.pad).toHaveLength(1000 * 1000);
  expectStatus(await server.request('POST', `/api/v1/work-requests/${answer.body.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
});

/**
 * NUL characters are valid JSON ("\u0000") but PostgreSQL refuses them in text and jsonb. A program's output
 * may well contain one; whatever the server decides (refuse with 400, or store the text without it), it must
 * not answer 500, and a 400 must write nothing.
 */
test.each<[string, BadCase]>([
  ['user_metadata with a NUL character', { ...CREATE, body: spec({ user_metadata: { note: 'a\u0000b' } }), status: 0, code: '' }],
  ['execution args with a NUL character', { ...CREATE, body: spec({ execution: { executable: '/bin/echo', args: ['a\u0000b'] } }), status: 0, code: '' }],
  [
    'a log entry with a NUL character',
    { method: 'POST', path: '/api/v1/work-requests/:running/logs', who: 'worker', body: { entries: [logEntry({ seq: 100, text: 'bin\u0000ary\n' })] }, status: 0, code: '' },
  ],
])('%s never answers 500', async (_name, testCase) => {
  const before = await server.countAll();
  const answer = await send(testCase);
  expect({ status: answer.status, body: answer.body }).not.toMatchObject({ status: 500 });
  expect(answer.status).toBeLessThan(500);
  if (answer.status >= 400) expect(await server.countAll()).toEqual(before);
});


test('free JSON 64 levels deep is accepted and stored as sent', async () => {
  // user_metadata is the first of the 64 levels (65 is refused above).
  const answer = await server.request<WorkRequest>('POST', '/api/v1/work-requests', { token: server.clientToken, rawBody: specWith('user_metadata', nested(64)) });
  expectStatus(answer, 201, '64 levels');
  let depth = 1;
  let value: unknown = (await server.getWorkRequest(answer.body.id)).user_metadata.a;
  for (; typeof value === 'object'; value = (value as { a: unknown }).a) depth += 1;
  expect(depth).toBe(64);
  expectStatus(await server.request('POST', `/api/v1/work-requests/${answer.body.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
});

test('a claim with no body at all is a claim with the defaults (its body is optional)', async () => {
  const answer = await server.request<{ work_requests: unknown[] }>('POST', '/api/v1/workers/claim', { token: worker.token });
  expectStatus(answer, 200, 'claim without a body');
  expect(answer.body.work_requests).toEqual([]);
});
