import type { Response } from 'express';

/**
 * Answers `body` as JSON in one socket write: the text encoded once, with its Content-Length (no chunked
 * encoding), headers and body handed to Node together by `end`. Unlike express's res.json it computes no ETag
 * (a hash of every answer; API answers are not cached).
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body) ?? 'null', 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}
