import { z } from 'zod';
import { API_ERRORS } from './apiErrors';
import { errorResponseSchema } from './errors';
import { tokenRolesFor } from './roles';
import { API_ROUTES, openApiPath, type RouteDefinition } from './routes';

type JsonSchema = Record<string, unknown>;

/**
 * The OpenAPI 3.1 description, generated with zod's own JSON Schema output (OpenAPI 3.1 schemas are JSON
 * Schema). Request bodies are described as accepted (input), responses as sent (output).
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[] = Object.values(API_ROUTES), serverUrl?: string): Record<string, unknown> {
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
    const path = openApiPath(route.path);
    const parameters: unknown[] = [];
    for (const [, name] of path.matchAll(/\{([a-z_]+)\}/g)) {
      parameters.push({ name, in: 'path', required: true, schema: name === 'id' ? { type: 'integer', minimum: 1 } : { type: 'string' } });
    }
    if (route.query) {
      const query = z.toJSONSchema(route.query, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, schema });
      }
    }
    const content: Record<string, unknown> = {};
    if (route.response) content['application/json'] = { schema: register(`${base}Response`, route.response, 'output') };
    else if (route.responseType) content[route.responseType] = {};
    if (route.stream) content['application/x-ndjson'] = { schema: register(`${base}StreamItem`, route.stream.item, 'output') };
    const description = [route.responseDescription ?? 'OK', route.stream ? `with ${route.stream.when}: NDJSON, one item per line` : null].filter(Boolean).join('; ');
    const responses: Record<string, unknown> = {
      [String(route.status ?? 200)]: Object.keys(content).length > 0 ? { description, content } : { description },
    };
    for (const [status, text] of ERROR_STATUSES) {
      if (route.role === 'none' && status !== 400) continue;
      responses[String(status)] = { description: text, content: { 'application/json': { schema: errorRef } } };
    }
    const roles = tokenRolesFor(route.role);
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: base,
      summary: route.summary,
      description: roles.length === 0 ? 'No token needed.' : `Bearer token with role: ${roles[0]}${roles.length > 1 ? ` (or ${roles.slice(1).join(', ')})` : ''}.`,
      ...(route.role === 'none' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: !route.bodyOptional, content: { 'application/json': { schema: register(`${base}Request`, route.body, 'input') } } } }
        : {}),
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

/** The error answers every route may give, with the codes of each (protocol/apiErrors.ts). */
const ERROR_STATUSES = ([
  [400, 'Bad input: error.issues name each field'],
  [401, 'Missing or unknown token'],
  [403, 'Wrong role'],
  [404, 'Not found'],
  [409, 'State conflict'],
] as const).map(([status, text]) => {
  const codes = Object.entries(API_ERRORS).filter(([, error]) => error.status === status).map(([code]) => code);
  return [status, `${text} (error.code: ${codes.join(', ')})`] as const;
});

function operationName(route: RouteDefinition): string {
  const path = openApiPath(route.path).replace('/api/v1/', '');
  const words = path === '/' ? ['root'] : path.split(/[/{}-]+/).filter(Boolean);
  return route.method + words.map((word) => word[0].toUpperCase() + word.slice(1)).join('');
}

function rewriteRefs(schema: JsonSchema, prefix: string): JsonSchema {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/\$defs\/([^"]+)"/g, (_match, name: string) => `"#/components/schemas/${prefix}_${name}"`)) as JsonSchema;
}
