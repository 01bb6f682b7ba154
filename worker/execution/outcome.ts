import { ERROR_CODES } from '../../protocol/outputData';
import { formatBytes } from '../../protocol/units';
import type { OutputData, OutputError, RuntimeStatistics } from '../../protocol';
import type { KillReason, MeasurementMethod, TaskOutcome, WorkerSnapshot } from './types';

export interface Measurements {
  durationMs: number;
  cpuMs?: number;
  memoryBytes?: number;
  diskBytes?: number;
  method: MeasurementMethod;
  snapshot: WorkerSnapshot;
}

const nonNegativeInt = (value: number) => Math.max(0, Math.round(value));

export function buildStatistics(m: Measurements): RuntimeStatistics {
  const stats: RuntimeStatistics = {
    duration: nonNegativeInt(m.durationMs / 1000),
    duration_ms: nonNegativeInt(m.durationMs),
  };
  if (m.cpuMs !== undefined) {
    stats.cpu_time = nonNegativeInt(m.cpuMs / 1000);
    stats.cpu_time_ms = nonNegativeInt(m.cpuMs);
  }
  if (m.memoryBytes !== undefined) stats.memory = nonNegativeInt(m.memoryBytes);
  if (m.diskBytes !== undefined) stats.disk_space = nonNegativeInt(m.diskBytes);
  stats.available_disk_space = nonNegativeInt(m.snapshot.available_disk_space);
  stats.available_memory = nonNegativeInt(m.snapshot.available_memory);
  if (m.snapshot.cpu_count >= 1) stats.cpu_count = Math.round(m.snapshot.cpu_count);
  stats.measurement = m.method;
  return stats;
}

/** What happened to the task, in order of precedence. */
export type Ending =
  | { kind: 'start-error'; code: string; message: string; details?: Record<string, string[]> }
  | { kind: 'invalid-result'; message: string }
  | { kind: 'python-exception'; type: string; qualifiedType: string; message: string }
  | { kind: 'killed'; reason: KillReason }
  | { kind: 'time-limit'; limitS: number }
  | { kind: 'exited'; exitCode: number | null; signal: NodeJS.Signals | null; oomKilled: boolean };

/** `taskResult`: the JSON value the task wrote to $WORKSCHED_RESULT_FILE (undefined when none), sent as output_data.result. */
export function buildOutcome(ending: Ending, stats: RuntimeStatistics, taskResult?: OutputData['result']): TaskOutcome {
  const result = (result: TaskOutcome['result'], errors?: OutputError[]): TaskOutcome => ({
    result,
    output_data: {
      runtime_statistics: stats,
      ...(errors ? { errors } : {}),
      ...(taskResult !== undefined ? { result: taskResult } : {}),
    },
  });
  switch (ending.kind) {
    case 'start-error':
      return result('error', [{ code: ending.code, message: ending.message, ...ending.details }]);
    case 'invalid-result':
      return result('error', [{ code: ERROR_CODES.invalidResult, message: ending.message }]);
    case 'python-exception':
      return result('failure', [
        { code: ending.type, message: (ending.message ? `${ending.type}: ${ending.message}` : ending.type).slice(0, 2000), exception_type: ending.qualifiedType },
      ]);
    case 'killed':
      if (ending.reason === 'cancelled') return result('aborted', [{ code: ERROR_CODES.cancelled, message: 'the task was killed because its work request was cancelled' }]);
      if (ending.reason === 'preempted') return result('aborted', [{ code: ERROR_CODES.preempted, message: 'the task was stopped: the scheduler preempted it for a higher-priority request' }]);
      return result('aborted', [{ code: ERROR_CODES.workerShutdown, message: 'the worker shut down: the task was killed' }]);
    case 'time-limit':
      return result('failure', [
        { code: ERROR_CODES.timeLimitExceeded, message: `time limit of ${ending.limitS} s exceeded: the task was killed`, time_limit_s: ending.limitS },
      ]);
    case 'exited': {
      if (ending.exitCode === 0 && ending.signal === null) return result('success');
      if (ending.oomKilled) {
        const peak = stats.memory === undefined ? '' : ` (peak memory ${formatBytes(stats.memory)})`;
        return result('failure', [{ code: ERROR_CODES.outOfMemory, message: `killed by the out-of-memory killer${peak}` }]);
      }
      if (ending.signal !== null) {
        return result('failure', [{ code: ERROR_CODES.signal, message: `killed by signal ${ending.signal}`, signal: ending.signal }]);
      }
      const code = ending.exitCode ?? -1;
      return result('failure', [{ code: ERROR_CODES.exitCode, message: `exited with code ${code}`, exit_code: code }]);
    }
  }
}
