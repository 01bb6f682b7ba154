import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { API_ERRORS, type ApiErrorCode } from '../protocol/apiErrors';
import { findUnstorableText, formatIssuePath, listZodIssues } from '../protocol/errors';
import type { Logger } from '../common/logger';
import { isDatabaseUnavailable, isTransactionConflict } from './databaseErrors';
import { formatBytes } from '../protocol/units';

export interface ErrorIssue { path: string; message: string }

/** The codes of API_ERRORS answered with `status`. */
export type ApiErrorCodeWithStatus<S extends number> = { [C in ApiErrorCode]: (typeof API_ERRORS)[C]['status'] extends S ? C : never }[ApiErrorCode];

/** An error with a stable code from protocol/apiErrors.ts (which gives its status); everything else becomes a 500 with no internals shown. */
export class HttpError extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly issues?: ErrorIssue[],
  ) {
    super(message);
    this.name = new.target.name;
    this.status = API_ERRORS[code].status;
  }
}

/** A path value or cursor the server cannot use. */
export class BadRequestError extends HttpError {
  constructor(message: string, issues?: ErrorIssue[]) {
    super('bad_request', message, issues);
  }
}

/** A body or query that fails its schema. */
export class ValidationError extends HttpError {
  constructor(message: string, issues: ErrorIssue[]) {
    super('validation_failed', message, issues);
  }

  static fromZod(error: z.ZodError, where: string): ValidationError {
    const issues = listZodIssues(error);
    return new ValidationError(`invalid ${where}: ${summarize(issues)}`, issues);
  }
}

/** A `cursor` this server never gave out, or one made for another sort or other filters. */
export class InvalidCursorError extends BadRequestError {
  constructor(message: string) {
    super(`invalid cursor: ${message}`, [{ path: 'cursor', message }]);
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'missing or unknown bearer token; pass "Authorization: Bearer <token>"') {
    super('unauthorized', message);
  }
}

export class ForbiddenError extends HttpError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string) {
    super('not_found', message);
  }
}

export class ConflictError extends HttpError {
  constructor(message: string, code: ApiErrorCodeWithStatus<409>) {
    super(code, message);
  }
}

/** A worker reported on a work request that is not (or no longer) its own. */
export class NotAssignedError extends ConflictError {
  constructor(workRequestId: number) {
    super(`work request ${workRequestId} is not assigned to this worker`, 'not_assigned');
  }
}

/** Too many create calls with one token (server/rateLimit.ts); the route sets Retry-After. */
export class RateLimitedError extends HttpError {
  constructor(readonly retryAfterS: number, ratePerS: number, burst: number) {
    super('rate_limited', `too many create calls with this token (at most ${ratePerS} a second, bursts of ${burst}); retry in ${retryAfterS} s`);
  }
}

/** A reported output_data larger than the server keeps (WORKSCHED_MAX_OUTPUT_DATA). */
export class OutputDataTooLargeError extends HttpError {
  constructor(path: string, bytes: number, limit: number) {
    const message = `output_data is ${formatBytes(bytes)} of JSON; this server keeps at most ${formatBytes(limit)} (WORKSCHED_MAX_OUTPUT_DATA): put large results in files or shorten the errors`;
    super('payload_too_large', message, [{ path, message }]);
  }
}

/** A worker posts for a request that was preempted from it (requeued as pending for a higher-priority request). */
export class PreemptedError extends ConflictError {
  constructor(workRequestId: number) {
    super(`work request ${workRequestId} was preempted: it is pending again and no longer runs on this worker`, 'preempted');
  }
}

/** An answer that does not match its route's response schema (only checked where enabled, e.g. in tests). */
export class ResponseInvalidError extends HttpError {
  constructor(what: string, error: z.ZodError) {
    const issues = listZodIssues(error);
    super('response_invalid', `the answer of ${what} does not match its schema: ${summarize(issues)}`, issues);
  }
}

function summarize(issues: ErrorIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}

/** Parses `value` with `schema`, or throws a 400 that names each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error, where);
  const unstorable = findUnstorableText(parsed.data);
  if (unstorable) {
    const path = formatIssuePath(unstorable.path);
    throw new ValidationError(`invalid ${where}: ${path}: ${unstorable.message}, which cannot be stored`, [{ path, message: unstorable.message }]);
  }
  return parsed.data;
}

/** Parses path parameters: a bad one names no resource, so it is a `bad_request` (not a field to fix). */
export function parsePathParams<S extends z.ZodType>(schema: S, params: unknown): z.output<S> {
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const issues = listZodIssues(parsed.error);
    throw new BadRequestError(`invalid path: ${summarize(issues)}`, issues);
  }
  return parsed.data;
}

interface BodyParserError { type?: string; message?: string; limit?: number }

/** Maps every error to the one envelope of DESIGN.md; unexpected errors are logged and answered 500 without internals. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const { status, body } = toErrorResponse(error);
    if (status === 503) logger.warn({ err: error, method: req.method, url: req.originalUrl }, `request failed: ${body.error.code === 'transaction_conflict' ? 'transaction conflict' : 'database unavailable'}`);
    else if (status >= 500) logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  };
}

export function toErrorResponse(error: unknown): { status: number; body: { error: { code: ApiErrorCode; message: string; issues?: ErrorIssue[] } } } {
  if (isDatabaseUnavailable(error)) {
    return { status: 503, body: { error: { code: 'database_unavailable', message: 'the database is unavailable or did not answer in time; try again later (a change sent as the database froze may still have been applied)' } } };
  }
  if (isTransactionConflict(error)) {
    return { status: 503, body: { error: { code: 'transaction_conflict', message: 'the database rolled this change back to break a deadlock with another one (several times): nothing was applied; send it again' } } };
  }
  const known = asHttpError(error);
  if (known) {
    return { status: known.status, body: { error: { code: known.code, message: known.message, ...(known.issues ? { issues: known.issues } : {}) } } };
  }
  // Other client errors raised below our routes (e.g. a malformed %-escape in the path) keep their 4xx.
  const status = (error as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { error: { code: 'bad_request', message: (error as Error).message || 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal server error; the server log has the details' } } };
}

/** Our own errors, and the body parser's that have a code of their own. */
function asHttpError(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  const parserError = error as BodyParserError;
  if (!parserError || typeof parserError !== 'object') return null;
  if (parserError.type === 'entity.too.large') return new HttpError('payload_too_large', `request body is larger than ${typeof parserError.limit === 'number' ? formatBytes(parserError.limit) : 'this route accepts'}`);
  if (parserError.type === 'charset.unsupported' || parserError.type === 'encoding.unsupported') return new HttpError('unsupported_media_type', parserError.message ?? 'unsupported body encoding');
  if (parserError.type === 'entity.parse.failed') return new HttpError('invalid_json', `request body is not valid JSON: ${parserError.message ?? ''}`.trim());
  return null;
}
