import type { OutputData } from '../../protocol/outputData';
import type { WorkRequest } from '../../entities';
import type { EndedAttempt } from '../metrics';

/** What the metrics count of a request that has just ended; the run time as its worker measured it, when it did. */
export function endedAttemptOf(
  row: Pick<WorkRequest, 'taskName' | 'result' | 'createdAt' | 'startedAt' | 'completedAt'>,
  output?: OutputData | null,
): EndedAttempt {
  const statistics = output?.runtime_statistics;
  const durationMs = statistics?.duration_ms ?? (statistics?.duration === undefined ? undefined : statistics.duration * 1000);
  return {
    taskName: row.taskName,
    result: row.result ?? 'aborted',
    createdAt: row.createdAt,
    startedAt: row.startedAt ?? null,
    completedAt: row.completedAt ?? new Date(),
    durationMs,
  };
}
