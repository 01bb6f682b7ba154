import { forgetToken, readToken } from './session.js';

/** An answer of the API that was not 2xx: its error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the token stops working (401): the app goes back to the login form. */
let onUnauthorized: (message: string) => void = () => undefined;
export function whenUnauthorized(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

function headers(token: string | null, json: boolean): Record<string, string> {
  const result: Record<string, string> = { accept: 'application/json' };
  if (token) result.authorization = `Bearer ${token}`;
  if (json) result['content-type'] = 'application/json';
  return result;
}

async function failure(response: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not JSON: keep the status
  }
  return new ApiError(response.status, code, message);
}

async function call<T>(method: string, path: string, body: unknown, signal?: AbortSignal, token = readToken()): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: headers(token, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
  });
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401) {
      forgetToken();
      onUnauthorized(error.message);
    }
    throw error;
  }
  return (await response.json()) as T;
}

export function apiGet<T>(path: string, signal?: AbortSignal): Promise<T> {
  return call<T>('GET', path, undefined, signal);
}

export function apiPost<T>(path: string, body: unknown = {}): Promise<T> {
  return call<T>('POST', path, body);
}

/** Checks a token before it is kept: an operator route answers 200. */
export function checkToken(token: string): Promise<unknown> {
  return call('GET', '/api/v1/statistics/summary', undefined, undefined, token);
}

/** `path?key=value&…`, leaving out undefined values. */
export function withQuery(path: string, query: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Reads an NDJSON stream (chunked HTTP) and hands each line's object to `onItem` as it arrives; resolves when
 * the server ends the stream. fetch, not EventSource: the token goes in a header.
 */
export async function followNdjson<T>(path: string, onItem: (item: T) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(path, { headers: headers(readToken(), false), signal, cache: 'no-store' });
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onItem(JSON.parse(line) as T);
  }
  if (pending.trim()) onItem(JSON.parse(pending) as T);
}

/** What the API offers beyond the routes every server has (routes that land later: retry, enable/disable, …). */
export interface ApiOffer {
  has(method: 'get' | 'post', path: string): boolean;
  /** The first path of `method` matching `pattern` ({param} segments as in OpenAPI). */
  find(method: 'get' | 'post', pattern: RegExp): string | null;
}

let offer: Promise<ApiOffer> | null = null;
/** The server's route list, from its OpenAPI document (read once per page load). */
export function apiOffer(): Promise<ApiOffer> {
  // Revalidated, not refetched: the document changes only with the server.
  offer ??= fetch('/api/v1/openapi.json')
    .then((response) => response.json() as Promise<{ paths: Record<string, Record<string, unknown>> }>)
    .then(({ paths }) => ({
      has: (method, path) => Boolean(paths[path]?.[method]),
      find: (method, pattern) => Object.keys(paths).find((path) => pattern.test(path) && Boolean(paths[path][method])) ?? null,
    }));
  return offer;
}
