/** The error list says which answers a client should retry; client/isTransient() reads it. */
import { hasErrorCode, isTransient } from '../../client/errors';
import { WorkschedApiError, WorkschedConnectionError } from '../../client/http';
import { API_ERRORS, type ApiErrorCode } from '../../protocol/apiErrors';
import { DeadlockException } from '@mikro-orm/core';
import { ConflictError, HttpError, NotAssignedError, toErrorResponse } from '../../server/errors';

const apiError = (code: string, status: number) => new WorkschedApiError(status, code, code);

test('each code has the status the server answers it with, and only 5xx codes are worth a retry', () => {
  for (const [code, { status, retryable }] of Object.entries(API_ERRORS)) {
    expect({ code, status: new HttpError(code as ApiErrorCode, 'x').status }).toEqual({ code, status });
    if (retryable) expect({ code, serverSide: status >= 500 }).toEqual({ code, serverSide: true });
  }
  expect(new NotAssignedError(7)).toMatchObject({ status: 409, code: 'not_assigned', message: 'work request 7 is not assigned to this worker' });
  expect(new ConflictError('taken', 'worker_name_taken').status).toBe(409);
});

test.each<[string, boolean, unknown]>([
  ['an unreachable server', true, new WorkschedConnectionError('http://127.0.0.1:1', new Error('ECONNREFUSED'))],
  ['internal (500)', true, apiError('internal', 500)],
  ['database_unavailable (503)', true, apiError('database_unavailable', 503)],
  ['transaction_conflict (503)', true, apiError('transaction_conflict', 503)],
  ['unsupported_media_type (415)', false, apiError('unsupported_media_type', 415)],
  ['a proxy 502 without our envelope', true, apiError('http_502', 502)],
  ['not_assigned (409)', false, apiError('not_assigned', 409)],
  ['validation_failed (400)', false, apiError('validation_failed', 400)],
  ['unauthorized (401)', false, apiError('unauthorized', 401)],
  ['a proxy 404 without our envelope', false, apiError('http_404', 404)],
  ['response_invalid (500, a bug: retrying will not help)', false, apiError('response_invalid', 500)],
  ['anything else', false, new Error('boom')],
])('isTransient(%s) is %s', (_what, transient, error) => {
  expect(isTransient(error)).toBe(transient);
});

test('hasErrorCode matches the code of an API answer only', () => {
  expect(hasErrorCode(apiError('not_found', 404), 'not_found')).toBe(true);
  expect(hasErrorCode(apiError('not_found', 404), 'not_assigned')).toBe(false);
  expect(hasErrorCode(new Error('not_found'), 'not_found')).toBe(false);
});

test('a deadlock or serialization failure PostgreSQL rolled back is a retryable 503 transaction_conflict, never a 500', () => {
  for (const code of ['40P01', '40001']) {
    const driverError = Object.assign(new Error('deadlock detected'), { code });
    for (const error of [driverError, new DeadlockException(driverError), new Error('wrapped', { cause: new DeadlockException(driverError) })]) {
      expect(toErrorResponse(error)).toMatchObject({ status: 503, body: { error: { code: 'transaction_conflict' } } });
    }
  }
  expect(toErrorResponse(Object.assign(new Error('unique'), { code: '23505' }))).toMatchObject({ status: 500, body: { error: { code: 'internal' } } });
});
