import { API_ERRORS, isApiErrorCode, type ApiErrorCode } from '../protocol/apiErrors';
import { WorkschedApiError, WorkschedConnectionError } from './http';

/**
 * True when the same request may succeed later: the server could not be reached, or it answered with a code
 * that protocol/apiErrors.ts marks retryable. An answer without one of our codes (a proxy's 502) counts by its
 * status: 5xx is transient.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof WorkschedConnectionError) return true;
  if (error instanceof WorkschedApiError) return isApiErrorCode(error.code) ? API_ERRORS[error.code].retryable : error.status >= 500;
  return false;
}

/** True when the server answered with `code` (one of protocol/apiErrors.ts). */
export function hasErrorCode(error: unknown, code: ApiErrorCode): error is WorkschedApiError {
  return error instanceof WorkschedApiError && error.code === code;
}
