/**
 * A fuzzer with a fixed seed over every route of the table that takes a body: valid bodies mutated (wrong types,
 * missing and unknown fields, deep nesting, huge strings and numbers, NUL and lone surrogates, `__proto__` and
 * duplicate keys, broken JSON and bad UTF-8) and sent with the right and with wrong content types. Whatever
 * arrives, the server answers below 500, a body that is not JSON is a 415, and a 4xx writes nothing.
 */
import { API_ROUTES, type RouteDefinition, type RouteName } from '../../protocol/routes';
import { expectStatus, startTestServer, taskSpec, type SimWorker, type TestServer } from '../helpers/server';

const SEED = 0x5eed_2026;
const MUTATIONS_PER_ROUTE = 90;

/** mulberry32: small, fast, and the same sequence on every machine. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = randomFrom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

let server: TestServer;
let worker: SimWorker;
let runningIds: number[] = [];

beforeAll(async () => {
  server = await startTestServer();
  worker = await server.registerWorker({ concurrency: 8 });
  for (let index = 0; index < 4; index += 1) await server.createWorkRequest();
  runningIds = (await worker.claimOk({ max: 4 })).map((item) => item.id);
  expect(runningIds).toHaveLength(4);
});

afterAll(async () => {
  await server?.close();
});

type Who = 'client' | 'worker' | 'enrollment' | 'admin';

const now = () => new Date().toISOString();
let names = 0;
const uniqueName = (prefix: string) => `${prefix}-${process.pid}-${(names += 1)}`;

/** A valid body for each route that takes one, and who may call it. A route added to the table must be added here. */
const VALID_BODIES: Record<string, { who: Who; body: () => unknown }> = {
  registerWorker: {
    who: 'enrollment',
    body: () => ({
      name: uniqueName('fuzz'),
      resources: { cpu_count: 2, total_memory: 1024, available_memory: 1024, available_disk_space: 1024, gpus: [{ model: 'x', memory: 1 }] },
      tags: ['a'],
      concurrency: 2,
      cost_per_hour: 1.5,
    }),
  },
  heartbeat: { who: 'worker', body: () => ({ running: [...runningIds], concurrency: 8, tags: ['t'], cost_per_hour: null }) },
  claim: { who: 'worker', body: () => ({ max: 1, wait_s: 0, results: [{ id: runningIds[0], result: 'success', output_data: {} }] }) },
  completeBatch: {
    who: 'worker',
    body: () => ({ results: [{ id: pick(runningIds), result: 'failure', output_data: { errors: [{ message: 'm', code: 'exit_code', exit_code: 1, detail: { a: [1] } }] } }] }),
  },
  createWorkRequest: { who: 'client', body: () => taskSpec({ user_metadata: { a: { b: [1, 'x', null, true] } }, resources: { memory: '1 GiB', tags: ['t'] } }) },
  createWorkRequests: { who: 'client', body: () => ({ work_requests: [taskSpec({ user_metadata: { n: 1 } }), taskSpec()] }) },
  adjustPriority: { who: 'admin', body: () => ({ priority_adjustment: 5 }) },
  postLogs: { who: 'worker', body: () => ({ entries: [{ seq: Math.floor(random() * 1000), ts: now(), stream: 'stdout', text: 'line\n' }] }) },
  completeWorkRequest: {
    who: 'worker',
    body: () => ({ result: 'success', output_data: { runtime_statistics: { duration: 1, memory: 2 }, result: { value: [1, 2] }, skip_reason: 's' } }),
  },
  releaseWorkRequest: { who: 'worker', body: () => ({ reason: 'shutdown', output_data: {} }) },
  createToken: { who: 'admin', body: () => ({ role: 'client', name: 'fuzz' }) },
  createWorkflow: {
    who: 'client',
    body: () => ({
      workflow_id: uniqueName('fuzz'),
      user_metadata: { owner: 'fuzz' },
      tasks: [{ task_id: 'a', ...taskSpec() }, { task_id: 'b', depends_on: ['a'], allow_failure: true, ...taskSpec() }],
    }),
  },
  addWorkflowTasks: { who: 'client', body: () => ({ tasks: [{ task_id: uniqueName('t'), ...taskSpec() }] }) },
  resumeAllWorkflows: { who: 'client', body: () => ({ include_failed: true }) },
  createSchedule: { who: 'client', body: () => ({ name: uniqueName('fuzz'), trigger: { every: '1h' }, spec: taskSpec(), overlap: 'skip', enabled: false }) },
};

const ROUTES_WITH_BODY = (Object.entries(API_ROUTES) as Array<[RouteName, RouteDefinition]>).filter(([, route]) => route.body !== undefined);

function tokenOf(who: Who): string {
  return { client: server.clientToken, worker: worker.token, enrollment: server.enrollmentToken, admin: server.adminToken }[who];
}

function pathOf(route: RouteDefinition): string {
  return route.path.replace(':id', String(pick([...runningIds, ...runningIds, 999_999_999])));
}

/**
 * Deep nesting is spliced in as text (JSON.stringify itself recurses and would overflow on 10,000 levels): the
 * value holds a placeholder string that json() replaces.
 */
