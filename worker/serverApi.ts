import { HttpTransport, WorkschedConnectionError } from '../client/http';
import type { OutputData } from '../protocol/outputData';
import type {
  ClaimResponse,
  CompleteBatchResponse,
  CompletionItem,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterWorkerRequest,
  RegisterWorkerResponse,
} from '../protocol/workerApi';
import type { LogEntry, WorkRequestResult } from '../protocol/workRequest';

type RequestOptions = Parameters<HttpTransport['request']>[2];

/**
 * Several replicas of one server (one database): calls go to the current one; when it cannot be reached the
 * next call goes to the next one. The call that failed is not repeated here: the agent's loops retry each call
 * with back-off anyway, and a claim whose answer was lost is given back by the server (claim grace).
 */
class FailoverTransport {
  private current = 0;
  private readonly transports: HttpTransport[];

  constructor(
    baseUrls: readonly string[],
    token: string,
    private readonly onSwitch?: (from: string, to: string) => void,
  ) {
    this.transports = baseUrls.map((baseUrl) => new HttpTransport({ baseUrl, token, timeoutMs: 15_000 }));
  }

  async request<T>(method: 'GET' | 'POST', path: string, options?: RequestOptions): Promise<T> {
    const index = this.current;
    try {
      return await this.transports[index].request<T>(method, path, options);
    } catch (error) {
      if (error instanceof WorkschedConnectionError && this.transports.length > 1 && this.current === index) {
        this.current = (index + 1) % this.transports.length;
        this.onSwitch?.(this.transports[index].baseUrl, this.transports[this.current].baseUrl);
      }
      throw error;
    }
  }
}

/** The worker's side of HTTP API v1. Bodies are the protocol's types; errors are WorkschedApiError. */
export class WorkerServerApi {
  private readonly http: FailoverTransport;

  /** `baseUrls`: one server, or replicas on one database to fail over between (`onSwitch` hears of each move). */
  constructor(baseUrls: string | readonly string[], token: string, onSwitch?: (from: string, to: string) => void) {
    this.http = new FailoverTransport(typeof baseUrls === 'string' ? [baseUrls] : baseUrls, token, onSwitch);
  }

  /** Registers with the first of `baseUrls` that can be reached. */
  static async register(baseUrls: string | readonly string[], enrollmentToken: string, body: RegisterWorkerRequest): Promise<RegisterWorkerResponse> {
    const urls = typeof baseUrls === 'string' ? [baseUrls] : baseUrls;
    for (let index = 0; ; index += 1) {
      try {
        return await new HttpTransport({ baseUrl: urls[index], token: enrollmentToken }).request('POST', '/api/v1/workers/register', { body });
      } catch (error) {
        if (!(error instanceof WorkschedConnectionError) || index === urls.length - 1) throw error;
      }
    }
  }

  heartbeat(body: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.http.request('POST', '/api/v1/workers/heartbeat', { body });
  }

  /** Claims; `results` (earlier requests' reports) are applied first and answered in the answer's `results`. */
  claim(max: number, waitS: number, signal?: AbortSignal, results: CompletionItem[] = []): Promise<ClaimResponse> {
    const body = results.length > 0 ? { max, wait_s: waitS, results } : { max, wait_s: waitS };
    return this.http.request('POST', '/api/v1/workers/claim', { body, extraTimeoutMs: waitS * 1000, signal });
  }

  /** Many reports in one call; each is answered on its own (200, 404, 409). */
  completeBatch(results: CompletionItem[]): Promise<CompleteBatchResponse> {
    return this.http.request('POST', '/api/v1/workers/complete', { body: { results } });
  }

  postLogs(id: number, entries: LogEntry[]): Promise<{ cancel: boolean }> {
    return this.http.request('POST', `/api/v1/work-requests/${id}/logs`, { body: { entries } });
  }

  complete(id: number, body: { result: WorkRequestResult; output_data: OutputData }): Promise<unknown> {
    return this.http.request('POST', `/api/v1/work-requests/${id}/complete`, { body });
  }

  release(id: number, body: { reason: string; output_data: OutputData }): Promise<unknown> {
    return this.http.request('POST', `/api/v1/work-requests/${id}/release`, { body });
  }
}
