/**
 * The protocol's route table is what the server mounts and what OpenAPI describes: every route on the real
 * app's router is in the table and in GET /api/v1/openapi.json, and nothing else is; the answers are checked
 * against their schemas (the test server turns that on), and a mismatching answer fails loudly.
 */
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorResponse } from '../../protocol/errors';
import { API_ROUTES, openApiPath, type RouteDefinition } from '../../protocol/routes';
import type { TokenAuthenticator } from '../../server/auth';
import { createLogger } from '../../common/logger';
import { errorMiddleware } from '../../server/errors';
import { ANSWERED, mountRoutes, type RouteHandlers } from '../../server/routes/mountRoutes';
import { mountedRoutes } from '../helpers/mountedRoutes';
import { httpRequest, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const tableRoutes = (): RouteDefinition[] => Object.values(API_ROUTES);

test('every route mounted on the real app is in the table, once, and every table route is mounted', () => {
  const mounted = mountedRoutes(server.server.app);
  const table = tableRoutes().map((route) => `${route.method} ${route.path}`);
  expect(new Set(table).size).toBe(table.length);
  expect([...mounted].sort()).toEqual([...table].sort());
});

test('the OpenAPI document describes exactly the routes of the table', async () => {
  const answer = await httpRequest<{ paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>> }>(server.url, 'GET', '/api/v1/openapi.json');
  expect(answer.status).toBe(200);
  const described = Object.entries(answer.body.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`));
  const table = tableRoutes().map((route) => `${route.method} ${openApiPath(route.path)}`);
  expect(described.sort()).toEqual(table.sort());
  for (const route of tableRoutes()) {
    const operation = answer.body.paths[openApiPath(route.path)][route.method];
    // Routes without a role say so (no security); the others use the document's bearer scheme.
    expect({ path: route.path, open: operation.security?.length === 0 }).toEqual({ path: route.path, open: route.role === 'none' });
  }
});

test('the routes that need no token answer without one', async () => {
  for (const route of tableRoutes().filter((item) => item.role === 'none')) {
    const answer = await httpRequest(server.url, route.method.toUpperCase(), route.path);
    expect({ path: route.path, status: answer.status }).toEqual({ path: route.path, status: route.status ?? 200 });
  }
});

test('with response checks on, an answer that does not match its schema is a 500 naming the field', async () => {
  const handlers = new Proxy({} as RouteHandlers, {
    get: (_target, name) => (name === 'health' ? () => Promise.resolve({ status: 'fine', database: 'ok' }) : () => Promise.resolve(ANSWERED)),
  });
  const app = express();
  mountRoutes(app, {} as TokenAuthenticator, handlers, { validateResponses: true });
  app.use(errorMiddleware(createLogger({ level: 'silent' })));
  const listener = http.createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => listener.once('listening', resolve));
  try {
    const answer = await httpRequest<ErrorResponse>(`http://127.0.0.1:${(listener.address() as AddressInfo).port}`, 'GET', '/healthz');
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('response_invalid');
    expect(answer.body.error.issues?.map((issue) => issue.path)).toEqual(['status']);
  } finally {
    listener.closeAllConnections();
    await new Promise((resolve) => listener.close(resolve));
  }
});
