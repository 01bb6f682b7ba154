import { HttpTransport } from '../client/http';
import type { OutputData } from '../protocol/outputData';
import type {
  ClaimResponse,
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

  claim(max: number, waitS: number, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.http.request('POST', '/api/v1/workers/claim', { body: { max, wait_s: waitS }, extraTimeoutMs: waitS * 1000, signal });
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
