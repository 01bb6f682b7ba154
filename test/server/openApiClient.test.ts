/**
 * GET /api/v1/openapi.json is usable by real tools: a real validator (@seriousme/openapi-schema-validator)
 * accepts it, every route mounted on the server is in it, every $ref resolves, shared shapes are named
 * components referenced from the routes, and a client generated with openapi-typescript compiles under
 * `tsc --strict` together with code that uses its types the way an SDK user would.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApiPath } from '../../protocol/routes';
import { mountedRoutes } from '../helpers/mountedRoutes';
import { expectStatus, httpRequest, startTestServer, type TestServer } from '../helpers/server';
import { REPO_ROOT } from '../helpers/workerProcess';

jest.setTimeout(120_000);

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; requestBody?: unknown; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
}

let server: TestServer;
let document: OpenApiDocument;
let text: string;
let scratch: string;

beforeAll(async () => {
  server = await startTestServer();
  const answer = expectStatus(await httpRequest<OpenApiDocument>(server.url, 'GET', '/api/v1/openapi.json'), 200, 'openapi.json');
  document = answer.body;
  text = answer.text;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-openapi-'));
});

afterAll(async () => {
  await server?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function run(command: string, args: string[], input?: string, cwd = REPO_ROOT): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input ?? '');
  });
}

/** Both tools are ES modules: run them in their own node process, as a user would. */
const VALIDATE = `
import { Validator } from '@seriousme/openapi-schema-validator';
let text = '';
for await (const chunk of process.stdin) text += chunk;
const validator = new Validator();
const result = await validator.validate(JSON.parse(text));
process.stdout.write(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors ?? null }));
`;

test('a real OpenAPI validator accepts the document as OpenAPI 3.1', async () => {
  const result = await run(process.execPath, ['--input-type=module', '-e', VALIDATE], text);
  expect(result.code).toBe(0);
  expect(JSON.parse(result.output)).toEqual({ valid: true, version: '3.1', errors: null });
});

test('every route mounted on the server is described, and nothing else', () => {
  const mounted = mountedRoutes(server.server.app).map((route) => {
    const [method, routePath] = route.split(' ');
    return `${method} ${openApiPath(routePath)}`;
  });
  const described = Object.entries(document.paths).flatMap(([routePath, operations]) => Object.keys(operations).map((method) => `${method} ${routePath}`));
  expect(described.sort()).toEqual(mounted.sort());
});

test('every $ref resolves to a component, and shared shapes are named once and referenced', () => {
  const refs = [...text.matchAll(/"\$ref":"([^"]+)"/g)].map((match) => match[1]);
  const broken = [...new Set(refs)].filter((ref) => !ref.startsWith('#/components/schemas/') || !(ref.slice('#/components/schemas/'.length) in document.components.schemas));
  expect(broken).toEqual([]);
  const names = Object.keys(document.components.schemas);
  expect(names).toEqual(expect.arrayContaining(['WorkRequest', 'Worker', 'TaskSpec', 'OutputData', 'JsonValue', 'Error', 'Execution', 'ExecutionInput', 'LogEntry']));
  // No per-route copies: every component is a named shape (route-prefixed names are copies of unnamed cycles).
  expect(names.filter((name) => !/^[A-Z][A-Za-z]*$/.test(name))).toEqual([]);
  const schemaOf = (method: string, routePath: string, status: string) => document.paths[routePath][method].responses[status].content?.['application/json']?.schema;
  expect(schemaOf('get', '/api/v1/work-requests/{id}', '200')).toEqual({ $ref: '#/components/schemas/WorkRequest' });
  // A single_file_task spec answers the workflow it expanded into instead of one request.
  expect(schemaOf('post', '/api/v1/work-requests', '201')).toEqual({ anyOf: [{ $ref: '#/components/schemas/WorkRequest' }, { $ref: '#/components/schemas/FileExpansion' }] });
  expect(schemaOf('post', '/api/v1/work-requests', '404')).toEqual({ $ref: '#/components/schemas/Error' });
  expect(document.paths['/api/v1/work-requests'].post.requestBody).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/TaskSpec' } } } });
  // The free JSON of user_metadata and output_data.result is the one JsonValue.
  expect(text.match(/"#\/components\/schemas\/JsonValue"/g)?.length).toBeGreaterThanOrEqual(3);
});

