import { z } from 'zod';
import { API_ERRORS } from './apiErrors';
import { registerApiComponents } from './apiComponents';
import { errorResponseSchema } from './errors';
import { tokenRolesFor } from './roles';
import { API_ROUTES, idParamsSchema, openApiPath, type RouteDefinition } from './routes';

type JsonSchema = Record<string, unknown>;
type Io = 'input' | 'output';

/**
 * The OpenAPI 3.1 description, generated with zod's own JSON Schema output (OpenAPI 3.1 schemas are JSON
 * Schema). Request bodies are described as accepted (input), responses as sent (output). Shared shapes are
 * components named once (protocol/apiComponents.ts) and referenced; everything else is inline in its route.
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[] = Object.values(API_ROUTES), serverUrl?: string): Record<string, unknown> {
  registerApiComponents();
  const components = new ComponentCollector();
  const errorRef = components.convert(errorResponseSchema, 'output', 'Error');
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const base = operationName(route);
    const path = openApiPath(route.path);
    const parameters: unknown[] = [];
    for (const [, name] of path.matchAll(/\{([a-z_]+)\}/g)) {
      parameters.push({ name, in: 'path', required: true, schema: name === 'id' && route.params === idParamsSchema ? { type: 'integer', minimum: 1 } : { type: 'string' } });
    }
    if (route.query) {
      const query = components.convert(route.query, 'input', `${base}Query`, { keepDefaults: true }) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, schema });
      }
    }
    const content: Record<string, unknown> = {};
    if (route.response) content['application/json'] = { schema: components.convert(route.response, 'output', `${base}Response`) };
    else if (route.responseType) content[route.responseType] = {};
    if (route.stream) content['application/x-ndjson'] = { schema: components.convert(route.stream.item, 'output', `${base}StreamItem`) };
    const description = [route.responseDescription ?? 'OK', route.stream ? `with ${route.stream.when}: NDJSON, one item per line` : null].filter(Boolean).join('; ');
    const responses: Record<string, unknown> = {
      [String(route.status ?? 200)]: Object.keys(content).length > 0 ? { description, content } : { description },
    };
    for (const [status, text] of ERROR_STATUSES) {
      if (status === 415 ? !route.body : route.role === 'none' && status !== 400 && status !== 503) continue;
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
        ? { requestBody: { required: !route.bodyOptional, content: { 'application/json': { schema: components.convert(route.body, 'input', `${base}Request`) } } } }
        : {}),
      responses,
    };
  }
  const { schemas, resolve } = components.finish();
  return resolve({
    openapi: '3.1.0',
    info: { title: 'worksched HTTP API', version: '1' },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  });
}

export const JSON_VALUE_COMPONENT = 'JsonValue';

/**
 * Any JSON value. Array items are left open (any JSON value, which is what they are) rather than referring
 * back to JsonValue: a type that refers to itself through an array does not compile in the TypeScript that
 * openapi-typescript generates (TS2502), while one through an object does.
 */
const JSON_VALUE_SCHEMA: JsonSchema = {
  description: 'Any JSON value',
  anyOf: [
    { type: 'string' },
    { type: 'number' },
    { type: 'boolean' },
    { type: 'null' },
    { type: 'array', items: {} },
    { type: 'object', additionalProperties: { $ref: `#/components/schemas/${JSON_VALUE_COMPONENT}` } },
  ],
};

/** zod's JSON Schema of z.json() with its self-reference as "#": how a free JSON field shows up among the $defs. */
const ZOD_JSON_SHAPE = (() => {
  const json = z.toJSONSchema(z.json(), { target: 'draft-2020-12' }) as JsonSchema;
  delete json.$schema;
  return JSON.stringify(json);
})();

function defaultInWords(schema: JsonSchema): void {
  if (!('default' in schema)) return;
  const said = `Default: ${JSON.stringify(schema.default)}.`;
  schema.description = typeof schema.description === 'string' ? `${schema.description} ${said}` : said;
  delete schema.default;
}

/** How zod names a $def it had to make for a cycle without an id; every other $def is a registered id. */
const ANONYMOUS_DEF = /^__schema\d+$/;

const PLACEHOLDER = /"#\/components\/schemas\/@@(input|output):([^"]+)"/g;
const placeholder = (io: Io, id: string) => `#/components/schemas/@@${io}:${id}`;

/**
 * Converts schemas one at a time, lifting the $defs zod makes for named schemas (ids in zod's registry) into
 * components. Until `finish`, a reference says which reading (input or output) it wants; `finish` then names
 * each shape once, or twice (`Name`, `NameInput`) where the two readings differ.
 */
class ComponentCollector {
  /** id → its JSON text per reading, references still as placeholders. */
  private readonly named = new Map<string, Partial<Record<Io, string>>>();
  /** Cyclic schemas without an id (none today besides free JSON), named after where they first occur. */
  private readonly anonymous = new Map<string, JsonSchema>();
  private usesJsonValue = false;

