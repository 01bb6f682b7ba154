import { z } from 'zod';
import { errorResponseSchema } from './errors';
import { STATISTICS_ROUTES } from './statistics';
import { taskSpecSchema } from './taskSpec';
import { createTokenRequestSchema, createTokenResponseSchema, healthResponseSchema } from './tokens';
import {
  claimRequestSchema,
  claimResponseSchema,
  completeWorkRequestSchema,
  heartbeatRequestSchema,
  heartbeatResponseSchema,
  postLogsRequestSchema,
  postLogsResponseSchema,
  registerWorkerRequestSchema,
  registerWorkerResponseSchema,
  releaseWorkRequestSchema,
  workerSchema,
} from './workerApi';
import {
  getWorkRequestQuerySchema,
  listWorkRequestsQuerySchema,
  logEntriesQuerySchema,
  logEntriesResponseSchema,
  priorityAdjustmentRequestSchema,
  workRequestListSchema,
  workRequestSchema,
} from './workRequest';

type Role = 'none' | 'enrollment' | 'worker' | 'client' | 'operator' | 'admin';

export interface RouteDescription {
  method: 'get' | 'post';
  path: string;
  summary: string;
  role: Role;
  body?: z.ZodType;
  query?: z.ZodType;
  response: z.ZodType | null;
  status?: number;
}

/** Every route of HTTP API v1, described by the same schemas the server validates with. */
export const API_ROUTES: RouteDescription[] = [
  { method: 'get', path: '/healthz', summary: 'Server and database health', role: 'none', response: healthResponseSchema },
  { method: 'post', path: '/api/v1/workers/register', summary: 'Register a worker; the token is shown once', role: 'enrollment', body: registerWorkerRequestSchema, response: registerWorkerResponseSchema, status: 201 },
  { method: 'post', path: '/api/v1/workers/heartbeat', summary: 'Worker is alive; answers which running requests to stop', role: 'worker', body: heartbeatRequestSchema, response: heartbeatResponseSchema },
  { method: 'post', path: '/api/v1/workers/claim', summary: 'Claim pending requests that fit this worker; long-polls up to wait_s', role: 'worker', body: claimRequestSchema, response: claimResponseSchema },
  { method: 'get', path: '/api/v1/workers', summary: 'Workers with resources and state', role: 'operator', response: z.object({ workers: z.array(workerSchema) }) },
  { method: 'post', path: '/api/v1/work-requests', summary: 'Create a work request from a task spec', role: 'client', body: taskSpecSchema, response: workRequestSchema, status: 201 },
  { method: 'get', path: '/api/v1/work-requests', summary: 'List work requests, newest first, with cursor pagination', role: 'client', query: listWorkRequestsQuerySchema, response: workRequestListSchema },
  { method: 'get', path: '/api/v1/work-requests/{id}', summary: 'One work request with output_data, requirements and state_reason; wait_s long-polls for a change of status', role: 'client', query: getWorkRequestQuerySchema, response: workRequestSchema },
  { method: 'post', path: '/api/v1/work-requests/{id}/cancel', summary: 'Cancel: pending → aborted; running → aborted and its worker kills it', role: 'client', response: workRequestSchema },
  { method: 'post', path: '/api/v1/work-requests/{id}/priority', summary: 'Set the operator priority adjustment', role: 'operator', body: priorityAdjustmentRequestSchema, response: workRequestSchema },
  { method: 'get', path: '/api/v1/work-requests/{id}/logs', summary: 'Log entries; follow=true streams NDJSON until the request ends', role: 'client', query: logEntriesQuerySchema, response: logEntriesResponseSchema },
  { method: 'post', path: '/api/v1/work-requests/{id}/logs', summary: 'Assigned worker posts log entries (idempotent by seq)', role: 'worker', body: postLogsRequestSchema, response: postLogsResponseSchema },
  { method: 'post', path: '/api/v1/work-requests/{id}/complete', summary: 'Assigned worker reports the result (idempotent)', role: 'worker', body: completeWorkRequestSchema, response: workRequestSchema },
  { method: 'post', path: '/api/v1/work-requests/{id}/release', summary: 'Assigned worker hands a running request back (shutdown)', role: 'worker', body: releaseWorkRequestSchema, response: workRequestSchema },
  { method: 'post', path: '/api/v1/tokens', summary: 'Create an API token (shown once, stored hashed)', role: 'admin', body: createTokenRequestSchema, response: createTokenResponseSchema, status: 201 },
  ...STATISTICS_ROUTES,
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', role: 'operator', response: null },
  { method: 'get', path: '/api/v1/openapi.json', summary: 'This OpenAPI description', role: 'none', response: null },
];

type JsonSchema = Record<string, unknown>;

/**
 * The OpenAPI 3.1 description, generated with zod's own JSON Schema output (OpenAPI 3.1 schemas are JSON
 * Schema). Request bodies are described as accepted (input), responses as sent (output).
 */
export function buildOpenApiDocument(routes: RouteDescription[] = API_ROUTES, serverUrl?: string): Record<string, unknown> {
  const components: Record<string, JsonSchema> = {};
  const register = (name: string, schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
    delete json.$schema;
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    delete json.$defs;
    for (const [defName, def] of Object.entries(defs)) components[`${name}_${defName}`] = rewriteRefs(def, name);
    components[name] = rewriteRefs(json, name);
    return { $ref: `#/components/schemas/${name}` };
  };
  const errorRef = register('Error', errorResponseSchema, 'output');
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const base = operationName(route);
    const parameters: unknown[] = [];
    for (const [, name] of route.path.matchAll(/\{([a-z_]+)\}/g)) {
      parameters.push({ name, in: 'path', required: true, schema: name === 'id' ? { type: 'integer', minimum: 1 } : { type: 'string' } });
    }
    if (route.query) {
      const query = z.toJSONSchema(route.query, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, schema });
      }
    }
    const responses: Record<string, unknown> = {
      [String(route.status ?? 200)]: route.response
        ? { description: 'OK', content: { 'application/json': { schema: register(`${base}Response`, route.response, 'output') } } }
        : { description: 'OK' },
    };
    for (const [status, description] of [['400', 'Bad input: error.issues name each field'], ['401', 'Missing or unknown token'], ['403', 'Wrong role'], ['404', 'Not found'], ['409', 'State conflict']]) {
      if (route.role === 'none' && status !== '400') continue;
      responses[status] = { description, content: { 'application/json': { schema: errorRef } } };
    }
    paths[route.path] ??= {};
    paths[route.path][route.method] = {
      operationId: base,
      summary: route.summary,
      description: route.role === 'none' ? 'No token needed.' : `Bearer token with role: ${route.role}${route.role === 'client' ? ' (or operator, admin)' : route.role === 'operator' ? ' (or admin)' : ''}.`,
      ...(route.role === 'none' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: register(`${base}Request`, route.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'worksched HTTP API', version: '1' },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    components: { schemas: components, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}

function operationName(route: RouteDescription): string {
  const words = route.path.replace('/api/v1/', '').split(/[/{}-]+/).filter(Boolean);
  return route.method + words.map((word) => word[0].toUpperCase() + word.slice(1)).join('');
}

function rewriteRefs(schema: JsonSchema, prefix: string): JsonSchema {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/\$defs\/([^"]+)"/g, (_match, name: string) => `"#/components/schemas/${prefix}_${name}"`)) as JsonSchema;
}