const deepValues = new Map<string, string>();
function deep(levels: number, inner: unknown, asArray: boolean): unknown {
  const placeholder = `__deep_${deepValues.size}__`;
  const innerText = JSON.stringify(inner) ?? 'null';
  deepValues.set(placeholder, asArray ? `${'['.repeat(levels)}${innerText}${']'.repeat(levels)}` : `${'{"d":'.repeat(levels)}${innerText}${'}'.repeat(levels)}`);
  return placeholder;
}

const WEIRD_VALUES: Array<() => unknown> = [
  () => null,
  () => true,
  () => 0,
  () => -1,
  () => 1,
  () => 1.5,
  () => 2 ** 31,
  () => 2 ** 53 + 2,
  () => 1e21,
  () => 1e308,
  () => '',
  () => 'x',
  () => 'a\u0000b',
  () => 'a\ud800b',
  () => '\udc00',
  () => '1 GiB',
  () => '2026-13-45T99:00:00Z',
  () => 'x'.repeat(20_000),
  () => [],
  () => {},
  () => [null],
  () => ({ nested: { x: [1, { y: 'z' }] } }),
  () => deep(pick([63, 65, 200, 10_000]), 1, random() < 0.5),
];

type JsonPath = Array<string | number>;

/** Every place in `value` a mutation may touch (the root included). */
function pathsIn(value: unknown, path: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(path);
  if (Array.isArray(value)) value.forEach((item, index) => pathsIn(item, [...path, index], out));
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) pathsIn(item, [...path, key], out);
  return out;
}

function setAt(root: unknown, path: JsonPath, make: (old: unknown) => unknown): unknown {
  if (path.length === 0) {
    const replaced = make(root);
    return replaced === DELETE ? undefined : replaced;
  }
  let parent = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  const replaced = make(parent[last]);
  if (replaced === DELETE) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    parent[last] = replaced;
  }
  return root;
}
const DELETE = Symbol('delete');

interface Sent {
  what: string;
  body: Buffer | undefined;
  contentType: string | undefined;
  /** The status this case must get, when it is known whatever the server's state. */
  expect?: number;
}

const json = (value: unknown) => Buffer.from(stringify(value));
const stringify = (value: unknown) => (JSON.stringify(value) ?? '').replace(/"(__deep_\d+__)"/g, (_match, placeholder: string) => deepValues.get(placeholder)!);

