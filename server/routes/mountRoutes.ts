import type { Express, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { API_ROUTES, type ApiRoutes, type RouteDefinition, type RouteName } from '../../protocol/routes';
import { requireRole, type Principal, type TokenAuthenticator } from '../auth';
import { RateLimitedError, ResponseInvalidError, parseInput, parsePathParams } from '../errors';
import type { TokenBuckets } from '../rateLimit';
import { clientGoneSignal } from './clientGoneSignal';
import { OPERATOR_READ_ROUTES, WORKER_ACTIVITY_ROUTES, type OperatorReadGate } from './operatorReadGate';
import { requestBodyOf } from './requestBody';
import { sendJson } from './sendJson';

type Parsed<R, K extends 'params' | 'query' | 'body'> = R extends { [key in K]: infer S extends z.ZodType } ? z.output<S> : undefined;

/** What a handler gets: its input parsed with the route's schemas, and the principal its role check let in. */
export interface RouteCall<R extends RouteDefinition> {
  params: Parsed<R, 'params'>;
  query: Parsed<R, 'query'>;
  body: Parsed<R, 'body'>;
  principal: R['role'] extends 'none' ? null : Principal;
  req: Request;
  res: Response;
}

/** Returned by a handler that wrote its own answer (a stream, Prometheus text). */
export const ANSWERED = Symbol('answered');

/** Answers with the JSON body of the route's response schema (sent with the route's status unless it set another), or ANSWERED. */
export type RouteHandler<R extends RouteDefinition> = (
  call: RouteCall<R>,
) => Promise<(R['response'] extends z.ZodType ? z.input<R['response']> : never) | typeof ANSWERED>;

export type RouteHandlers = { [K in RouteName]: RouteHandler<ApiRoutes[K]> };

/**
 * Mounts every route of the protocol's table on `app`, each the same way: the role check (401/403), the path
 * parameters, query and body parsed with the route's schemas (400 naming each field; 415 for a body that is not JSON), the handler, and — when
 * `validateResponses` is on (tests) — its answer checked against the response schema: a mismatch is a 500.
 */
export function mountRoutes(
  app: Express,
  authenticator: TokenAuthenticator,
  handlers: RouteHandlers,
  options: {
    validateResponses: boolean;
    createLimit?: { buckets: TokenBuckets; ratePerS: number; burst: number };
    /** Bounds the dashboard's read routes (OPERATOR_READ_ROUTES); absent: they run unbounded. */
    operatorReads?: OperatorReadGate;
  },
): void {
  const limit = options.createLimit;
  const rateLimit: RequestHandler = (req, res, next) => {
    const waitS = req.principal && limit ? limit.buckets.take(req.principal.tokenId) : 0;
    if (waitS === 0) return next();
    const retryAfterS = Math.max(1, Math.ceil(waitS));
    res.set('Retry-After', String(retryAfterS));
    next(new RateLimitedError(retryAfterS, limit?.ratePerS ?? 0, limit?.burst ?? 0));
  };
  for (const name of Object.keys(API_ROUTES) as RouteName[]) {
    const route: RouteDefinition = API_ROUTES[name];
    const handler = handlers[name] as unknown as (call: RouteCall<RouteDefinition>) => Promise<unknown>;
    const guards = route.role === 'none' ? [] : [requireRole(authenticator, route.role)];
    if (route.rateLimited && limit?.buckets.enabled) guards.push(rateLimit);
    const gate = OPERATOR_READ_ROUTES.has(name) ? options.operatorReads : undefined;
    const answerCall = async (req: Request, res: Response) => {
      const call: RouteCall<RouteDefinition> = {
        params: route.params ? parsePathParams(route.params, req.params) : undefined,
        query: route.query ? parseInput(route.query, req.query, 'query') : undefined,
        body: route.body ? parseInput(route.body, requestBodyOf(route, req), route.bodyName ?? 'body') : undefined,
        principal: req.principal ?? null,
        req,
        res,
      } as RouteCall<RouteDefinition>;
      const answer = await handler(call);
      if (answer === ANSWERED) return;
      if (options.validateResponses && route.response) {
        const checked = route.response.safeParse(answer);
        if (!checked.success) throw new ResponseInvalidError(`${route.method.toUpperCase()} ${route.path}`, checked.error);
      }
      // A handler may answer another success status than the route's (`res.locals.status`: 200 for an existing workflow).
      const status = typeof res.locals.status === 'number' ? res.locals.status : res.statusCode === 200 ? (route.status ?? 200) : res.statusCode;
      sendJson(res, status, answer);
    };
    const gates = options.operatorReads;
    // Gated through the serialisation too: that is the event loop's share of a big listing.
    if (gate) app[route.method](route.path, ...guards, (req: Request, res: Response) => gate.run(clientGoneSignal(res), () => answerCall(req, res)));
    else if (gates && WORKER_ACTIVITY_ROUTES.has(name)) {
      // Workers at work narrow the dashboard's gate (OperatorReadGate); marked when a call (past its role check) starts and ends.
      app[route.method](route.path, ...guards, async (req: Request, res: Response) => {
        gates.workerCall();
        try {
          await answerCall(req, res);
        } finally {
          gates.workerCall();
        }
      });
    } else app[route.method](route.path, ...guards, answerCall);
  }
}
