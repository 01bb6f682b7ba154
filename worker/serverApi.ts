import { HttpTransport } from '../client/http';
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

/** The worker's side of HTTP API v1. Bodies are the protocol's types; errors are WorkschedApiError. */
export class WorkerServerApi {
  private readonly http: HttpTransport;

  constructor(baseUrl: string, token: string) {
    this.http = new HttpTransport({ baseUrl, token, timeoutMs: 15_000 });
  }

  static register(baseUrl: string, enrollmentToken: string, body: RegisterWorkerRequest): Promise<RegisterWorkerResponse> {
    return new HttpTransport({ baseUrl, token: enrollmentToken }).request('POST', '/api/v1/workers/register', { body });
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