/** Code an SDK user would write against the generated types: it must type-check, with the right types. */
const CONSUMER = `
import type { components, paths } from './api';
type Schemas = components['schemas'];
type Created = paths['/api/v1/work-requests']['post']['responses'][201]['content']['application/json'];
type Spec = paths['/api/v1/work-requests']['post']['requestBody']['content']['application/json'];
type Listed = paths['/api/v1/work-requests']['get']['responses'][200]['content']['application/json'];
type Failure = paths['/api/v1/work-requests/{id}/cancel']['post']['responses'][409]['content']['application/json'];

export function describe(created: Created): string {
  if ('work_requests' in created) return \`\${created.workflow_id}: \${created.work_requests.join(',')}\`;
  const request: Schemas['WorkRequest'] = created;
  const status: 'blocked' | 'pending' | 'running' | 'completed' | 'aborted' = request.status;
  const output: Schemas['OutputData'] | null = request.output_data;
  const memory: number | undefined = output?.runtime_statistics?.memory;
  const firstError: string | undefined = output?.errors?.[0]?.code;
  return [request.id, request.task_name, status, memory, firstError].join(' ');
}
export const spec: Spec = {
  task_name: 'resize',
  execution: { executable: '/usr/bin/convert', args: ['a.png'] },
  resources: { memory: '2GiB', cpu: 2 },
  user_metadata: { ticket: 'OPS-12', nested: { list: [1, 'two', null, { deep: true }] } },
};
export const metadata: Schemas['JsonValue'] = { a: [1, [2, [3]]], b: { c: 'd' } };
export const pages = (listed: Listed): number[] => listed.work_requests.map((item: Schemas['WorkRequest']) => item.id);
export const reason = (answer: Failure): string => \`\${answer.error.code}: \${answer.error.message}\`;
export const workers = (answer: paths['/api/v1/workers']['get']['responses'][200]['content']['application/json']): Array<Schemas['Worker']['state']> =>
  answer.workers.map((worker) => worker.state);
`;

test('a client generated with openapi-typescript compiles under tsc --strict, and its types fit', async () => {
  const specFile = path.join(scratch, 'openapi.json');
  fs.writeFileSync(specFile, text);
  const generated = await run(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'), specFile, '--output', path.join(scratch, 'api.ts')]);
  expect({ code: generated.code, output: generated.code === 0 ? '' : generated.output }).toEqual({ code: 0, output: '' });
  fs.writeFileSync(path.join(scratch, 'consumer.ts'), CONSUMER);
  const tsc = require.resolve('typescript/bin/tsc');
  // In the scratch directory, as a project of its own: none of this repository's @types get loaded.
  const compiled = await run(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'commonjs', '--skipLibCheck', 'api.ts', 'consumer.ts'], undefined, scratch);
  expect(compiled).toEqual({ code: 0, output: '' });
});

test('a client that has the document revalidates it: the same ETag answers 304 without a body', async () => {
  const first = expectStatus(await httpRequest(server!.url, 'GET', '/api/v1/openapi.json'), 200, 'openapi.json');
  const etag = first.headers.get('etag');
  expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
  expect(first.headers.get('cache-control')).toBe('no-cache');
  const again = await httpRequest(server!.url, 'GET', '/api/v1/openapi.json', { headers: { 'if-none-match': etag! } });
  expect({ status: again.status, text: again.text }).toEqual({ status: 304, text: '' });
  expect(first.text).toBe(text);
});
