import type { EntityManager } from '@mikro-orm/postgresql';
import type { LogEntry } from '../../protocol/workRequest';
import { formatBytes } from '../../protocol/units';
import { lockAssignedWorkRequest } from './lockAssignedWorkRequest';
import { notifyWorkRequestActivity } from './notifyChanges';
import { transactional } from '../transactional';

interface LogRow { seq: number; ts: Date; stream: LogEntry['stream']; text: string }

/** Inside a transaction: a `system` entry numbered after the last one. */
export async function appendSystemLogLine(em: EntityManager, workRequestId: number, text: string): Promise<void> {
  await em.execute(
    `insert into log_chunk (work_request_id, seq, ts, stream, text)
     select ?, coalesce(max(seq) + 1, 0), now(), 'system', ? from log_chunk where work_request_id = ?`,
    [workRequestId, text, workRequestId],
  );
}

/**
 * Stores a batch from the assigned worker. Idempotent by seq (a re-sent batch inserts nothing new). The stored
 * log is capped at `maxBytes` per request: the first entry past the cap becomes a `system` entry saying so,
 * later ones are dropped. Answers whether the worker should stop the task (it was cancelled or reassigned).
 */
export async function appendLogEntries(
  em: EntityManager,
  workRequestId: number,
  workerId: number,
  entries: LogEntry[],
  maxBytes: number,
): Promise<{ cancel: boolean }> {
  return transactional(em, async (tem) => {
    const row = await lockAssignedWorkRequest(tem, workRequestId, workerId);
    const cancel = row.status !== 'running';
    if (row.logTruncated || entries.length === 0) return { cancel };

    let budget = maxBytes - row.logBytes;
    const accepted: LogEntry[] = [];
    let truncatedAt: LogEntry | null = null;
    for (const entry of [...entries].sort((a, b) => a.seq - b.seq)) {
      const size = Buffer.byteLength(entry.text, 'utf8');
      if (size > budget) {
        truncatedAt = entry;
        break;
      }
      budget -= size;
      accepted.push(entry);
    }
    if (truncatedAt) {
      accepted.push({
        seq: truncatedAt.seq,
        ts: truncatedAt.ts,
        stream: 'system',
        text: `log truncated: the stored log of a work request is capped at ${formatBytes(maxBytes)}; later output was dropped`,
      });
    }
    const inserted = await tem.execute<{ bytes: number }[]>(
      `insert into log_chunk (work_request_id, seq, ts, stream, text)
       select ?, e.seq, e.ts, e.stream, e.text
       from unnest(array[?]::int[], array[?]::timestamptz[], array[?]::text[], array[?]::text[]) as e(seq, ts, stream, text)
       on conflict (work_request_id, seq) do nothing
       returning octet_length(text) as bytes`,
      [
        workRequestId,
        accepted.map((entry) => entry.seq),
        accepted.map((entry) => entry.ts),
        accepted.map((entry) => entry.stream),
        accepted.map((entry) => entry.text),
      ],
    );
    const added = inserted.reduce((sum, entry) => sum + Number(entry.bytes), 0);
    if (added > 0 || truncatedAt) {
      await tem.execute(`update work_request set log_bytes = log_bytes + ?, log_truncated = log_truncated or ? where id = ?`, [
        added,
        truncatedAt !== null,
        workRequestId,
      ]);
      await notifyWorkRequestActivity(tem, workRequestId);
    }
    return { cancel };
  });
}

/** Entries after `afterSeq`, in order. */
export async function readLogEntries(
  em: EntityManager,
  workRequestId: number,
  afterSeq: number,
  limit: number,
): Promise<LogEntry[]> {
  const rows = await em.execute<LogRow[]>(
    `select seq, ts, stream, text from log_chunk where work_request_id = ? and seq > ? order by seq limit ?`,
    [workRequestId, afterSeq, limit],
  );
  return rows.map((row) => ({ seq: row.seq, ts: new Date(row.ts).toISOString(), stream: row.stream, text: row.text }));
}
