/**
 * Every `error.code` the API answers with, its HTTP status, and whether a client should send the same request
 * again later (`retryable`: the server or its database is failing, not the request).
 */
export const API_ERRORS = {
  /** A body or query field fails its schema; `issues` name each field. */
  validation_failed: { status: 400, retryable: false },
  /** A path value or cursor the server cannot use (not an id, a cursor it never gave out); `issues` name it. */
  bad_request: { status: 400, retryable: false },
  invalid_json: { status: 400, retryable: false },
  unauthorized: { status: 401, retryable: false },
  forbidden: { status: 403, retryable: false },
  not_found: { status: 404, retryable: false },
  /** The work request is not (or no longer) assigned to the worker that calls. */
  not_assigned: { status: 409, retryable: false },
  not_running: { status: 409, retryable: false },
  /** The work request was preempted from this worker (requeued for a higher-priority one): stop it, report nothing. */
  preempted: { status: 409, retryable: false },
  already_completed: { status: 409, retryable: false },
  worker_name_taken: { status: 409, retryable: false },
  /** Only a request that ended without success (failure, error, skipped, aborted) can be retried by hand. */
  not_retryable: { status: 409, retryable: false },
  /** The request was retried already (superseded_by is set): retry its newest attempt instead. */
  already_retried: { status: 409, retryable: false },
  /** POST /schedules with a name that exists with another definition. */
  schedule_exists: { status: 409, retryable: false },
  /** POST /schedules/:name/trigger on a files trigger whose folder the server cannot read now. */
  schedule_folder_unreadable: { status: 409, retryable: false },
  /** POST /schedules/:name/trigger of a spec whose required_folder cannot be read now, has no matching file or too many. */
  schedule_expansion_failed: { status: 409, retryable: false },
  /** A workflow with this workflow_id exists with another definition. */
  workflow_exists: { status: 409, retryable: false },
  /** The workflow is PENDING or RUNNING: it cannot be deleted now. */
  workflow_active: { status: 409, retryable: false },
  /** A CANCELED workflow cannot be resumed. */
  workflow_canceled: { status: 409, retryable: false },
  /** Tasks cannot be added to a workflow that was not created open, or was closed. */
  workflow_closed: { status: 409, retryable: false },
  /** Over WORKSCHED_MAX_PENDING_WORKFLOWS: try again when workflows have finished. */
  queue_full: { status: 429, retryable: false },
  payload_too_large: { status: 413, retryable: false },
  /** Too many create calls with this token; `Retry-After` says in how many seconds to try again (not retried blindly). */
  rate_limited: { status: 429, retryable: false },
  /** A body that is not `application/json` (or a charset or content encoding the server cannot read). */
  unsupported_media_type: { status: 415, retryable: false },
  internal: { status: 500, retryable: true },
  /**
   * The database is down (a restart, an outage) or did not answer in time: send it again later. A write that
   * reached a database that then froze may still be applied when it thaws, as with any timeout.
   */
  database_unavailable: { status: 503, retryable: true },
  /**
   * PostgreSQL rolled the transaction back to break a deadlock or a serialization conflict with another one, and
   * the server's own runs of it again met the same: nothing was applied; send it again.
   */
  transaction_conflict: { status: 503, retryable: true },
  /** Only from servers that check their own answers (tests): an answer did not match its schema. A bug. */
  response_invalid: { status: 500, retryable: false },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export function isApiErrorCode(code: string): code is ApiErrorCode {
  return Object.prototype.hasOwnProperty.call(API_ERRORS, code);
}
