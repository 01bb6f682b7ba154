import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { findNulCharacter, formatIssuePath, listZodIssues } from '../protocol/errors';
import type { Logger } from '../common/logger';

export interface ErrorIssue { path: string; message: string }

/** An error with an HTTP status and a stable code; everything else becomes a 500 with no internals shown. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: ErrorIssue[],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, issues?: ErrorIssue[], code = 'bad_request') {
    super(400, code, message, issues);
  }

  static fromZod(error: z.ZodError, where: string): BadRequestError {
    const issues = listZodIssues(error);
    const summary = issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
    return new BadRequestError(`invalid ${where}: ${summary}`, issues, 'validation_failed');
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'missing or unknown bearer token; pass "Authorization: Bearer <token>"') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends HttpError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

export class ConflictError extends HttpError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}

export class ServiceUnavailableError extends HttpError {
  constructor(message: string) {
    super(503, 'unavailable', message);
  }
}

/** Parses `value` with `schema`, or throws a 400 that names each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw BadRequestError.fromZod(parsed.error, where);
  const nul = findNulCharacter(parsed.data);
  if (nul) {
    const path = formatIssuePath(nul);
    throw new BadRequestError(`invalid ${where}: ${path}: contains a NUL character, which cannot be stored`, [{ path, message: 'contains a NUL character (\\u0000)' }], 'validation_failed');
  }
  return parsed.data;
}

/** Route ids are positive integers; anything else is a 400 on the `id` path. */
export function parseId(value: unknown, name = 'id'): number {
  const text = String(value);
  if (!/^[1-9][0-9]{0,15}$/.test(text)) {
    throw new BadRequestError(`${name} must be a positive integer`, [{ path: name, message: 'expected a positive integer' }]);
  }
  return Number(text);
}

interface BodyParserError { type?: string; message?: string }

/** Maps every error to the one envelope of DESIGN.md; unexpected errors are logged and answered 500 without internals. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  };
}

export function toErrorResponse(error: unknown): { status: number; body: { error: { code: string; message: string; issues?: ErrorIssue[] } } } {
  if (error instanceof HttpError) {
    return { status: error.status, body: { error: { code: error.code, message: error.message, ...(error.issues ? { issues: error.issues } : {}) } } };
  }
  const parserError = error as BodyParserError;
  if (parserError && typeof parserError === 'object' && parserError.type) {
    if (parserError.type === 'entity.too.large') {
      return { status: 413, body: { error: { code: 'payload_too_large', message: 'request body is larger than 1 MiB' } } };
    }
    if (parserError.type === 'entity.parse.failed') {
      return { status: 400, body: { error: { code: 'invalid_json', message: `request body is not valid JSON: ${parserError.message ?? ''}`.trim() } } };
    }
  }
  // Other client errors raised below our routes (e.g. a malformed %-escape in the path) keep their 4xx.
  const status = (error as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { error: { code: 'bad_request', message: (error as Error).message || 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal server error; the server log has the details' } } };
}
