import { errorResponseSchema } from '../protocol/errors';

/** A non-2xx answer from the server, with its stable code and the zod issues of a 400. */
export class WorkschedApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
    this.name = 'WorkschedApiError';
  }
}

/** The server could not be reached at all (refused, reset, timed out). */
export class WorkschedConnectionError extends Error {
  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    super(`cannot reach the worksched server at ${url}: ${describeCause(cause)}`);
    this.name = 'WorkschedConnectionError';
  }
}

function describeCause(cause: unknown): string {
  const inner = (cause as { cause?: { code?: string; message?: string } })?.cause;
  return inner?.code ?? inner?.message ?? (cause instanceof Error ? cause.message : String(cause));
}

export interface HttpOptions {
  baseUrl: string;
  token?: string;
  /** Per-request time limit; long-polls add their own wait to it. Default 30 s. */
  timeoutMs?: number;
}

export type QueryValue = string | number | boolean | undefined | null | Array<string | number>;

/** JSON over HTTP with bearer auth; every non-2xx becomes a WorkschedApiError. */
export class HttpTransport {
  readonly baseUrl: string;
  private readonly token?: string;
  private readonly timeoutMs: number;

  constructor(options: HttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  url(path: string, query?: Record<string, QueryValue>): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      url.searchParams.set(key, Array.isArray(value) ? value.join(',') : String(value));
    }
    return url.toString();
  }

  async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { body?: unknown; query?: Record<string, QueryValue>; extraTimeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    const response = await this.fetch(method, path, options);
    const text = await response.text();
    if (!response.ok) throw toApiError(response.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The raw response (for streams); the caller reads the body. */
  async fetch(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { body?: unknown; query?: Record<string, QueryValue>; extraTimeoutMs?: number; signal?: AbortSignal; noTimeout?: boolean } = {},
  ): Promise<Response> {
    const url = this.url(path, options.query);
    const signals: AbortSignal[] = [];
    if (!options.noTimeout) signals.push(AbortSignal.timeout(this.timeoutMs + (options.extraTimeoutMs ?? 0)));
    if (options.signal) signals.push(options.signal);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new WorkschedConnectionError(this.baseUrl, error);
    }
    if (!response.ok && options.noTimeout) {
      throw toApiError(response.status, await response.text());
    }
    return response;
  }
}

function toApiError(status: number, text: string): WorkschedApiError {
  try {
    const parsed = errorResponseSchema.parse(JSON.parse(text));
    return new WorkschedApiError(status, parsed.error.code, parsed.error.message, parsed.error.issues);
  } catch {
    return new WorkschedApiError(status, `http_${status}`, `HTTP ${status}: ${text.slice(0, 200) || 'no body'}`);
  }
}
