import http from 'node:http';

/** A non-2xx answer. */
export class BenchHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 300)}`);
    this.name = 'BenchHttpError';
  }
}

/**
 * Minimal JSON-over-HTTP client on a keep-alive agent (node:http is cheaper per call than fetch, which matters
 * here: the simulated workers share the server's process and its 2 cores).
 */
export class BenchHttp {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port);
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path, undefined, undefined);
  }

  post<T>(path: string, token: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.send<T>('POST', path, token, body, signal);
  }

  private send<T>(method: 'GET' | 'POST', path: string, token: string | undefined, body: unknown, signal?: AbortSignal): Promise<T> {
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method,
          path,
          signal,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              reject(new BenchHttpError(status, text, `${method} ${path}`));
              return;
            }
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
