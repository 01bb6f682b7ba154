import express, { type Request, type RequestHandler } from 'express';
import type { RouteDefinition } from '../../protocol/routes';
import { HttpError } from '../errors';

/** The content types read as JSON; a body of any other type is a 415. */
export const JSON_CONTENT_TYPES = ['application/json', 'application/*+json'];

/** Requests whose JSON body was empty (0 bytes): the parser hands those over as `{}`, which they are not. */
const emptyJsonBodies = new WeakSet<Request>();

/** express.json for JSON_CONTENT_TYPES up to `limit` bytes, remembering which bodies were empty. */
export function jsonBodyParser(limit: number | string): RequestHandler {
  return express.json({
    limit,
    type: JSON_CONTENT_TYPES,
    verify: (req, _res, buffer) => {
      if (buffer.length === 0) emptyJsonBodies.add(req as Request);
    },
  });
}

/** A body that is not JSON (text/plain, a form, no content type): never guessed at, never read as defaults. */
export class UnsupportedMediaTypeError extends HttpError {
  constructor(contentType: string | undefined) {
    super(
      'unsupported_media_type',
      `request body must be JSON sent with "Content-Type: application/json" (got ${contentType === undefined ? 'no content type' : JSON.stringify(contentType)})`,
    );
  }
}

function hasContent(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * What `route`'s body schema is given: the parsed JSON body; `{}` for an absent or empty body where the route
 * says a body is optional (`bodyOptional`), undefined (the schema's "required") elsewhere. Content that is not
 * JSON is a 415 before anything reads it.
 */
export function requestBodyOf(route: RouteDefinition, req: Request): unknown {
  const isJson = req.headers['content-type'] !== undefined && req.is(JSON_CONTENT_TYPES) !== false;
  if (!isJson && hasContent(req)) throw new UnsupportedMediaTypeError(req.headers['content-type']);
  const empty = !isJson || emptyJsonBodies.has(req) || req.body === undefined;
  if (empty) return route.bodyOptional ? {} : undefined;
  return req.body as unknown;
}