  convert(schema: z.ZodType, io: Io, where: string, options: { keepDefaults?: boolean } = {}): JsonSchema {
    const json = z.toJSONSchema(schema, {
      io,
      unrepresentable: 'any',
      target: 'draft-2020-12',
      // openapi-typescript (by default) makes a property with a `default` required, even in a request body: a
      // client would have to send every defaulted field. In what a client sends, the default is said in words.
      override: io === 'input' && !options.keepDefaults ? ({ jsonSchema }) => defaultInWords(jsonSchema) : undefined,
    }) as JsonSchema;
    delete json.$schema;
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    delete json.$defs;
    const targets = new Map<string, string>();
    for (const [name, def] of Object.entries(defs)) {
      if (name === JSON_VALUE_COMPONENT || JSON.stringify(def).replaceAll(`"#/$defs/${name}"`, '"#"') === ZOD_JSON_SHAPE) {
        this.usesJsonValue = true;
        targets.set(name, `#/components/schemas/${JSON_VALUE_COMPONENT}`);
      } else if (!ANONYMOUS_DEF.test(name)) {
        targets.set(name, placeholder(io, name));
      } else {
        targets.set(name, `#/components/schemas/${where}_${name.replace(/^_+/, '')}`);
      }
    }
    const rewrite = (value: JsonSchema): JsonSchema =>
      JSON.parse(JSON.stringify(value).replace(/"#\/\$defs\/([^"]+)"/g, (_match, name: string) => JSON.stringify(targets.get(name)))) as JsonSchema;
    for (const [name, def] of Object.entries(defs)) {
      const target = targets.get(name)!;
      if (target.includes('/@@')) {
        const text = JSON.stringify(rewrite(def));
        const readings = this.named.get(name) ?? {};
        if (readings[io] !== undefined && readings[io] !== text) throw new Error(`two different schemas are named ${JSON.stringify(name)}`);
        readings[io] = text;
        this.named.set(name, readings);
      } else if (!target.endsWith(`/${JSON_VALUE_COMPONENT}`)) {
        this.anonymous.set(target.slice('#/components/schemas/'.length), rewrite(def));
      }
    }
    return rewrite(json);
  }

  /** The components, and a function that turns every placeholder of a document into its final reference. */
  finish(): { schemas: Record<string, JsonSchema>; resolve: <T>(document: T) => T } {
    // A shape read the same both ways is one component, unless it refers to one that is not (fixpoint).
    const split = new Set<string>();
    const nameOf = (io: Io, id: string) => (io === 'input' && split.has(id) ? `${id}Input` : id);
    const resolveText = (text: string) => text.replace(PLACEHOLDER, (_match, io: Io, id: string) => JSON.stringify(`#/components/schemas/${nameOf(io, id)}`));
    for (let changed = true; changed; ) {
      changed = false;
      for (const [id, readings] of this.named) {
        if (split.has(id) || readings.input === undefined || readings.output === undefined) continue;
        if (resolveText(readings.input) !== resolveText(readings.output)) {
          split.add(id);
          changed = true;
        }
      }
    }
    const schemas: Record<string, JsonSchema> = {};
    const add = (name: string, schema: JsonSchema) => {
      if (schemas[name]) throw new Error(`two components are named ${JSON.stringify(name)}`);
      schemas[name] = schema;
    };
    for (const [id, readings] of [...this.named].sort(([a], [b]) => a.localeCompare(b))) {
      const output = readings.output ?? readings.input!;
      add(id, JSON.parse(resolveText(output)) as JsonSchema);
      if (split.has(id)) add(`${id}Input`, JSON.parse(resolveText(readings.input!)) as JsonSchema);
    }
    if (this.usesJsonValue) add(JSON_VALUE_COMPONENT, JSON_VALUE_SCHEMA);
    for (const [name, schema] of this.anonymous) add(name, JSON.parse(resolveText(JSON.stringify(schema))) as JsonSchema);
    return { schemas, resolve: <T>(document: T) => JSON.parse(resolveText(JSON.stringify(document))) as T };
  }
}

/** The error answers every route may give, with the codes of each (protocol/apiErrors.ts). */
const ERROR_STATUSES = ([
  [400, 'Bad input: error.issues name each field'],
  [401, 'Missing or unknown token'],
  [403, 'Wrong role'],
  [404, 'Not found'],
  [409, 'State conflict'],
  [415, 'The body is not application/json'],
  [429, 'Too many requests (queue full, or the rate limit): try again later'],
  [503, 'The database is unreachable or too slow, or rolled the change back to break a deadlock; retry later'],
] as const).map(([status, text]) => {
  const codes = Object.entries(API_ERRORS).filter(([, error]) => error.status === status).map(([code]) => code);
  return [status, `${text} (error.code: ${codes.join(', ')})`] as const;
});

function operationName(route: RouteDefinition): string {
  const path = openApiPath(route.path).replace('/api/v1/', '');
  const words = path === '/' ? ['root'] : path.split(/[/{}-]+/).filter(Boolean);
  return route.method + words.map((word) => word[0].toUpperCase() + word.slice(1)).join('');
}