/** One mutated request for a route: most mutate the value, some the JSON text, some the content type. */
function mutate(valid: unknown): Sent {
  const body = structuredClone(valid);
  const paths = pathsIn(body);
  const kind = random();
  if (kind < 0.4) {
    const path = pick(paths);
    return { what: `set ${path.join('.')}`, body: json(setAt(body, path, () => pick(WEIRD_VALUES)())), contentType: 'application/json' };
  }
  if (kind < 0.5) {
    const path = pick(paths.filter((candidate) => candidate.length > 0));
    return { what: `delete ${path.join('.')}`, body: json(setAt(body, path, () => DELETE)), contentType: 'application/json' };
  }
  if (kind < 0.6) {
    const objects = paths.filter((candidate) => {
      const value = candidate.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], body);
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    });
    const path = pick(objects);
    const key = pick(['unknown_field', 'colour', '', '__proto__', 'constructor', 'x'.repeat(300)]);
    const value = pick(WEIRD_VALUES)();
    // A computed key: even "__proto__" becomes an own key (and so a key in the JSON), not a prototype.
    setAt(body, path, (old) => ({ ...(old as object), [key]: value }));
    return { what: `add key ${JSON.stringify(key.slice(0, 20))} at ${path.join('.')}`, body: json(body), contentType: 'application/json' };
  }
  if (kind < 0.7) {
    const path = pick(paths);
    const levels = pick([64, 65, 1000, 10_000]);
    return { what: `nest ${path.join('.')} ${levels} levels`, body: json(setAt(body, path, (old) => deep(levels, old, random() < 0.5))), contentType: 'application/json' };
  }
  if (kind < 0.75) {
    const path = pick(paths);
    const size = pick([100_000, 900_000, 1_100_000]);
    return { what: `string of ${size} at ${path.join('.')}`, body: json(setAt(body, path, () => 'y'.repeat(size))), contentType: 'application/json' };
  }
  const text = stringify(body);
  const raw: Array<() => Sent> = [
    () => ({ what: 'truncated JSON', body: Buffer.from(text.slice(0, Math.floor(random() * text.length))), contentType: 'application/json', expect: 400 }),
    () => ({ what: 'trailing garbage', body: Buffer.from(`${text}}`), contentType: 'application/json', expect: 400 }),
    () => ({ what: 'duplicate keys', body: Buffer.from(text.replace(/^\{("[^"]+"):/, '{$1:[],$1:')), contentType: 'application/json' }),
    () => ({ what: '__proto__ at the top', body: Buffer.from(`{"__proto__":{"role":"admin"},${text.slice(1)}`), contentType: 'application/json' }),
    () => ({ what: 'a number of 400 digits', body: Buffer.from(text.replace(/:(\d+)/, `:1${'0'.repeat(400)}`)), contentType: 'application/json' }),
    () => ({ what: '1e400', body: Buffer.from(text.replace(/:(\d+)/, ':1e400')), contentType: 'application/json' }),
    () => ({ what: 'bad UTF-8 in a string', body: Buffer.concat([Buffer.from(text.slice(0, -2)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(text.slice(-2))]), contentType: 'application/json' }),
    () => ({ what: 'UTF-16 body', body: Buffer.from(text, 'utf16le'), contentType: 'application/json', expect: 400 }),
    () => ({ what: 'a BOM first', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), contentType: 'application/json' }),
    () => ({ what: 'JSON null', body: Buffer.from('null'), contentType: 'application/json', expect: 400 }),
    () => ({ what: 'a JSON string', body: Buffer.from('"x"'), contentType: 'application/json', expect: 400 }),
    () => ({ what: 'a JSON array of the body', body: Buffer.from(`[${text}]`), contentType: 'application/json', expect: 400 }),
    () => ({ what: 'charset latin1', body: Buffer.from(text), contentType: 'application/json; charset=latin1', expect: 415 }),
    () => ({ what: 'text/plain', body: Buffer.from(text), contentType: 'text/plain', expect: 415 }),
    () => ({ what: 'form-encoded', body: Buffer.from('max=0&wait_s=0'), contentType: 'application/x-www-form-urlencoded', expect: 415 }),
    () => ({ what: 'no content type', body: Buffer.from(text), contentType: undefined, expect: 415 }),
    () => ({ what: '*/*', body: Buffer.from(text), contentType: '*/*', expect: 415 }),
    () => ({ what: 'multipart', body: Buffer.from(`--b\r\n\r\n${text}\r\n--b--`), contentType: 'multipart/form-data; boundary=b', expect: 415 }),
    () => ({ what: 'application/xml', body: Buffer.from('<max>0</max>'), contentType: 'application/xml', expect: 415 }),
  ];
  return pick(raw)();
}

async function send(method: string, urlPath: string, token: string, sent: Sent): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (sent.contentType !== undefined) headers['content-type'] = sent.contentType;
  // A Buffer body gets no content type from fetch itself (a string would get text/plain).
  const response = await fetch(server.url + urlPath, { method, headers, body: sent.body });
  return { status: response.status, text: await response.text() };
}

/** What a request may change: row counts, and the fields of work requests and workers that bodies set. */
async function fingerprint(): Promise<unknown> {
  const [row] = await server.sql(`
    select (select count(*) from work_request) as work_requests,
           (select count(*) from worker) as workers,
           (select count(*) from api_token) as tokens,
           (select count(*) from log_chunk) as log_chunks,
           (select count(*) from schedule) as schedules,
           (select md5(coalesce(string_agg(concat_ws('|', id, status, result, priority_adjustment, worker_id, attempt, output_data::text), ',' order by id), ''))
              from work_request) as work_request_state,
           (select md5(coalesce(string_agg(concat_ws('|', id, enabled, resources::text, tags::text, concurrency, cost_per_hour), ',' order by id), ''))
              from worker) as worker_state`);
  return row;
}

test('every route with a body is fuzzed (a new route needs a valid body here)', () => {
  expect(ROUTES_WITH_BODY.map(([name]) => name).sort()).toEqual(Object.keys(VALID_BODIES).sort());
});

test(`${MUTATIONS_PER_ROUTE} mutated bodies per route (seed ${SEED}): never 5xx, 415 for non-JSON, nothing written on 4xx`, async () => {
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (const [name, route] of ROUTES_WITH_BODY) {
    const { who, body } = VALID_BODIES[name];
    for (let index = 0; index < MUTATIONS_PER_ROUTE; index += 1) {
      const sent = mutate(body());
      const before = await fingerprint();
      const answer = await send(route.method.toUpperCase(), pathOf(route), tokenOf(who), sent);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const where = `${name} #${index} (${sent.what}, ${sent.contentType ?? 'no content type'})`;
      if (answer.status >= 500) failures.push(`${where}: ${answer.status} ${answer.text.slice(0, 300)}`);
      else if (sent.expect !== undefined && answer.status !== sent.expect) failures.push(`${where}: expected ${sent.expect}, got ${answer.status} ${answer.text.slice(0, 200)}`);
      if (answer.status >= 400 && answer.status < 500) {
        const after = await fingerprint();
        if (JSON.stringify(after) !== JSON.stringify(before)) failures.push(`${where}: ${answer.status} but the database changed`);
      }
    }
  }
  process.stdout.write(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}\n`);
  expect(failures).toEqual([]);
  // The fuzz reached the handlers too, not only the parsers.
  expect([...statuses.keys()].some((status) => status < 300)).toBe(true);
}, 120_000);

test('the server is still healthy and serves a valid request after the fuzz', async () => {
  expectStatus(await server.request('GET', '/healthz'), 200, 'health');
  await server.createWorkRequest();
});
